"""services/lorawan/airtime.py against published values and the AN1200.13 equation.

Vectors: tests/vectors/airtime_published.json (third-party calculators, source per case) and
tests/vectors/airtime_an1200_13.json (coverage table: SF7-SF12, BW125/250/500, CR 4/5..4/8,
CRC on/off, implicit header, LDRO rule, evaluated exactly). The regional-parameters payload
tables are cross-checked for consistency with the 400 ms dwell-time limit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.lorawan.airtime import (
    fsk_time_on_air,
    payload_symbols,
    symbol_time,
    time_on_air,
    time_on_air_ms,
)
from services.lorawan.errors import InvalidParameter
from services.lorawan.region import get_region

VECTORS = Path(__file__).parents[2] / "vectors"
PUBLISHED = json.loads((VECTORS / "airtime_published.json").read_text())["cases"]
AN1200 = json.loads((VECTORS / "airtime_an1200_13.json").read_text())["cases"]

DWELL_LIMIT_S = 0.400
LORAWAN_OVERHEAD = 5  # MHDR (1) + MIC (4) around the MACPayload


def _kwargs(case: dict[str, Any]) -> dict[str, Any]:
    return {
        "cr": case["cr"],
        "crc": case["crc"],
        "implicit_header": case["implicit_header"],
        "low_dr_optimize": case["low_dr_optimize"],
        "preamble": case.get("preamble", 8),
    }


@pytest.mark.parametrize("case", PUBLISHED, ids=lambda c: f"SF{c['sf']}-PL{c['payload_len']}")
def test_published_values(case: dict[str, Any]) -> None:
    kw = _kwargs(case)
    toa = time_on_air(case["payload_len"], case["sf"], case["bw_hz"], **kw)
    assert toa * 1000 == pytest.approx(case["time_on_air_ms"], abs=1e-6)
    assert symbol_time(case["sf"], case["bw_hz"]) * 1000 == pytest.approx(case["symbol_time_ms"])
    pre = (8 + 4.25) * symbol_time(case["sf"], case["bw_hz"]) * 1000
    assert pre == pytest.approx(case["preamble_ms"])
    assert toa * 1000 - pre == pytest.approx(case["payload_ms"])
    if "payload_symbols" in case:
        kw.pop("preamble")
        n = payload_symbols(case["payload_len"], case["sf"], case["bw_hz"], **kw)
        assert n == case["payload_symbols"]
    # the automatic LDRO rule gives the same answer as the calculator's explicit setting
    auto = time_on_air(case["payload_len"], case["sf"], case["bw_hz"], cr=case["cr"])
    assert auto == pytest.approx(toa)


def _id(c: dict[str, Any]) -> str:
    flags = ("" if c["crc"] else "-nocrc") + ("-ih" if c["implicit_header"] else "")
    return f"SF{c['sf']}-BW{c['bw_hz'] // 1000}-CR{c['cr']}-PL{c['payload_len']}{flags}"


@pytest.mark.parametrize("case", AN1200, ids=_id)
def test_an1200_13_table(case: dict[str, Any]) -> None:
    kw = _kwargs(case)
    toa = time_on_air(case["payload_len"], case["sf"], case["bw_hz"], **kw)
    assert toa * 1e6 == pytest.approx(case["time_on_air_us"], rel=1e-12)
    kw.pop("preamble")
    assert (
        payload_symbols(case["payload_len"], case["sf"], case["bw_hz"], **kw)
        == (case["payload_symbols"])
    )
    assert time_on_air_ms(case["payload_len"], case["sf"], case["bw_hz"], **_kwargs(case)) == (
        pytest.approx(case["time_on_air_us"] / 1000, rel=1e-12)
    )


def test_coverage_of_the_table() -> None:
    """The vector table really spans what the brief asks for."""
    assert {c["sf"] for c in AN1200} == set(range(7, 13))
    assert {c["bw_hz"] for c in AN1200} == {125_000, 250_000, 500_000}
    assert {c["cr"] for c in AN1200} == {1, 2, 3, 4}
    assert {c["crc"] for c in AN1200} == {True, False}
    assert {c["implicit_header"] for c in AN1200} == {True, False}
    assert {c["ldro_applied"] for c in AN1200} == {True, False}


@pytest.mark.parametrize(
    ("sf", "bw", "ldro"),
    [
        (10, 125_000, False),
        (11, 125_000, True),
        (12, 125_000, True),
        (11, 250_000, False),
        (12, 250_000, True),
        (12, 500_000, False),
        (7, 500_000, False),
    ],
)
def test_ldro_rule(sf: int, bw: int, ldro: bool) -> None:
    """LDRO is on exactly when the symbol time reaches 16 ms."""
    auto = payload_symbols(51, sf, bw)
    assert auto == payload_symbols(51, sf, bw, low_dr_optimize=ldro)
    assert auto != payload_symbols(51, sf, bw, low_dr_optimize=not ldro)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"payload_len": 10, "sf": 13},
        {"payload_len": 10, "sf": 4},
        {"payload_len": 10, "sf": 7, "cr": 0},
        {"payload_len": 10, "sf": 7, "cr": 5},
        {"payload_len": -1, "sf": 7},
        {"payload_len": 256, "sf": 7},
        {"payload_len": 10, "sf": 7, "preamble": -1},
        {"payload_len": 10, "sf": 7, "bw_hz": 0},
        {"payload_len": 10, "sf": -1},
    ],
)
def test_invalid_parameters(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidParameter):
        time_on_air(**kwargs)


def test_fsk_time_on_air() -> None:
    # 5 preamble + 3 sync + 1 length + 10 payload + 2 CRC bytes at 50 kbit/s
    assert fsk_time_on_air(10) == pytest.approx(21 * 8 / 50_000)
    assert fsk_time_on_air(10, bitrate=100_000, preamble_bytes=3) == pytest.approx(19 * 8 / 1e5)
    with pytest.raises(InvalidParameter):
        fsk_time_on_air(-1)
    with pytest.raises(InvalidParameter):
        fsk_time_on_air(1, bitrate=0)


@settings(max_examples=300, deadline=None)
@given(
    pl=st.integers(0, 254),
    sf=st.integers(7, 12),
    bw=st.sampled_from([125_000, 250_000, 500_000]),
    cr=st.integers(1, 4),
    crc=st.booleans(),
    ih=st.booleans(),
)
def test_monotonic(pl: int, sf: int, bw: int, cr: int, crc: bool, ih: bool) -> None:
    t = time_on_air(pl, sf, bw, cr=cr, crc=crc, implicit_header=ih)
    assert time_on_air(pl + 1, sf, bw, cr=cr, crc=crc, implicit_header=ih) >= t
    if cr < 4:
        assert time_on_air(pl, sf, bw, cr=cr + 1, crc=crc, implicit_header=ih) >= t
    if sf < 12:
        assert time_on_air(pl, sf + 1, bw, cr=cr, crc=crc, implicit_header=ih) > t
    if bw < 500_000:
        assert time_on_air(pl, sf, bw * 2, cr=cr, crc=crc, implicit_header=ih) < t
    assert time_on_air(pl, sf, bw, cr=cr, crc=True, implicit_header=ih) >= time_on_air(
        pl, sf, bw, cr=cr, crc=False, implicit_header=ih
    )
    assert time_on_air(pl, sf, bw, cr=cr, crc=crc, implicit_header=False) >= time_on_air(
        pl, sf, bw, cr=cr, crc=crc, implicit_header=True
    )
    # symbol count is 8 plus whole blocks of (CR + 4) symbols
    assert (payload_symbols(pl, sf, bw, cr, crc, ih) - 8) % (cr + 4) == 0


# ---- regional-parameters consistency -----------------------------------------------------------


def _uplink_toa(region_name: str, dr: int, mac_payload: int) -> float:
    d = get_region(region_name).data_rate(dr)
    assert d.sf is not None and d.bw_hz is not None
    return time_on_air(mac_payload + LORAWAN_OVERHEAD, d.sf, d.bw_hz)


@pytest.mark.parametrize(
    ("name", "dwell", "drs"),
    [
        ("US915", False, [0, 1, 2, 3, 4]),  # US915 uplinks always obey the 400 ms dwell time
        ("AS923", True, [2, 3, 4, 5, 6]),
        ("AU915", True, [2, 3, 4, 5, 6]),
    ],
)
def test_dwell_time_payload_tables_are_maximal(name: str, dwell: bool, drs: list[int]) -> None:
    """M is the largest MACPayload whose uplink stays within 400 ms (or the 250-byte cap)."""
    region = get_region(name)
    for dr in drs:
        m = region.max_payload(dr, dwell_time=dwell).m
        assert _uplink_toa(name, dr, m) <= DWELL_LIMIT_S, (name, dr)
        if m < 250:
            assert _uplink_toa(name, dr, m + 1) > DWELL_LIMIT_S, (name, dr)


@pytest.mark.parametrize("name", ["AS923", "AU915"])
def test_dwell_time_forbids_sf11_and_sf12(name: str) -> None:
    """DR0/DR1 are N/A with the dwell time: even an empty frame (M = 7) exceeds 400 ms."""
    region = get_region(name)
    for dr in (0, 1):
        with pytest.raises(InvalidParameter):
            region.max_payload(dr, dwell_time=True)
        assert _uplink_toa(name, dr, 7) > DWELL_LIMIT_S


def test_eu868_max_payload_airtime() -> None:
    """EU868: the longest uplink (DR0, M = 59) lasts 2.79 s; with the 1% duty cycle of the
    default channels the device must then stay silent for ~276 s on that sub-band."""
    region = get_region("EU868")
    toa = _uplink_toa("EU868", 0, region.max_payload(0).m)
    assert toa == pytest.approx(2.793472, abs=1e-6)
    off_time = toa / region.duty_cycle(868_100_000) - toa
    assert off_time == pytest.approx(276.55, abs=0.01)
    # a larger M at DR0 would need a longer frame than any EU868 LoRa DR allows for 59 bytes
    longest = [_uplink_toa("EU868", dr, region.max_payload(dr).m) for dr in range(7)]
    assert max(longest) == longest[0]
