"""Data frames through HyperLoRa's frame codec (services.lorawan.phy_payload) against lora-packet.

Both directions, for unconfirmed/confirmed data up and down, LoRaWAN 1.0.x and 1.1, with FOpts
MAC commands, FPort-0 MAC commands, FHDR-only frames and 32-bit counters:
  * HyperLoRa builds (PhyPayload, encrypt_f_opts, encrypt_frm_payload, set_*_data_mic) ->
    lora-packet parses, verifies the MIC and decrypts;
  * lora-packet builds -> HyperLoRa parses (from_bytes), rebuilds the 32-bit counter
    (full_f_cnt), validates the MIC, decrypts FOpts and FRMPayload and parses the MAC commands.
"""

from __future__ import annotations

import pytest
from hypothesis import given

from services.lorawan.data import MACPayload
from services.lorawan.fcnt import full_f_cnt
from services.lorawan.fhdr import FHDR, FCtrl
from services.lorawan.maccommand import encode_mac_commands, parse_mac_commands
from services.lorawan.mhdr import MHDR, MType
from services.lorawan.phy_payload import PhyPayload
from services.lorawan.types import DevAddr
from tests.interop.frames import (
    MAC_VERSIONS,
    MTYPES,
    DataFrame,
    check_lora_packet_decodes,
    data_frames,
)
from tests.interop.lorapacket import LoraPacket
from tests.interop.strategies import INTEROP

pytestmark = pytest.mark.interop


def build_ours(frame: DataFrame) -> bytes:
    fhdr = FHDR(
        DevAddr(frame.dev_addr), FCtrl(adr=frame.adr, ack=frame.ack), frame.f_cnt, frame.f_opts
    )
    phy = PhyPayload(
        MHDR(MType(MTYPES[frame.mtype])), MACPayload(fhdr, frame.f_port, frame.payload)
    )
    if frame.f_port is not None:
        phy.encrypt_frm_payload(frame.frm_key)
    if frame.v11:
        phy.encrypt_f_opts(frame.net_enc_key)
    # the raw conf_f_cnt: HyperLoRa must use it only for 1.1 with ACK set, modulo 2**16
    if frame.uplink:
        phy.set_uplink_data_mic(
            frame.mac_version,
            frame.conf_f_cnt,
            frame.tx_dr,
            frame.tx_ch,
            frame.f_int_key,
            frame.s_int_key,
        )
    else:
        phy.set_downlink_data_mic(frame.mac_version, frame.conf_f_cnt, frame.s_int_key)
    return phy.to_bytes()


def validate_ours(frame: DataFrame, phy: PhyPayload, conf_f_cnt: int) -> bool:
    if frame.uplink:
        return phy.validate_uplink_data_mic(
            frame.mac_version,
            conf_f_cnt,
            frame.tx_dr,
            frame.tx_ch,
            frame.f_int_key,
            frame.s_int_key,
        )
    return phy.validate_downlink_data_mic(frame.mac_version, conf_f_cnt, frame.s_int_key)


def check_ours_decodes(frame: DataFrame, wire: bytes) -> None:
    phy = PhyPayload.from_bytes(wire)
    assert phy.to_bytes() == wire
    assert phy.mhdr.m_type == MType(MTYPES[frame.mtype])
    mp = phy.mac_payload()
    fhdr = mp.fhdr
    assert fhdr.dev_addr == DevAddr(frame.dev_addr)
    assert (fhdr.f_ctrl.ack, fhdr.f_ctrl.adr) == (frame.ack, frame.adr)
    assert mp.f_port == frame.f_port
    assert fhdr.f_cnt == frame.f_cnt & 0xFFFF
    # rebuild the 32-bit counter from the previous one, as the network server does
    fhdr.f_cnt = full_f_cnt(fhdr.f_cnt, frame.f_cnt - 1 if frame.f_cnt else None)
    assert fhdr.f_cnt == frame.f_cnt
    assert validate_ours(frame, phy, frame.conf_f_cnt) is True
    if frame.v11 and frame.ack:
        assert validate_ours(frame, phy, frame.conf_f_cnt ^ 1) is False
    if frame.v11:
        phy.decrypt_f_opts(frame.net_enc_key)
    assert fhdr.f_opts == frame.f_opts
    assert encode_mac_commands(fhdr.f_opts_commands(phy.uplink)) == frame.f_opts
    if frame.f_port is not None:
        phy.decrypt_frm_payload(frame.frm_key)
        assert mp.frm_payload == frame.payload
    if frame.f_port == 0:
        commands = phy.mac_commands()
        assert commands and encode_mac_commands(commands) == frame.payload
        assert commands == parse_mac_commands(frame.payload, phy.uplink)


