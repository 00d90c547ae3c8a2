"""Data-frame crypto (MIC, FRMPayload and 1.1 FOpts encryption) agrees with lora-packet.

These checks use only services.lorawan.crypto: the frame bytes are laid out here by hand, so they
hold independently of the frame codec (test_data_frames.py checks the codec on top of this).
Both directions: lora-packet builds -> our crypto verifies and decrypts; our crypto builds ->
lora-packet verifies and decrypts. 32-bit counters throughout (only the low 16 bits on the air).
"""

from __future__ import annotations

import pytest
from hypothesis import given

from services.lorawan.crypto import (
    compute_downlink_data_mic,
    compute_uplink_data_mic,
    encrypt_f_opts,
    encrypt_frm_payload,
)
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


def _mic(frame: DataFrame, msg: bytes) -> bytes:
    addr = DevAddr(frame.dev_addr)
    if frame.uplink:
        return compute_uplink_data_mic(
            msg,
            addr,
            frame.f_cnt,
            frame.f_int_key,
            lorawan_11=frame.v11,
            s_nwk_s_int_key=frame.s_int_key,
            conf_f_cnt=frame.spec_conf_f_cnt,
            tx_dr=frame.tx_dr,
            tx_ch=frame.tx_ch,
        )
    return compute_downlink_data_mic(msg, addr, frame.f_cnt, frame.s_int_key, frame.spec_conf_f_cnt)


def _f_opts_crypt(frame: DataFrame, data: bytes) -> bytes:
    if not (frame.v11 and data):
        return data
    addr = DevAddr(frame.dev_addr)
    return encrypt_f_opts(
        frame.net_enc_key, addr, frame.f_cnt, frame.uplink, data, frame.a_f_cnt_down
    )


def build_with_crypto(frame: DataFrame) -> bytes:
    """Lay the frame out by hand and protect it with services.lorawan.crypto."""
    addr = DevAddr(frame.dev_addr)
    f_opts = _f_opts_crypt(frame, frame.f_opts)
    f_ctrl = (0x80 if frame.adr else 0) | (0x20 if frame.ack else 0) | len(f_opts)
    msg = (
        bytes([MTYPES[frame.mtype] << 5])
        + frame.dev_addr[::-1]
        + bytes([f_ctrl])
        + (frame.f_cnt & 0xFFFF).to_bytes(2, "little")
        + f_opts
    )
    if frame.f_port is not None:
        enc = encrypt_frm_payload(frame.frm_key, addr, frame.f_cnt, frame.uplink, frame.payload)
        msg += bytes([frame.f_port]) + enc
    return msg + _mic(frame, msg)


def check_with_crypto(frame: DataFrame, wire: bytes) -> None:
    """Verify and decrypt a frame built by lora-packet with services.lorawan.crypto."""
    addr = DevAddr(frame.dev_addr)
    assert wire[0] == MTYPES[frame.mtype] << 5
    assert wire[1:5] == frame.dev_addr[::-1]
    assert int.from_bytes(wire[6:8], "little") == frame.f_cnt & 0xFFFF
    f_opts_len = wire[5] & 0x0F
    assert f_opts_len == len(frame.f_opts)
    assert bool(wire[5] & 0x20) == frame.ack and bool(wire[5] & 0x80) == frame.adr
    assert _f_opts_crypt(frame, wire[8 : 8 + f_opts_len]) == frame.f_opts
    rest = wire[8 + f_opts_len : -4]
    if frame.f_port is None:
        assert rest == b""
    else:
        assert rest[0] == frame.f_port
        plain = encrypt_frm_payload(frame.frm_key, addr, frame.f_cnt, frame.uplink, rest[1:])
        assert plain == frame.payload
    assert wire[-4:] == _mic(frame, wire[:-4])


@pytest.mark.parametrize("mac_version", MAC_VERSIONS)
@pytest.mark.parametrize("mtype", list(MTYPES))
def test_data_crypto_both_ways(lora_packet: LoraPacket, mtype: str, mac_version: str) -> None:
    @INTEROP
    @given(frame=data_frames(mtype, mac_version))
    def run(frame: DataFrame) -> None:
        ours = build_with_crypto(frame)
        check_lora_packet_decodes(lora_packet, frame, ours)
        theirs = lora_packet.build_data(**frame.bridge_args())
        check_with_crypto(frame, theirs)
        assert theirs == ours  # same fields, same keys: byte-identical frames

    run()


def test_wrong_f_cnt_msb_is_detected(lora_packet: LoraPacket) -> None:
    """Both sides mix the upper 16 counter bits into the MIC: a wrong guess fails on both."""
    frame = DataFrame(
        mtype="unconfirmed_data_up",
        mac_version="1.0.3",
        dev_addr=bytes.fromhex("26011f2e"),
        f_cnt=0x0003_0007,
        f_port=10,
        payload=b"hello",
        f_opts=b"",
        ack=False,
        adr=True,
        conf_f_cnt=0,
        tx_dr=0,
        tx_ch=0,
        keys={"nwk_s_key": bytes(range(16)), "app_s_key": bytes(range(16, 32))},
    )
    wire = build_with_crypto(frame)
    args = frame.decode_args()
    assert lora_packet.decode_data(wire, **args)["mic_valid"] is True
    args["f_cnt_msb"] = 2
    assert lora_packet.decode_data(wire, **args)["mic_valid"] is False
    frame.f_cnt = 0x0002_0007
    assert _mic(frame, wire[:-4]) != wire[-4:]
