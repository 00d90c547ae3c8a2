"""Unit tests of the pure radio functions (simulator/radio.py)."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import radio


@pytest.mark.parametrize(
    ("distance", "expected"),
    [
        (40.0, 127.41),  # PL(d0)
        (400.0, 127.41 + 20.8),  # one decade: 10 * gamma
        (4000.0, 127.41 + 41.6),
        (4.0, 127.41 - 20.8),
        (0.0, 127.41 + 20.8 * math.log10(1 / 40)),  # clamped to 1 m
    ],
)
def test_path_loss_lorasim_constants(distance: float, expected: float) -> None:
    assert radio.path_loss_db(distance) == pytest.approx(expected, abs=1e-9)


def test_path_loss_custom_model() -> None:
    # ns-3 style urban: 7.7 dB at 1 m, exponent 3.76
    assert radio.path_loss_db(1000.0, 1.0, 7.7, 3.76) == pytest.approx(7.7 + 3 * 37.6)


def test_lorasim_sf12_range() -> None:
    # LoRaSim: maxDist = d0 * e^((Ptx - sens - PL(d0)) / (10 gamma)) with log10 path loss
    budget = 14.0 - radio.sensitivity_dbm(12, 125_000)
    d = radio.max_distance_m(budget)
    assert d == pytest.approx(40.0 * 10 ** ((147.25 - 127.41) / 20.8))
    assert 355.0 < d < 365.0


@settings(max_examples=300)
@given(st.floats(min_value=1.0, max_value=50_000.0))
def test_max_distance_inverts_path_loss(d: float) -> None:
    assert radio.max_distance_m(radio.path_loss_db(d)) == pytest.approx(d, rel=1e-9)


@settings(max_examples=200)
@given(st.floats(min_value=1.0, max_value=10_000.0), st.floats(min_value=1.0, max_value=10_000.0))
def test_path_loss_monotonic(a: float, b: float) -> None:
    if a < b:
        assert radio.path_loss_db(a) <= radio.path_loss_db(b)


def test_rssi() -> None:
    assert radio.rssi_dbm(14.0, 140.0) == -126.0
    assert radio.rssi_dbm(14.0, 140.0, antenna_gain_db=3.0) == -123.0


def test_shadowing() -> None:
    rng = random.Random(5)
    assert radio.shadowing_db(rng, 0.0) == 0.0
    draws = [radio.shadowing_db(rng, 8.0) for _ in range(20_000)]
    mean = sum(draws) / len(draws)
    std = math.sqrt(sum((x - mean) ** 2 for x in draws) / len(draws))
    assert abs(mean) < 0.2
    assert std == pytest.approx(8.0, rel=0.03)


@pytest.mark.parametrize(
    ("sf", "bw", "expected"),
    [
        (7, 125_000, -126.5),
        (8, 125_000, -127.25),
        (9, 125_000, -131.25),
        (10, 125_000, -132.75),
        (11, 125_000, -134.5),
        (12, 125_000, -133.25),
        (7, 250_000, -124.25),
        (12, 500_000, -132.25),
    ],
)
def test_sensitivity_table(sf: int, bw: int, expected: float) -> None:
    assert radio.sensitivity_dbm(sf, bw) == expected


def test_sensitivity_unknown_pair() -> None:
    with pytest.raises(KeyError):
        radio.sensitivity_dbm(6, 125_000)


def test_above_sensitivity_boundary() -> None:
    assert radio.above_sensitivity(-133.25, 12)
    assert not radio.above_sensitivity(-133.26, 12)


def test_noise_floor_and_snr() -> None:
    nf = radio.noise_floor_dbm(125_000, 6.0)
    assert nf == pytest.approx(-174 + 10 * math.log10(125_000) + 6)
    assert nf == pytest.approx(-117.03, abs=0.01)
    assert radio.snr_db(-110.0) == pytest.approx(-110.0 - nf)
    assert radio.SNR_THRESHOLD_DB[7] == -7.5
    assert radio.SNR_THRESHOLD_DB[12] == -20.0


@pytest.mark.parametrize(
    ("f1", "b1", "f2", "b2", "overlap"),
    [
        (868.1e6, 125_000, 868.1e6, 125_000, True),
        (868.1e6, 125_000, 868.3e6, 125_000, False),  # EU868 200 kHz raster
        (868.1e6, 125_000, 868.2e6, 125_000, True),  # 100 kHz apart: 125 kHz overlap
        (868.1e6, 125_000, 868.225e6, 125_000, False),  # exactly adjacent
        (868.1e6, 500_000, 868.3e6, 125_000, True),
    ],
)
def test_frequency_overlap(f1: float, b1: int, f2: float, b2: int, overlap: bool) -> None:
    assert radio.frequency_overlap(f1, b1, f2, b2) is overlap
    assert radio.frequency_overlap(f2, b2, f1, b1) is overlap


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ((0, 1), (0.5, 2), True),
        ((0, 1), (1, 2), False),
        ((1, 2), (0, 1.5), True),
        ((0, 3), (1, 2), True),
    ],
)
def test_time_overlap(a: tuple[float, float], b: tuple[float, float], overlap: bool) -> None:
    assert radio.time_overlap(*a, *b) is overlap


def test_preamble_grace_is_three_symbols() -> None:
    assert radio.preamble_grace_s(12, 125_000) == pytest.approx(3 * 4096 / 125_000)
    assert radio.preamble_grace_s(7, 125_000, preamble_symbols=8, lock_symbols=5) == pytest.approx(
        3 * 128 / 125_000
    )
    assert radio.preamble_grace_s(7, 125_000, preamble_symbols=4, lock_symbols=5) == 0.0


@pytest.mark.parametrize(
    ("later_start", "earlier_end", "saved"),
    [(10.0, 10.05, True), (10.0, 10.098304, True), (10.0, 10.1, False), (10.0, 9.0, True)],
)
def test_saved_by_preamble(later_start: float, earlier_end: float, saved: bool) -> None:
    grace = radio.preamble_grace_s(12, 125_000)  # 98.304 ms
    assert radio.saved_by_preamble(later_start, earlier_end, grace) is saved


@pytest.mark.parametrize(
    ("wanted", "interferer", "threshold", "survives"),
    [
        (-100.0, -106.0, 6.0, True),
        (-100.0, -105.9, 6.0, False),
        (-100.0, -100.0, 6.0, False),
        (-100.0, -130.0, None, False),  # capture disabled
        (-100.0, -103.0, 3.0, True),
    ],
)
def test_capture(wanted: float, interferer: float, threshold: float | None, survives: bool) -> None:
    assert radio.captured(wanted, interferer, threshold) is survives


def test_croce_matrix_shape_and_values() -> None:
    m = radio.CROCE_SIR_THRESHOLD_DB
    assert len(m) == 6 and all(len(row) == 6 for row in m)
    assert all(m[i][i] == 1.0 for i in range(6))
    assert radio.sir_threshold_db(7, 8) == -8.0
    assert radio.sir_threshold_db(12, 7) == -25.0
    assert radio.sir_threshold_db(9, 12) == -15.0
    # higher SFs tolerate more interference from the others
    assert all(m[i + 1][0] < m[i][0] for i in range(1, 5))


@pytest.mark.parametrize(
    ("wanted_rssi", "sf_w", "intf_rssi", "sf_i", "survives"),
    [
        (-120.0, 12, -95.0, 7, True),  # SIR -25 dB = threshold
        (-120.0, 12, -94.0, 7, False),
        (-100.0, 7, -92.0, 8, True),  # SIR -8 dB
        (-100.0, 7, -91.0, 8, False),
    ],
)
def test_inter_sf(
    wanted_rssi: float, sf_w: int, intf_rssi: float, sf_i: int, survives: bool
) -> None:
    assert radio.survives_inter_sf(wanted_rssi, sf_w, intf_rssi, sf_i) is survives


def test_snr_sensitivity() -> None:
    # SF12 at 125 kHz, NF 6 dB: -117.03 - 20 = -137.03 dBm (SX1276 datasheet: -137 dBm)
    assert radio.snr_sensitivity_dbm(12) == pytest.approx(-137.03, abs=0.01)
    assert radio.snr_sensitivity_dbm(7) == pytest.approx(-124.53, abs=0.01)
