"""Decoders raise only LoRaWANError, whatever the bytes; what decodes re-encodes identically."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.lorawan import (
    EUI64,
    AES128Key,
    EncryptedJoinAcceptPayload,
    JoinAcceptPayload,
    LoRaWANError,
    MACPayload,
    PhyPayload,
)
from services.lorawan.join import CFList, JoinRequestPayload
from services.lorawan.rejoin import RejoinRequestPayload

V = json.loads((Path(__file__).parents[2] / "vectors" / "lorawan_frames.json").read_text())
VALID = (
    [c["phy"] for c in V["data_frames"]]
    + [c["phy"] for c in V["join_requests"]]
    + [c["phy_encrypted"] for c in V["join_accepts"] if "phy_encrypted" in c]
    + [c["phy"] for c in V["proprietary"]]
    + ["c000130000" + "30051c000ba30400" + "0900" + "a1b2c3d4"]
)
KEY = AES128Key(bytes(range(16)))


def _exercise(raw: bytes) -> None:
    try:
        phy = PhyPayload.from_bytes(raw)
    except LoRaWANError:
        return
    assert phy.to_bytes() == raw
    json.dumps(phy.to_dict())
    if isinstance(phy.payload, MACPayload):
        with contextlib.suppress(LoRaWANError):
            phy.mac_commands()
        phy.decrypt_frm_payload(KEY)
        phy.decrypt_f_opts(KEY)
        if phy.uplink:
            phy.validate_uplink_data_mic("1.1", 0, 0, 0, KEY, KEY)
        else:
            phy.validate_downlink_data_mic("1.0.3", 0, KEY)
    elif isinstance(phy.payload, EncryptedJoinAcceptPayload):
        phy.decrypt_join_accept_payload(KEY)
        assert isinstance(phy.payload, JoinAcceptPayload)
        json.dumps(phy.to_dict())
        phy.validate_join_accept_mic(KEY, 0xFF, EUI64(bytes(8)), 0)
        # the decrypted form re-encrypts to the received bytes
        phy.encrypt_join_accept_payload(KEY)
        assert phy.to_bytes() == raw


@settings(max_examples=500)
@given(st.binary(max_size=80))
def test_arbitrary_bytes(raw: bytes) -> None:
    _exercise(raw)


@settings(max_examples=300)
@given(st.sampled_from([0x00, 0x20, 0x40, 0x60, 0x80, 0xA0, 0xC0, 0xE0]), st.binary(max_size=40))
def test_arbitrary_bytes_every_mtype(mhdr: int, rest: bytes) -> None:
    _exercise(bytes((mhdr,)) + rest)


@pytest.mark.parametrize("hex_", VALID)
def test_truncated_valid_frames(hex_: str) -> None:
    raw = bytes.fromhex(hex_)
    _exercise(raw)
    for n in range(len(raw)):
        _exercise(raw[:n])
        _exercise(raw[n:])


@pytest.mark.parametrize(
    "decoder",
    [
        JoinRequestPayload.from_bytes,
        JoinAcceptPayload.from_bytes,
        RejoinRequestPayload.from_bytes,
        CFList.from_bytes,
    ],
)
@settings(max_examples=100)
@given(raw=st.binary(max_size=40))
def test_element_decoders(decoder: object, raw: bytes) -> None:
    with contextlib.suppress(LoRaWANError):
        decoder(raw)  # type: ignore[operator]


@pytest.mark.parametrize("bad", [None, 5, "40ab", [1, 2]])
def test_non_bytes_input(bad: object) -> None:
    with pytest.raises(LoRaWANError):
        PhyPayload.from_bytes(bad)  # type: ignore[arg-type]
