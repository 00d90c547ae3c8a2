"""JoinRequest and JoinAccept through HyperLoRa's codec against lora-packet, both directions.

JoinRequest: MIC with AppKey (1.0) / NwkKey (1.1). JoinAccept: encryption (AES decrypt
operation) and MIC, with and without CFList, LoRaWAN 1.0 (AppKey) and 1.1 (OptNeg: MIC with
JSIntKey over JoinReqType | JoinEUI | DevNonce | MHDR | payload, encryption with NwkKey for a
join-request answer or JSEncKey for a rejoin answer).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.lorawan.join import CFList, DLSettings, JoinAcceptPayload, JoinRequestPayload
from services.lorawan.keys import derive_js_enc_key, derive_js_int_key
from services.lorawan.mhdr import MHDR, MType
from services.lorawan.phy_payload import PhyPayload
from services.lorawan.types import EUI64, AES128Key, DevAddr, NetID
from tests.interop.lorapacket import LoraPacket
from tests.interop.strategies import (
    INTEROP,
    dev_addrs,
    dev_nonces,
    euis,
    join_nonces,
    keys,
    net_ids,
)

pytestmark = pytest.mark.interop


# ------------------------------------------------------------------------- JoinRequest


def build_join_request_ours(join_eui: bytes, dev_eui: bytes, dev_nonce: int, key: bytes) -> bytes:
    phy = PhyPayload(
        MHDR(MType.JOIN_REQUEST), JoinRequestPayload(EUI64(join_eui), EUI64(dev_eui), dev_nonce)
    )
    phy.set_join_request_mic(key)
    return phy.to_bytes()


def check_join_request_ours(
    wire: bytes, join_eui: bytes, dev_eui: bytes, dev_nonce: int, key: bytes
) -> None:
    phy = PhyPayload.from_bytes(wire)
    assert phy.to_bytes() == wire
    assert phy.mhdr.m_type is MType.JOIN_REQUEST
    assert phy.payload == JoinRequestPayload(EUI64(join_eui), EUI64(dev_eui), dev_nonce)
    assert phy.validate_join_request_mic(key) is True
    assert phy.validate_join_request_mic(bytes(b ^ 0x80 for b in key)) is False


@INTEROP
@given(join_eui=euis, dev_eui=euis, dev_nonce=dev_nonces, key=keys)
def test_join_request_both_ways(
    lora_packet: LoraPacket, join_eui: bytes, dev_eui: bytes, dev_nonce: int, key: bytes
) -> None:
    ours = build_join_request_ours(join_eui, dev_eui, dev_nonce, key)
    out = lora_packet.verify_join_request(ours, key)
    assert out["mic_valid"] is True
    assert (out["join_eui"], out["dev_eui"], out["dev_nonce"]) == (
        join_eui.hex(),
        dev_eui.hex(),
        dev_nonce,
    )
    theirs = lora_packet.build_join_request(join_eui, dev_eui, dev_nonce, key)
    check_join_request_ours(theirs, join_eui, dev_eui, dev_nonce, key)
    assert ours == theirs


@pytest.mark.parametrize(
    ("join_eui", "dev_eui", "dev_nonce"),
    [
        ("0000000000000000", "0000000000000000", 0),
        ("ffffffffffffffff", "ffffffffffffffff", 0xFFFF),
        ("70b3d57ed0000001", "0004a30b001c0530", 0x0102),
    ],
)
def test_join_request_table(
    lora_packet: LoraPacket, join_eui: str, dev_eui: str, dev_nonce: int
) -> None:
    key = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
    ours = build_join_request_ours(bytes.fromhex(join_eui), bytes.fromhex(dev_eui), dev_nonce, key)
    assert ours[1:9] == bytes.fromhex(join_eui)[::-1]  # little-endian on the air
    assert ours[17:19] == dev_nonce.to_bytes(2, "little")
    assert lora_packet.verify_join_request(ours, key)["mic_valid"] is True


# -------------------------------------------------------------------------- JoinAccept


@dataclass
class Accept:
    join_nonce: int
    net_id: bytes
    dev_addr: bytes
    rx1_dr_offset: int
    rx2_dr: int
    rx_delay: int
    cf_list: bytes  # 16 bytes or empty
    key: bytes  # AppKey (1.0) / NwkKey (1.1)
    opt_neg: bool = False
    join_req_type: int = 0xFF
    join_eui: bytes = bytes(8)
    dev_eui: bytes = bytes(8)
    dev_nonce: int = 0

    @property
    def js_int_key(self) -> bytes:
        return derive_js_int_key(AES128Key(self.key), EUI64(self.dev_eui)).value

    @property
    def enc_key(self) -> bytes:
        """NwkKey/AppKey for a join-request answer, JSEncKey (1.1) for a rejoin answer."""
        if self.opt_neg and self.join_req_type != 0xFF:
            return derive_js_enc_key(AES128Key(self.key), EUI64(self.dev_eui)).value
        return self.key

    @property
    def mic_key(self) -> bytes:
        return self.js_int_key if self.opt_neg else self.key

    def mic_context(self) -> dict[str, object]:
        if not self.opt_neg:
            return {}
        return {
            "js_int_key": self.js_int_key,
            "join_req_type": self.join_req_type,
            "join_eui": self.join_eui,
            "dev_nonce": self.dev_nonce,
        }

    def bridge_args(self) -> dict[str, object]:
        return {
            "join_nonce": self.join_nonce,
            "net_id": self.net_id,
            "dev_addr": self.dev_addr,
            "rx1_dr_offset": self.rx1_dr_offset,
            "rx2_dr": self.rx2_dr,
            "opt_neg": self.opt_neg,
            "rx_delay": self.rx_delay,
            "cf_list": self.cf_list,
            "key": self.enc_key,
            **self.mic_context(),
        }

    def payload(self) -> JoinAcceptPayload:
        return JoinAcceptPayload(
            self.join_nonce,
            NetID(self.net_id),
            DevAddr(self.dev_addr),
            DLSettings(self.opt_neg, self.rx1_dr_offset, self.rx2_dr),
            self.rx_delay,
            CFList.from_bytes(self.cf_list) if self.cf_list else None,
        )


def build_join_accept_ours(acc: Accept) -> bytes:
    phy = PhyPayload(MHDR(MType.JOIN_ACCEPT), acc.payload())
    if acc.opt_neg:
        phy.set_join_accept_mic(
            acc.mic_key, acc.join_req_type, EUI64(acc.join_eui), acc.dev_nonce, opt_neg=True
        )
    else:
        phy.set_join_accept_mic(acc.mic_key)
    phy.encrypt_join_accept_payload(acc.enc_key)
    return phy.to_bytes()


def check_join_accept_ours(acc: Accept, wire: bytes) -> None:
    phy = PhyPayload.from_bytes(wire)
    assert phy.to_bytes() == wire
    assert phy.mhdr.m_type is MType.JOIN_ACCEPT
    phy.decrypt_join_accept_payload(acc.enc_key)
    assert phy.payload == acc.payload()
    if acc.opt_neg:
        ctx = (acc.join_req_type, EUI64(acc.join_eui), acc.dev_nonce)
        assert phy.validate_join_accept_mic(acc.mic_key, *ctx, opt_neg=True) is True
        wrong = (acc.join_req_type ^ 1, EUI64(acc.join_eui), acc.dev_nonce)
        assert phy.validate_join_accept_mic(acc.mic_key, *wrong, opt_neg=True) is False
        # the OptNeg bit of DLSettings alone selects the 1.1 MIC
        assert phy.validate_join_accept_mic(acc.mic_key, *ctx, opt_neg=False) is True
    else:
        assert phy.validate_join_accept_mic(acc.mic_key) is True
    flipped = bytes(b ^ 0x01 for b in acc.mic_key)
    ctx11 = (acc.join_req_type, EUI64(acc.join_eui), acc.dev_nonce)
    assert phy.validate_join_accept_mic(flipped, *ctx11, opt_neg=acc.opt_neg) is False


def check_join_accept_lora_packet(lp: LoraPacket, acc: Accept, wire: bytes) -> None:
    out = lp.decrypt_join_accept(wire, acc.enc_key, **acc.mic_context())
    assert out["mic_valid"] is True, f"MIC {out['mic']} != lora-packet's {out['mic_expected']}"
    assert out["join_nonce"] == acc.join_nonce
    assert out["net_id"] == acc.net_id.hex()
    assert out["dev_addr"] == acc.dev_addr.hex()
    assert out["opt_neg"] is acc.opt_neg
    assert (out["rx1_dr_offset"], out["rx2_dr"], out["rx_delay"]) == (
        acc.rx1_dr_offset,
        acc.rx2_dr,
        acc.rx_delay,
    )
    assert out["cf_list"] == acc.cf_list.hex()


@st.composite
def accepts(draw: st.DrawFn, opt_neg: bool, cf_list: bool) -> Accept:
    return Accept(
        join_nonce=draw(join_nonces),
        net_id=draw(net_ids),
        dev_addr=draw(dev_addrs),
        rx1_dr_offset=draw(st.integers(0, 7)),
        rx2_dr=draw(st.integers(0, 15)),
        rx_delay=draw(st.integers(0, 15)),
        cf_list=draw(st.binary(min_size=16, max_size=16)) if cf_list else b"",
        key=draw(keys),
        opt_neg=opt_neg,
        join_req_type=draw(st.sampled_from([0xFF, 0xFF, 0, 1, 2])) if opt_neg else 0xFF,
        join_eui=draw(euis),
        dev_eui=draw(euis),
        dev_nonce=draw(dev_nonces),
    )


@pytest.mark.parametrize("cf_list", [False, True], ids=["no_cflist", "cflist"])
@pytest.mark.parametrize("opt_neg", [False, True], ids=["1.0", "1.1"])
def test_join_accept_both_ways(lora_packet: LoraPacket, opt_neg: bool, cf_list: bool) -> None:
    @INTEROP
    @given(acc=accepts(opt_neg, cf_list))
    def run(acc: Accept) -> None:
        ours = build_join_accept_ours(acc)
        assert len(ours) == (33 if cf_list else 17)
        check_join_accept_lora_packet(lora_packet, acc, ours)
        theirs = lora_packet.build_join_accept(**acc.bridge_args())
        check_join_accept_ours(acc, theirs)
        assert ours == theirs

    run()


EU868_CFLIST = (
    (8671000).to_bytes(3, "little")
    + (8673000).to_bytes(3, "little")
    + (8675000).to_bytes(3, "little")
    + (8677000).to_bytes(3, "little")
    + (8679000).to_bytes(3, "little")
    + b"\x00"
)
US915_CFLIST = (0x00FF).to_bytes(2, "little") + bytes(10) + bytes(3) + b"\x01"


@pytest.mark.parametrize(
    ("cf_list", "opt_neg", "join_req_type"),
    [
        (b"", False, 0xFF),
        (EU868_CFLIST, False, 0xFF),
        (US915_CFLIST, False, 0xFF),
        (EU868_CFLIST, True, 0xFF),
        (b"", True, 0x00),
        (US915_CFLIST, True, 0x02),
    ],
)
def test_join_accept_table(
    lora_packet: LoraPacket, cf_list: bytes, opt_neg: bool, join_req_type: int
) -> None:
    acc = Accept(
        join_nonce=0x000001,
        net_id=bytes.fromhex("000013"),
        dev_addr=bytes.fromhex("26011f2e"),
        rx1_dr_offset=1,
        rx2_dr=3,
        rx_delay=1,
        cf_list=cf_list,
        key=bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c"),
        opt_neg=opt_neg,
        join_req_type=join_req_type,
        join_eui=bytes.fromhex("70b3d57ed0000001"),
        dev_eui=bytes.fromhex("0004a30b001c0530"),
        dev_nonce=0x0203,
    )
    ours = build_join_accept_ours(acc)
    check_join_accept_lora_packet(lora_packet, acc, ours)
    theirs = lora_packet.build_join_accept(**acc.bridge_args())
    check_join_accept_ours(acc, theirs)
    assert ours == theirs
