"""The bridge itself: lora-packet round-trips and published example frames through the pipes."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.interop.lorapacket import PINNED_VERSION, LoraPacket, LoraPacketError

pytestmark = pytest.mark.interop

# lora-packet's README example (a TTN uplink): NwkSKey/AppSKey and the frame they produce.
README_NWK_S_KEY = "44024241ed4ce9a68c6a8bc055233fd3"
README_APP_S_KEY = "ec925802ae430ca77fd3dd73cb2cc588"
README_FRAME = bytes.fromhex("40F17DBE4900020001954378762B11FF0D")


def test_pinned_version(lora_packet: LoraPacket) -> None:
    assert lora_packet.version == PINNED_VERSION


def test_readme_frame_decodes(lora_packet: LoraPacket) -> None:
    out = lora_packet.decode_data(
        README_FRAME, nwk_s_key=README_NWK_S_KEY, app_s_key=README_APP_S_KEY
    )
    assert out["mtype"] == "unconfirmed_data_up"
    assert out["dev_addr"] == "49be7df1"
    assert out["f_cnt"] == 2
    assert out["f_port"] == 1
    assert out["mic_valid"] is True
    assert bytes.fromhex(out["payload"]) == b"test"


def test_readme_frame_rebuilt(lora_packet: LoraPacket) -> None:
    wire = lora_packet.build_data(
        dev_addr="49be7df1",
        f_cnt=2,
        f_port=1,
        payload=b"test",
        nwk_s_key=README_NWK_S_KEY,
        app_s_key=README_APP_S_KEY,
    )
    assert wire == README_FRAME


def test_wrong_key_fails_mic(lora_packet: LoraPacket) -> None:
    out = lora_packet.decode_data(README_FRAME, nwk_s_key="00" * 16, app_s_key=README_APP_S_KEY)
    assert out["mic_valid"] is False


@pytest.mark.parametrize("f_cnt", [0, 1, 0xFFFF, 0x10000, 0x12345678, 0xFFFFFFFF])
@pytest.mark.parametrize("mac_version", ["1.0.3", "1.1.0"])
@pytest.mark.parametrize("mtype", ["unconfirmed_data_up", "confirmed_data_down"])
def test_data_round_trip(lora_packet: LoraPacket, f_cnt: int, mac_version: str, mtype: str) -> None:
    keys = {
        "nwk_s_key": "11" * 16,
        "f_nwk_s_int_key": "11" * 16,
        "s_nwk_s_int_key": "22" * 16,
        "nwk_s_enc_key": "33" * 16,
        "app_s_key": "44" * 16,
        "mac_version": mac_version,
    }
    wire = lora_packet.build_data(
        mtype=mtype,
        dev_addr="26011f2e",
        f_cnt=f_cnt,
        f_port=7,
        payload=b"\x00\x01\xfe\xff" * 5,
        f_opts="0203",
        ack=True,
        conf_f_cnt=0x1234,
        tx_dr=3,
        tx_ch=2,
        **keys,
    )
    assert int.from_bytes(wire[6:8], "little") == f_cnt & 0xFFFF
    out = lora_packet.decode_data(
        wire, f_cnt_msb=f_cnt >> 16, conf_f_cnt=0x1234, tx_dr=3, tx_ch=2, **keys
    )
    assert out["mic_valid"] is True
    assert out["f_cnt"] == f_cnt
    assert out["payload"] == (b"\x00\x01\xfe\xff" * 5).hex()
    assert out["f_opts"] == "0203"
    wrong_msb = lora_packet.decode_data(
        wire, f_cnt_msb=(f_cnt >> 16) ^ 1, conf_f_cnt=0x1234, tx_dr=3, tx_ch=2, **keys
    )
    assert wrong_msb["mic_valid"] is False


def test_join_round_trip(lora_packet: LoraPacket) -> None:
    key = "2b7e151628aed2a6abf7158809cf4f3c"
    wire = lora_packet.build_join_request("0102030405060708", "a1a2a3a4a5a6a7a8", 0xBEEF, key)
    assert wire[0] == 0x00 and len(wire) == 23
    assert wire[1:9] == bytes.fromhex("0807060504030201")
    out = lora_packet.verify_join_request(wire, key)
    assert out["mic_valid"] is True and out["dev_nonce"] == 0xBEEF
    accept = lora_packet.build_join_accept(
        join_nonce=0xABCDEF,
        net_id="000013",
        dev_addr="26011f2e",
        rx1_dr_offset=2,
        rx2_dr=3,
        rx_delay=1,
        cf_list=bytes(range(16)),
        key=key,
    )
    assert len(accept) == 33
    out = lora_packet.decrypt_join_accept(accept, key)
    assert out["mic_valid"] is True
    assert (out["join_nonce"], out["net_id"], out["dev_addr"]) == (0xABCDEF, "000013", "26011f2e")
    assert (out["rx1_dr_offset"], out["rx2_dr"], out["rx_delay"]) == (2, 3, 1)
    assert out["cf_list"] == bytes(range(16)).hex()


def test_errors_are_reported(lora_packet: LoraPacket) -> None:
    with pytest.raises(LoraPacketError, match="dev_addr"):
        lora_packet.build_data(dev_addr="0102", f_cnt=1, nwk_s_key="00" * 16)
    with pytest.raises(LoraPacketError, match="unknown op"):
        lora_packet.call("no_such_op")
    # the bridge is still alive after errors
    assert lora_packet.call("ping")["lora_packet"] == PINNED_VERSION


def test_concurrent_callers(lora_packet: LoraPacket) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(20):
                wire = lora_packet.build_join_request("00" * 8, f"{n:016x}", i, "00" * 16)
                assert wire[9:17] == n.to_bytes(8, "little")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_missing_install_is_an_error_not_a_skip(
    lora_packet: LoraPacket, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import tests.interop.lorapacket as module

    monkeypatch.setattr(module, "PACKAGE_DIR", tmp_path)
    with pytest.raises(module.LoraPacketNotInstalled, match=r"bootstrap\.sh --interop"):
        module.LoraPacket()


def test_close_stops_the_process(lora_packet: LoraPacket) -> None:
    client = LoraPacket()
    proc = client._proc
    client.close()
    client.close()  # idempotent
    assert proc.poll() == 0
    with pytest.raises(LoraPacketError, match="not running"):
        client.call("ping")


def test_typed_identifiers_are_accepted(lora_packet: LoraPacket) -> None:
    """EUI64 / DevAddr / NetID / AES128Key objects go over as their MSB-first hex."""
    from services.lorawan.types import EUI64, AES128Key

    key = AES128Key.from_hex("2b7e151628aed2a6abf7158809cf4f3c")
    typed = lora_packet.build_join_request(
        EUI64.from_hex("70b3d57ed0000001"), EUI64.from_hex("0004a30b001c0530"), 7, key
    )
    plain = lora_packet.build_join_request("70b3d57ed0000001", "0004a30b001c0530", 7, key.value)
    assert typed == plain
