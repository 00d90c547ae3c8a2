"""PhyPayload against published frames: decode, field values, MIC, decryption, re-encode."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from services.lorawan import (
    EUI64,
    MHDR,
    AES128Key,
    CFList,
    DevAddr,
    EncryptedJoinAcceptPayload,
    JoinAcceptPayload,
    JoinRequestPayload,
    MissingKey,
    MType,
    NetID,
    PhyPayload,
    ProprietaryPayload,
)

V = json.loads((Path(__file__).parents[2] / "vectors" / "lorawan_frames.json").read_text())


def _k(h: str) -> AES128Key:
    return AES128Key.from_hex(h)


@pytest.mark.parametrize("case", V["data_frames"], ids=lambda c: c["name"])
def test_data_frame_fields_and_round_trip(case: dict[str, Any]) -> None:
    raw = bytes.fromhex(case["phy"])
    phy = PhyPayload.from_bytes(raw)
    assert phy.to_bytes() == raw
    assert phy.mhdr.m_type.label == case["m_type"]
    p = phy.mac_payload()
    assert str(p.fhdr.dev_addr) == case["dev_addr"]
    assert p.fhdr.f_cnt == case["f_cnt"]
    assert p.fhdr.f_ctrl.to_dict(phy.uplink) == case["f_ctrl"]
    assert p.fhdr.f_opts.hex() == case["f_opts"]
    assert p.f_port == case["f_port"]
    d = phy.to_dict()
    json.dumps(d)
    assert d["payload"]["fhdr"]["dev_addr"] == case["dev_addr"]
    assert d["mic"] == raw[-4:].hex()


@pytest.mark.parametrize(
    "case", [c for c in V["data_frames"] if "mic" in c], ids=lambda c: c["name"]
)
def test_data_frame_mic(case: dict[str, Any]) -> None:
    raw = bytes.fromhex(case["phy"])
    phy = PhyPayload.from_bytes(raw)
    version = case["mac_version"]
    if phy.uplink:
        if version.startswith("1.0"):
            args: tuple[Any, ...] = (0, 0, 0, _k(case["nwk_s_key"]))
        else:
            args = (
                case["conf_f_cnt"],
                case["tx_dr"],
                case["tx_ch"],
                _k(case["f_nwk_s_int_key"]),
                _k(case["s_nwk_s_int_key"]),
            )
        assert phy.validate_uplink_data_mic(version, *args)
        phy.mic = b"\x00" * 4
        assert not phy.validate_uplink_data_mic(version, *args)
        phy.set_uplink_data_mic(version, *args)
    else:
        key = case.get("nwk_s_key") or case["s_nwk_s_int_key"]
        assert phy.validate_downlink_data_mic(version, case.get("conf_f_cnt", 0), _k(key))
        phy.mic = b"\x00" * 4
        assert not phy.validate_downlink_data_mic(version, 0, _k(key))
        phy.set_downlink_data_mic(version, case.get("conf_f_cnt", 0), _k(key))
    assert phy.to_bytes() == raw


@pytest.mark.parametrize(
    "case", [c for c in V["data_frames"] if "frm_payload_plain" in c], ids=lambda c: c["name"]
)
def test_data_frame_decrypt_and_encrypt(case: dict[str, Any]) -> None:
    raw = bytes.fromhex(case["phy"])
    phy = PhyPayload.from_bytes(raw)
    key = case["nwk_s_enc_key"] if case["f_port"] == 0 else case["app_s_key"]
    phy.decrypt_frm_payload(_k(key))
    assert phy.mac_payload().frm_payload.hex() == case["frm_payload_plain"]
    if "f_opts_plain" in case:
        phy.decrypt_f_opts(_k(case["nwk_s_enc_key"]))
        assert phy.mac_payload().fhdr.f_opts.hex() == case["f_opts_plain"]
        phy.encrypt_f_opts(_k(case["nwk_s_enc_key"]))
    phy.encrypt_frm_payload(_k(key))
    assert phy.to_bytes() == raw


def test_chirpstack_downlink_built_from_fields() -> None:
    # Build the 1.1 downlink of the ChirpStack doc example from plain fields.
    from services.lorawan import FHDR, FCtrl, MACPayload

    case = next(c for c in V["data_frames"] if "f_opts_plain" in c)
    phy = PhyPayload(
        MHDR(MType.UNCONFIRMED_DATA_DOWN),
        MACPayload(
            FHDR(DevAddr.from_hex("01020304"), FCtrl(), 0, bytes.fromhex("020701")),
            1,
            bytes.fromhex("01020304"),
        ),
    )
    phy.encrypt_f_opts(_k(case["nwk_s_enc_key"]))
    phy.encrypt_frm_payload(_k(case["app_s_key"]))
    phy.set_downlink_data_mic("1.1.0", 0, _k(case["s_nwk_s_int_key"]))
    assert phy.to_bytes().hex() == case["phy"]


@pytest.mark.parametrize("case", V["join_requests"], ids=lambda c: c["phy"][:12])
def test_join_request(case: dict[str, Any]) -> None:
    raw = bytes.fromhex(case["phy"])
    phy = PhyPayload.from_bytes(raw)
    assert isinstance(phy.payload, JoinRequestPayload)
    assert str(phy.payload.join_eui) == case["join_eui"]
    assert str(phy.payload.dev_eui) == case["dev_eui"]
    assert phy.payload.dev_nonce == case["dev_nonce"]
    assert phy.validate_join_request_mic(_k(case["key"]))
    assert not phy.validate_join_request_mic(_k("00" * 16))
    built = PhyPayload(
        MHDR(MType.JOIN_REQUEST),
        JoinRequestPayload(
            EUI64.from_hex(case["join_eui"]), EUI64.from_hex(case["dev_eui"]), case["dev_nonce"]
        ),
    )
    built.set_join_request_mic(_k(case["key"]))
    assert built.mic is not None and built.mic.hex() == case["mic"]
    assert built.to_bytes() == raw


def _expected_ja(case: dict[str, Any]) -> JoinAcceptPayload:
    from services.lorawan import DLSettings

    return JoinAcceptPayload(
        case["join_nonce"],
        NetID.from_hex(case["net_id"]),
        DevAddr.from_hex(case["dev_addr"]),
        DLSettings(**case["dl_settings"]),
        case["rx_delay"],
        None,
    )


def _mic_kwargs(case: dict[str, Any]) -> dict[str, Any]:
    if "join_eui" not in case:
        return {}
    return {
        "join_req_type": case["join_req_type"],
        "join_eui": EUI64.from_hex(case["join_eui"]),
        "dev_nonce": case["dev_nonce"],
    }


@pytest.mark.parametrize(
    "case", [c for c in V["join_accepts"] if "phy_encrypted" in c], ids=lambda c: c["name"]
)
def test_join_accept_decrypt_validate_and_rebuild(case: dict[str, Any]) -> None:
    raw = bytes.fromhex(case["phy_encrypted"])
    key = _k(case["key"])
    phy = PhyPayload.from_bytes(raw)
    assert isinstance(phy.payload, EncryptedJoinAcceptPayload)
    assert phy.to_bytes() == raw
    phy.decrypt_join_accept_payload(key)
    assert phy.payload == _expected_ja(case)
    assert phy.mic is not None and phy.mic.hex() == case["mic"]
    if "phy_plain" in case:
        assert phy.to_bytes().hex() == case["phy_plain"]
    assert phy.validate_join_accept_mic(key, **_mic_kwargs(case))
    assert not phy.validate_join_accept_mic(_k("11" * 16), **_mic_kwargs(case))
    built = PhyPayload(MHDR(MType.JOIN_ACCEPT), _expected_ja(case))
    built.set_join_accept_mic(key, **_mic_kwargs(case))
    built.encrypt_join_accept_payload(key)
    assert built.to_bytes() == raw


def test_join_accept_plain_mic_lora_packet() -> None:
    case = next(c for c in V["join_accepts"] if "phy_encrypted" not in c)
    raw = bytes.fromhex(case["phy_plain"])
    phy = PhyPayload(MHDR.from_byte(raw[0]), JoinAcceptPayload.from_bytes(raw[1:-4]), raw[-4:])
    assert phy.payload == _expected_ja(case)
    assert phy.validate_join_accept_mic(_k(case["key"]))


def test_opt_neg_mic_needs_join_eui_and_dev_nonce() -> None:
    case = next(c for c in V["join_accepts"] if "join_eui" in c)
    phy = PhyPayload(MHDR(MType.JOIN_ACCEPT), _expected_ja(case))
    with pytest.raises(MissingKey):
        phy.set_join_accept_mic(_k(case["key"]))


@pytest.mark.parametrize("case", V["cf_lists"], ids=lambda c: c["bytes"])
def test_cf_list(case: dict[str, Any]) -> None:
    raw = bytes.fromhex(case["bytes"])
    cf = CFList.from_bytes(raw)
    assert cf.cf_list_type == case["cf_list_type"]
    if "frequencies" in case:
        assert list(cf.frequencies) == case["frequencies"]
    else:
        assert list(cf.ch_masks) == case["ch_masks"]
    assert cf.to_bytes() == raw


def test_join_accept_with_cf_list_round_trip() -> None:
    cf = CFList.from_bytes(bytes.fromhex(V["cf_lists"][0]["bytes"]))
    ja = JoinAcceptPayload(0x123456, NetID.from_hex("000013"), DevAddr.from_hex("26011234"))
    ja = JoinAcceptPayload(ja.join_nonce, ja.net_id, ja.dev_addr, ja.dl_settings, 1, cf)
    key = _k("2b7e151628aed2a6abf7158809cf4f3c")
    phy = PhyPayload(MHDR(MType.JOIN_ACCEPT), ja)
    phy.set_join_accept_mic(key)
    phy.encrypt_join_accept_payload(key)
    wire = phy.to_bytes()
    assert len(wire) == 33
    got = PhyPayload.from_bytes(wire)
    got.decrypt_join_accept_payload(key)
    assert got.payload == ja
    assert got.validate_join_accept_mic(key)
    assert got.to_dict()["payload"]["cf_list"]["frequencies"][0] == 867100000


@pytest.mark.parametrize("case", V["proprietary"], ids=lambda c: c["phy"])
def test_proprietary(case: dict[str, Any]) -> None:
    raw = bytes.fromhex(case["phy"])
    phy = PhyPayload.from_bytes(raw)
    assert phy.payload == ProprietaryPayload(bytes.fromhex(case["data"]))
    assert phy.mic is None
    assert phy.to_bytes() == raw
