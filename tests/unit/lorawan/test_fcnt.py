"""full_f_cnt: the 32-bit frame counter from its 16 wire bits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.lorawan.errors import InvalidParameter
from services.lorawan.fcnt import full_f_cnt

TABLE = [
    # (wire16, last_full, expected)
    (0, None, 0),
    (0xFFFF, None, 0xFFFF),
    (1, 0, 1),
    (10, 5, 10),
    (5, 5, 5),  # same value: a replay, the caller rejects it
    (0xFFFF, 0xFFFE, 0xFFFF),
    (0, 0xFFFF, 0x10000),  # rollover of the low 16 bits
    (3, 0xFFF0, 0x10003),
    (0x0001, 0x1FFFF, 0x20001),
    (0x8000, 0x12345, 0x18000),
    (0x2345, 0x12345, 0x12345),
    (0x2344, 0x12345, 0x22344),  # lower than last's low bits: next 64K block
    (0xFFFF, 0xFFFFFFFE, 0xFFFFFFFF),
    (0x0000, 0xFFFFFFFF, 0x00000000),  # wraps at 2**32
]


@pytest.mark.parametrize(("wire16", "last", "expected"), TABLE)
def test_full_f_cnt_table(wire16: int, last: int | None, expected: int) -> None:
    assert full_f_cnt(wire16, last) == expected


@pytest.mark.parametrize(("wire16", "last"), [(-1, 0), (0x10000, 0), (0, -1), (0, 1 << 32)])
def test_full_f_cnt_range(wire16: int, last: int | None) -> None:
    with pytest.raises(InvalidParameter):
        full_f_cnt(wire16, last)


@settings(max_examples=300)
@given(last=st.integers(0, 0xFFFFFFFF - 0x10000), step=st.integers(0, 0xFFFF))
def test_full_f_cnt_recovers_any_forward_step(last: int, step: int) -> None:
    nxt = last + step
    assert full_f_cnt(nxt & 0xFFFF, last) == nxt