@pytest.mark.parametrize("mac_version", MAC_VERSIONS)
@pytest.mark.parametrize("mtype", list(MTYPES))
def test_ours_to_lora_packet(lora_packet: LoraPacket, mtype: str, mac_version: str) -> None:
    @INTEROP
    @given(frame=data_frames(mtype, mac_version))
    def run(frame: DataFrame) -> None:
        check_lora_packet_decodes(lora_packet, frame, build_ours(frame))

    run()


@pytest.mark.parametrize("mac_version", MAC_VERSIONS)
@pytest.mark.parametrize("mtype", list(MTYPES))
def test_lora_packet_to_ours(lora_packet: LoraPacket, mtype: str, mac_version: str) -> None:
    @INTEROP
    @given(frame=data_frames(mtype, mac_version))
    def run(frame: DataFrame) -> None:
        check_ours_decodes(frame, lora_packet.build_data(**frame.bridge_args()))

    run()


KEYS_10 = {
    "nwk_s_key": bytes.fromhex("44024241ed4ce9a68c6a8bc055233fd3"),
    "app_s_key": bytes.fromhex("ec925802ae430ca77fd3dd73cb2cc588"),
}
KEYS_11 = {
    "f_nwk_s_int_key": bytes(range(16)),
    "s_nwk_s_int_key": bytes(range(16, 32)),
    "nwk_s_enc_key": bytes(range(32, 48)),
    "app_s_key": bytes(range(48, 64)),
}

# (mtype, mac_version, f_cnt, f_port, payload, f_opts, ack): counter edges and frame shapes
TABLE = [
    ("unconfirmed_data_up", "1.0.3", 0, 1, b"", b"", False),
    ("unconfirmed_data_up", "1.0.3", 0xFFFF, 1, b"a" * 16, b"", False),
    ("unconfirmed_data_up", "1.0.3", 0x10000, 2, b"b" * 17, b"\x02", False),
    ("confirmed_data_up", "1.0.3", 0x0001_2345, 224, b"\xff" * 51, b"\x03\x07\x06\xfe\x20", True),
    ("unconfirmed_data_down", "1.0.3", 0xFFFFFFFF, 3, b"\x00" * 33, b"\x06", True),
    ("confirmed_data_down", "1.0.3", 0x7FFF_FFFF, 0, b"\x06\x04\x0f", b"", False),
    ("unconfirmed_data_up", "1.0.3", 0x00FF_00FF, None, b"", b"\x02\x0d", False),
    ("unconfirmed_data_up", "1.1.0", 0x10000, None, b"", b"\x02\x0d\x08", True),
    ("confirmed_data_up", "1.1.0", 0xFFFF_FFFF, 0, b"\x02\x03\x07", b"", True),
    ("unconfirmed_data_down", "1.1.0", 0x0001_0000, 5, b"down", b"\x02\x07\x01", True),
    ("confirmed_data_down", "1.1.0", 0x0002_FFFF, None, b"", b"\x06\x04\x0f", False),
    ("unconfirmed_data_down", "1.1.0", 12, 0, b"\x06\x08\x01", b"", True),
]


@pytest.mark.parametrize(
    ("mtype", "mac_version", "f_cnt", "f_port", "payload", "f_opts", "ack"), TABLE
)
def test_table_both_ways(
    lora_packet: LoraPacket,
    mtype: str,
    mac_version: str,
    f_cnt: int,
    f_port: int | None,
    payload: bytes,
    f_opts: bytes,
    ack: bool,
) -> None:
    v11 = mac_version.startswith("1.1")
    frame = DataFrame(
        mtype=mtype,
        mac_version=mac_version,
        dev_addr=bytes.fromhex("26011f2e"),
        f_cnt=f_cnt,
        f_port=f_port,
        payload=payload,
        f_opts=f_opts,
        ack=ack,
        adr=not ack,
        conf_f_cnt=0xBEEF_1234,
        tx_dr=3 if v11 else 0,
        tx_ch=7 if v11 else 0,
        keys=KEYS_11 if v11 else KEYS_10,
    )
    ours = build_ours(frame)
    check_lora_packet_decodes(lora_packet, frame, ours)
    theirs = lora_packet.build_data(**frame.bridge_args())
    check_ours_decodes(frame, theirs)
    assert ours == theirs
