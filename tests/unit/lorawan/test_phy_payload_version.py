"""MacVersion parsing, and MType / MHDR helpers."""

from __future__ import annotations

import pytest

from services.lorawan import MHDR, InvalidParameter, MacVersion, MType, PhyPayload


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.0.3", MacVersion.V1_0_3),
        ("1.0.0", MacVersion.V1_0_0),
        ("1.0.4", MacVersion.V1_0_4),
        ("1.1", MacVersion.V1_1_0),
        ("1.1.0", MacVersion.V1_1_0),
        ("LORAWAN_1_0_2", MacVersion.V1_0_2),
        ("lorawan-1.1", MacVersion.V1_1_0),
        (MacVersion.V1_0_1, MacVersion.V1_0_1),
    ],
)
def test_parse(text: str, expected: MacVersion) -> None:
    assert MacVersion.parse(text) is expected


@pytest.mark.parametrize("text", ["", "2.0", "1.2.0", "abc"])
def test_parse_unknown(text: str) -> None:
    with pytest.raises(InvalidParameter):
        MacVersion.parse(text)


def test_is_11() -> None:
    assert [v.is_11 for v in MacVersion] == [False] * 5 + [True]


def test_mtype_helpers() -> None:
    assert [m.is_uplink for m in MType] == [True, False, True, False, True, False, True, False]
    assert [m.is_data for m in MType] == [False, False, True, True, True, True, False, False]
    assert MType.CONFIRMED_DATA_DOWN.is_confirmed and not MType.UNCONFIRMED_DATA_UP.is_confirmed
    assert MType.UNCONFIRMED_DATA_UP.label == "UnconfirmedDataUp"


@pytest.mark.parametrize("value", range(0, 256, 4))
def test_mhdr_all_r1_bytes(value: int) -> None:
    mhdr = MHDR.from_byte(value)
    assert mhdr.to_byte() == value


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_from_bytes_accepts_buffers(kind: type) -> None:
    raw = bytes.fromhex("40f17dbe4900020001954378762b11ff0d")
    assert PhyPayload.from_bytes(kind(raw)).to_bytes() == raw
