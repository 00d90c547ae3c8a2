"""Partitioner (Kafka-compatible murmur2) and key extraction from raw PHYPayloads."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.bus.errors import UnroutableFrame
from services.bus.keys import key_for_uplink, key_for_uplink_or, partition_for

# Expected values from the Apache Kafka Java client's UtilsTest.testMurmur2 (signed 32-bit).
JAVA_MURMUR2 = [
    ("21", -973932308),
    ("foobar", -790332482),
    ("a-little-bit-long-string", -985981536),
    ("a-little-bit-longer-string", -1486304829),
    ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
    ("abc", 479470107),
]


@pytest.mark.parametrize(("key", "signed_hash"), JAVA_MURMUR2)
def test_partition_matches_kafka_default_partitioner(key: str, signed_hash: int) -> None:
    for n in (1, 3, 8, 12, 1000):
        assert partition_for(key, n) == (signed_hash & 0x7FFFFFFF) % n


def test_partition_bytes_and_str_agree_and_reject_zero() -> None:
    assert partition_for("26011BDA", 16) == partition_for(b"26011BDA", 16)
    with pytest.raises(ValueError):
        partition_for("x", 0)


def test_partitions_spread() -> None:
    counts = [0] * 8
    for i in range(4000):
        counts[partition_for(f"{i:08X}", 8)] += 1
    assert min(counts) > 350  # roughly uniform (500 expected each)


DEV_ADDR_LE = bytes.fromhex("DA1B0126")  # DevAddr 26011BDA on the air
DEV_EUI_LE = bytes.fromhex("010000D07ED5B370")  # DevEUI 70B3D57ED0000001 on the air
JOIN_EUI_LE = bytes.fromhex("000000D07ED5B370")
MIC = b"\x11\x22\x33\x44"

CASES = [
    ("unconfirmed up", b"\x40" + DEV_ADDR_LE + b"\x80\x01\x00" + b"\x01\xaa" + MIC, "26011BDA"),
    ("confirmed up, no port", b"\x80" + DEV_ADDR_LE + b"\x00\x05\x00" + MIC, "26011BDA"),
    ("unconfirmed down", b"\x60" + DEV_ADDR_LE + b"\x20\x01\x00" + MIC, "26011BDA"),
    ("confirmed down", b"\xa0" + DEV_ADDR_LE + b"\x20\x01\x00" + MIC, "26011BDA"),
    ("join request", b"\x00" + JOIN_EUI_LE + DEV_EUI_LE + b"\x34\x12" + MIC, "70B3D57ED0000001"),
    (
        "rejoin type 0",
        b"\xc0\x00" + b"\x13\x00\x00" + DEV_EUI_LE + b"\x01\x00" + MIC,
        "70B3D57ED0000001",
    ),
    (
        "rejoin type 2",
        b"\xc0\x02" + b"\x13\x00\x00" + DEV_EUI_LE + b"\x01\x00" + MIC,
        "70B3D57ED0000001",
    ),
    (
        "rejoin type 1",
        b"\xc0\x01" + JOIN_EUI_LE + DEV_EUI_LE + b"\x01\x00" + MIC,
        "70B3D57ED0000001",
    ),
]


@pytest.mark.parametrize(("name", "phy", "key"), CASES, ids=[c[0] for c in CASES])
def test_key_for_valid_frames(name: str, phy: bytes, key: str) -> None:
    assert key_for_uplink(phy) == key
    assert key_for_uplink(bytearray(phy)) == key


GARBAGE = [
    ("empty", b""),
    ("mhdr only", b"\x40"),
    ("data too short", b"\x40" + DEV_ADDR_LE + b"\x00\x01" + MIC),
    ("join request short", b"\x00" + JOIN_EUI_LE + DEV_EUI_LE + MIC),
    ("join request long", b"\x00" + JOIN_EUI_LE + DEV_EUI_LE + b"\x00\x00" + MIC + b"\x00"),
    ("join accept", b"\x20" + bytes(16)),
    ("proprietary", b"\xe0" + bytes(20)),
    ("major 1", b"\x41" + DEV_ADDR_LE + b"\x00\x01\x00" + MIC),
    ("rejoin type 3", b"\xc0\x03" + bytes(17)),
    ("rejoin type 0 wrong length", b"\xc0\x00" + bytes(18)),
    ("rejoin no type", b"\xc0"),
]


@pytest.mark.parametrize(("name", "phy"), GARBAGE, ids=[g[0] for g in GARBAGE])
def test_garbage_is_unroutable(name: str, phy: bytes) -> None:
    with pytest.raises(UnroutableFrame):
        key_for_uplink(phy)
    assert key_for_uplink_or(phy, "0102030405060708") == "0102030405060708"


def test_non_bytes_is_unroutable() -> None:
    with pytest.raises(UnroutableFrame):
        key_for_uplink("40DA1B0126")  # type: ignore[arg-type]


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_never_leak_other_errors(phy: bytes) -> None:
    try:
        key = key_for_uplink(phy)
    except UnroutableFrame:
        return
    assert len(key) in (8, 16)
    assert key == key.upper() and bytes.fromhex(key)
    if len(key) == 8:
        assert bytes.fromhex(key)[::-1] == phy[1:5]
