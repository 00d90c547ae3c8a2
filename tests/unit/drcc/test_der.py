"""DER and packet loss from frame-counter gaps."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.drcc.der import der_of, f_cnt_distance, packet_loss_pct, window_by_span

from .helpers import history


@pytest.mark.parametrize(
    ("f_cnts", "der", "span"),
    [
        ([], 1.0, 0),
        ([7], 1.0, 1),
        ([1, 2, 3, 4], 1.0, 4),
        ([1, 3, 5, 7], 4 / 7, 7),
        ([10, 20], 2 / 11, 11),
        ([1, 2, 2, 3], 1.0, 3),  # NbTrans repetition / redelivery counts once
        ([0xFFFFFFFE, 0xFFFFFFFF, 0, 1], 1.0, 4),  # 32-bit rollover
        ([0xFFFFFFFD, 1], 2 / 5, 5),  # rollover with a gap
        ([100, 101, 5, 6, 8], 3 / 4, 4),  # counter reset: restart at 5
    ],
)
def test_der_table(f_cnts: list[int], der: float, span: int) -> None:
    got, got_span = der_of(f_cnts)
    assert got == pytest.approx(der)
    assert got_span == span


def test_der_16_bit_counters_roll_over() -> None:
    assert der_of([0xFFFE, 0xFFFF, 0, 2], bits=16) == (pytest.approx(4 / 5), 5)


@pytest.mark.parametrize(
    ("older", "newer", "dist"), [(1, 5, 4), (0xFFFFFFFF, 0, 1), (5, 5, 0), (0xFFFFFFF0, 0x10, 0x20)]
)
def test_f_cnt_distance(older: int, newer: int, dist: int) -> None:
    assert f_cnt_distance(older, newer) == dist


def test_packet_loss_pct() -> None:
    assert packet_loss_pct(history(range(1, 21))) == pytest.approx(0.0)
    assert packet_loss_pct(history([1, 2, 4, 5])) == pytest.approx(20.0)
    assert packet_loss_pct(history([9])) == 0.0


def test_window_by_span_keeps_last_counters() -> None:
    assert window_by_span([1, 2, 3, 10, 12, 17], 8) == [10, 12, 17]
    assert window_by_span([0xFFFFFFFE, 0, 3], 8) == [0xFFFFFFFE, 0, 3]
    assert window_by_span([], 8) == []


@settings(max_examples=200, deadline=None)
@given(
    start=st.integers(min_value=0, max_value=0xFFFFFFFF),
    gaps=st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=40),
)
def test_der_is_received_over_span(start: int, gaps: list[int]) -> None:
    counters = [start]
    for g in gaps:
        counters.append((counters[-1] + g) & 0xFFFFFFFF)
    der, span = der_of(counters)
    assert span == sum(gaps) + 1
    assert der == pytest.approx(len(counters) / span)
    assert 0 < der <= 1
