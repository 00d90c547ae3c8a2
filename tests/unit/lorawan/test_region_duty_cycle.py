"""Regulatory sub-bands and duty-cycle limits (ETSI EN 300 220-2 / ERC REC 70-03 for EU868)."""

from __future__ import annotations

import itertools

import pytest

from services.lorawan.errors import InvalidParameter
from services.lorawan.region import get_region, list_regions


@pytest.mark.parametrize(
    ("freq", "band", "duty_cycle"),
    [
        (863_000_000, "863-865", 0.001),
        (864_900_000, "863-865", 0.001),
        (865_000_000, "865-868", 0.01),
        (867_100_000, "865-868", 0.01),
        (867_900_000, "865-868", 0.01),
        (868_000_000, "g", 0.01),
        (868_100_000, "g", 0.01),
        (868_300_000, "g", 0.01),
        (868_500_000, "g", 0.01),
        (868_800_000, "g1", 0.001),
        (869_100_000, "g1", 0.001),
        (869_400_000, "g2", 0.1),
        (869_525_000, "g2", 0.1),
        (869_800_000, "g3", 0.01),
        (870_000_000, "g3", 0.01),
    ],
)
def test_eu868_sub_bands(freq: int, band: str, duty_cycle: float) -> None:
    region = get_region("EU868")
    assert region.sub_band(freq).name == band
    assert region.duty_cycle(freq) == duty_cycle


@pytest.mark.parametrize(
    "freq", [862_900_000, 868_600_000, 868_650_000, 869_300_000, 869_675_000, 870_100_000]
)
def test_eu868_gaps_and_outside(freq: int) -> None:
    with pytest.raises(InvalidParameter):
        get_region("EU868").duty_cycle(freq)


def test_eu868_sub_bands_do_not_overlap() -> None:
    bands = sorted(get_region("EU868").sub_bands, key=lambda b: b.min_hz)
    for a, b in itertools.pairwise(bands):
        assert a.max_hz <= b.min_hz


def test_eu868_rx2_and_default_channels_duty_cycle() -> None:
    region = get_region("EU868")
    assert region.duty_cycle(region.rx2_frequency_hz) == 0.1
    assert region.sub_band(region.rx2_frequency_hz).max_erp_dbm == 27.0
    assert {region.duty_cycle(c.frequency_hz) for c in region.default_channels()} == {0.01}


@pytest.mark.parametrize("name", [n for n in list_regions() if n != "EU868"])
def test_other_regions_have_no_duty_cycle(name: str) -> None:
    region = get_region(name)
    for ch in region.default_channels():
        assert region.duty_cycle(ch.frequency_hz) == 1.0
    assert region.duty_cycle(region.rx2_frequency_hz) == 1.0
    with pytest.raises(InvalidParameter):
        region.duty_cycle(region.frequency_min_hz - 1)
