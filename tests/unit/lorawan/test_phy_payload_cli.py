"""The ``frame`` CLI sub-app (decode / encode), through typer's CliRunner."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from services.cli.frame import app
from services.lorawan import PhyPayload

V = json.loads((Path(__file__).parents[2] / "vectors" / "lorawan_frames.json").read_text())
runner = CliRunner()


def _decode(*args: str) -> dict[str, Any]:
    res = runner.invoke(app, ["decode", *args])
    assert res.exit_code == 0, res.output
    out: dict[str, Any] = json.loads(res.stdout)
    return out


def test_decode_10_uplink_with_keys() -> None:
    case = V["data_frames"][0]
    out = _decode(case["phy"], "--nwk-s-key", case["nwk_s_key"], "--app-s-key", case["app_s_key"])
    assert out["mic_valid"] is True
    assert out["frm_payload_decrypted"] == case["frm_payload_plain"]
    assert out["payload"]["fhdr"]["dev_addr"] == case["dev_addr"]
    assert out["mhdr"]["m_type"] == "UnconfirmedDataUp"


def test_decode_without_keys_and_base64() -> None:
    case = V["data_frames"][0]
    b64 = base64.b64encode(bytes.fromhex(case["phy"])).decode()
    out = _decode(b64)
    assert out["mic_valid"] is None
    assert out["frm_payload_decrypted"] is None
    assert out["mic"] == case["mic"]


def test_decode_wrong_key_gives_false() -> None:
    case = V["data_frames"][0]
    out = _decode(case["phy"], "--nwk-s-key", "00" * 16)
    assert out["mic_valid"] is False


def test_decode_f_cnt_msb() -> None:
    case = V["data_frames"][0]
    out = _decode(case["phy"], "--nwk-s-key", case["nwk_s_key"], "--f-cnt-msb", "1")
    assert out["f_cnt_full"] == 0x10002
    assert out["mic_valid"] is False  # the vector was sent with FCnt 2


def test_decode_11_downlink_f_opts_commands() -> None:
    case = next(c for c in V["data_frames"] if "f_opts_plain" in c)
    out = _decode(
        case["phy"],
        "--mac-version",
        "1.1",
        "--s-nwk-s-int-key",
        case["s_nwk_s_int_key"],
        "--nwk-s-enc-key",
        case["nwk_s_enc_key"],
        "--app-s-key",
        case["app_s_key"],
    )
    assert out["mic_valid"] is True
    assert out["f_opts_decrypted"] == "020701"
    assert out["frm_payload_decrypted"] == "01020304"
    assert out["mac_commands"] is not None and len(out["mac_commands"]) == 1


def test_decode_11_fport0_uplink() -> None:
    case = next(c for c in V["data_frames"] if c["f_port"] == 0)
    out = _decode(
        case["phy"],
        "--mac-version",
        "1.1.0",
        "--f-nwk-s-int-key",
        case["f_nwk_s_int_key"],
        "--s-nwk-s-int-key",
        case["s_nwk_s_int_key"],
        "--nwk-s-enc-key",
        case["nwk_s_enc_key"],
        "--tx-ch",
        "1",
    )
    assert out["mic_valid"] is True
    assert out["frm_payload_decrypted"] == "0b01"
    assert out["mac_commands"] is not None and len(out["mac_commands"]) == 1


def test_decode_join_request_and_accept() -> None:
    jr = V["join_requests"][1]
    out = _decode(jr["phy"], "--app-key", jr["key"])
    assert out["mic_valid"] is True
    assert out["payload"]["dev_eui"] == jr["dev_eui"]
    ja = V["join_accepts"][0]
    out = _decode(ja["phy_encrypted"], "--app-key", ja["key"])
    assert out["mic_valid"] is True
    assert out["join_accept"]["dev_addr"] == ja["dev_addr"]
    ja11 = V["join_accepts"][1]
    out = _decode(ja11["phy_encrypted"], "--nwk-key", ja11["key"])
    assert out["join_accept"]["dl_settings"]["opt_neg"] is True
    assert out["mic_valid"] is None  # no --dev-eui/--join-eui/--dev-nonce


@pytest.mark.parametrize(
    "args",
    [
        ["decode", "zz"],
        ["decode", "41"],
        ["decode", "40f17d"],
        ["decode", "40F17DBE4900020001954378762B11FF0D", "--nwk-s-key", "abc"],
        ["decode", "40F17DBE4900020001954378762B11FF0D", "--mac-version", "9.9"],
        ["encode", "--m-type", "nope"],
        ["encode", "--dev-addr", "01020304", "--payload", "01", "--f-port", "1"],
        ["encode", "--dev-addr", "0102", "--nwk-s-key", "00" * 16],
        ["encode", "--m-type", "join-request", "--dev-nonce", "1"],
        [
            "encode",
            "--dev-addr",
            "01020304",
            "--f-opts",
            "02",
            "--f-port",
            "0",
            "--payload",
            "02",
            "--nwk-s-key",
            "00" * 16,
        ],
    ],
)
def test_bad_input_exit_2(args: list[str]) -> None:
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    assert res.stderr.startswith("error: ")
    assert res.stderr.count("\n") == 1
    assert res.stdout == ""


def test_encode_reproduces_chirpstack_uplink() -> None:
    case = next(c for c in V["data_frames"] if c["name"].startswith("ChirpStack 1.0"))
    res = runner.invoke(
        app,
        [
            "encode",
            "--m-type",
            "confirmed-data-up",
            "--dev-addr",
            case["dev_addr"],
            "--f-cnt",
            "0",
            "--f-port",
            "10",
            "--payload",
            case["frm_payload_plain"],
            "--f-opts",
            case["f_opts"],
            "--nwk-s-key",
            case["nwk_s_key"],
            "--app-s-key",
            case["app_s_key"],
        ],
    )
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == case["phy"]


def test_encode_11_downlink_and_base64() -> None:
    case = next(c for c in V["data_frames"] if "f_opts_plain" in c)
    res = runner.invoke(
        app,
        [
            "encode",
            "--m-type",
            "unconfirmed-data-down",
            "--dev-addr",
            case["dev_addr"],
            "--f-port",
            "1",
            "--payload",
            case["frm_payload_plain"],
            "--f-opts",
            case["f_opts_plain"],
            "--mac-version",
            "1.1",
            "--s-nwk-s-int-key",
            case["s_nwk_s_int_key"],
            "--nwk-s-enc-key",
            case["nwk_s_enc_key"],
            "--app-s-key",
            case["app_s_key"],
            "--base64",
        ],
    )
    assert res.exit_code == 0, res.output
    assert base64.b64decode(res.stdout.strip()).hex() == case["phy"]


def test_encode_join_request() -> None:
    jr = V["join_requests"][0]
    res = runner.invoke(
        app,
        [
            "encode",
            "--m-type",
            "join-request",
            "--join-eui",
            jr["join_eui"],
            "--dev-eui",
            jr["dev_eui"],
            "--dev-nonce",
            str(jr["dev_nonce"]),
            "--app-key",
            jr["key"],
        ],
    )
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == jr["phy"]


def test_encode_then_decode_round_trip() -> None:
    key, app_key = "2b7e151628aed2a6abf7158809cf4f3c", "000102030405060708090a0b0c0d0e0f"
    res = runner.invoke(
        app,
        [
            "encode",
            "--dev-addr",
            "26011BDA",
            "--f-cnt",
            str(0x20005),
            "--f-port",
            "3",
            "--payload",
            "cafe",
            "--adr",
            "--nwk-s-key",
            key,
            "--app-s-key",
            app_key,
        ],
    )
    assert res.exit_code == 0, res.output
    wire = res.stdout.strip()
    assert PhyPayload.from_bytes(bytes.fromhex(wire)).mac_payload().fhdr.f_cnt == 5
    out = _decode(wire, "--nwk-s-key", key, "--app-s-key", app_key, "--f-cnt-msb", "2")
    assert out["mic_valid"] is True
    assert out["frm_payload_decrypted"] == "cafe"
    assert out["payload"]["fhdr"]["f_ctrl"]["adr"] is True
