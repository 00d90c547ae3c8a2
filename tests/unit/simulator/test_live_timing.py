"""Live mode: gateway tmst from simulated time, 32-bit wrap, receive-window matching."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.live.timing import U32, match_window, sim_time_of, tmst_at, tmst_delta


@pytest.mark.parametrize(
    ("offset", "t_s", "expected"),
    [
        (0, 0.0, 0),
        (0, 1.0, 1_000_000),
        (1000, 0.5, 501_000),
        (U32 - 1, 0.0, U32 - 1),
        (U32 - 1, 0.000001, 0),  # wraps to zero
        (U32 - 500_000, 1.0, 500_000),
        (0, 4294.967296, 0),  # exactly one full period of the counter
        (0, 4294.967297, 1),
    ],
)
def test_tmst_at(offset: int, t_s: float, expected: int) -> None:
    assert tmst_at(offset, t_s) == expected


@pytest.mark.parametrize(
    ("later", "earlier", "expected"),
    [
        (1_000_000, 0, 1_000_000),
        (0, 1_000_000, -1_000_000),
        (499_999, U32 - 500_001, 1_000_000),  # across the wrap
        (U32 - 500_001, 499_999, -1_000_000),
        (2**31 - 1, 0, 2**31 - 1),
        (2**31, 0, -(2**31)),  # the ambiguous half-way point counts as the past
        (5, 5, 0),
    ],
)
def test_tmst_delta(later: int, earlier: int, expected: int) -> None:
    assert tmst_delta(later, earlier) == expected


def test_sim_time_of_across_the_wrap() -> None:
    ref = U32 - 250_000  # the uplink ended 0.25 s before the counter wraps
    assert sim_time_of((ref + 1_000_000) % U32, ref, 100.0) == pytest.approx(101.0)
    assert sim_time_of((ref - 2_000_000) % U32, ref, 100.0) == pytest.approx(98.0)


@pytest.mark.parametrize(
    ("txpk", "uplink", "delay", "tol", "expected"),
    [
        (2_000_000, 1_000_000, 1, 0, "rx1"),
        (3_000_000, 1_000_000, 1, 0, "rx2"),
        (6_000_000, 1_000_000, 5, 0, "rx1"),  # JOIN_ACCEPT_DELAY1
        (7_000_000, 1_000_000, 5, 0, "rx2"),  # JOIN_ACCEPT_DELAY2
        (2_000_001, 1_000_000, 1, 0, None),  # one microsecond off, no tolerance
        (2_000_001, 1_000_000, 1, 2, "rx1"),
        (1_999_997, 1_000_000, 1, 2, None),
        (4_000_000, 1_000_000, 1, 0, None),  # RX1 delay 3 s is not this session's
        (4_000_000, 1_000_000, 3, 0, "rx1"),
        (500_000, U32 - 500_000, 1, 0, "rx1"),  # tmst wrapped between uplink and RX1
        (1_500_000, U32 - 500_000, 1, 0, "rx2"),
        (0, 1_000_000, 1, 0, None),  # in the past
    ],
)
def test_match_window(txpk: int, uplink: int, delay: int, tol: int, expected: str | None) -> None:
    assert match_window(txpk, uplink, delay, tol) == expected


@settings(max_examples=300)
@given(
    offset=st.integers(0, U32 - 1),
    t=st.floats(0, 1e6, allow_nan=False),
    delay=st.integers(1, 15),
)
def test_the_servers_rx_tmst_always_matches(offset: int, t: float, delay: int) -> None:
    """Whatever the counter offset and simulated time: tmst + delay (mod 2**32), as the network
    server computes it, lands in RX1, +1 s in RX2, and maps back to the simulated time."""
    up = tmst_at(offset, t)
    rx1 = (up + delay * 1_000_000) % U32
    assert match_window(rx1, up, delay) == "rx1"
    assert match_window((rx1 + 1_000_000) % U32, up, delay) == "rx2"
    assert sim_time_of(rx1, up, t) == pytest.approx(t + delay, abs=1e-6)
    assert match_window((rx1 + 17) % U32, up, delay) is None
