"""Known-answer vectors: spec examples and hand-built datagrams, decoded and re-encoded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from services.gateway_bridge import errors
from services.gateway_bridge.semtech import (
    PullAck,
    PullData,
    PullResp,
    PushAck,
    PushData,
    TxAck,
    decode_packet,
)
from services.lorawan.errors import MalformedPacket

VECTORS = Path(__file__).parents[2] / "vectors"
GOOD = json.loads((VECTORS / "semtech_packets.json").read_text())["vectors"]
BAD = json.loads((VECTORS / "semtech_malformed.json").read_text())["vectors"]
TYPES = {c.__name__: c for c in (PushData, PushAck, PullData, PullResp, PullAck, TxAck)}


def _check_fields(obj: Any, expect: dict[str, Any]) -> None:
    for key, want in expect.items():
        if key == "data_hex":
            assert obj.data.hex() == want
            continue
        got = getattr(obj, key)
        if isinstance(want, list):
            assert len(got) >= len(want)
            for item, sub in zip(got, want, strict=False):
                _check_fields(item, sub)
        elif isinstance(want, dict):
            _check_fields(got, want)
        else:
            if hasattr(got, "value") and not isinstance(got, int | float | str):
                got = got.value
            assert got == want, key
            assert type(want) is not float or isinstance(got, float), key


@pytest.mark.parametrize("vec", GOOD, ids=[v["name"] for v in GOOD])
def test_decode_vector(vec: dict[str, Any]) -> None:
    packet = decode_packet(bytes.fromhex(vec["hex"]))
    assert type(packet) is TYPES[vec["type"]]
    assert packet.token == vec["token"]
    assert packet.version == vec["version"]
    if vec["gw_eui"] is not None:
        assert str(packet.gw_eui) == vec["gw_eui"]  # type: ignore[union-attr]
    expect = dict(vec["expect"])
    if isinstance(packet, TxAck):
        assert packet.error.value == expect.pop("error")
        if expect:
            _check_fields(packet.txpk_ack, expect)
    else:
        _check_fields(packet, expect)


@pytest.mark.parametrize("vec", GOOD, ids=[v["name"] for v in GOOD])
def test_reencode_vector(vec: dict[str, Any]) -> None:
    packet = decode_packet(bytes.fromhex(vec["hex"]))
    want = vec.get("reencoded_hex", vec["hex"])
    assert packet.to_bytes().hex() == want
    assert decode_packet(packet.to_bytes()) == packet


@pytest.mark.parametrize("vec", BAD, ids=[v["name"] for v in BAD])
def test_malformed_vector(vec: dict[str, Any]) -> None:
    expected = getattr(errors, vec["error"])
    with pytest.raises(expected) as info:
        decode_packet(bytes.fromhex(vec["hex"]))
    assert isinstance(info.value, MalformedPacket)


def test_every_packet_type_has_a_vector() -> None:
    assert {v["type"] for v in GOOD} == set(TYPES)
