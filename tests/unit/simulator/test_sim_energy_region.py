"""Unit tests of the energy model and the simulator's regional tables."""

from __future__ import annotations

import pytest

from simulator import energy
from simulator.region import EU868, get_sim_region


@pytest.mark.parametrize(
    ("dbm", "ma"),
    [
        (-5.0, 17.0),
        (0.0, 17.0),
        (7.0, 20.0),
        (10.0, 24.5),
        (14.0, 44.0),
        (20.0, 120.0),
        (25.0, 120.0),
    ],
)
def test_tx_current(dbm: float, ma: float) -> None:
    assert energy.tx_current_ma(dbm) == pytest.approx(ma)


def test_energy() -> None:
    assert energy.tx_energy_j(14.0, 1.0, 3.0) == pytest.approx(0.044 * 3.0)
    assert energy.rx_energy_j(2.0, 3.3) == pytest.approx(energy.RX_CURRENT_MA * 1e-3 * 3.3 * 2.0)


def test_eu868_tables() -> None:
    r = get_sim_region("eu868")
    assert r is EU868
    assert r.dr_of(12, 125_000) == 0
    assert r.dr_of(7, 125_000) == 5
    assert r.dr_of(7, 250_000) == 6
    with pytest.raises(KeyError):
        r.dr_of(6, 125_000)
    assert [r.tx_power_dbm(i) for i in (0, 1, 7)] == [16.0, 14.0, 2.0]
    assert r.tx_power_index_of(14.0) == 1
    assert r.tx_power_index_of(15.0) == 1
    assert r.tx_power_index_of(0.0) == 7
    band = r.sub_band_of(868_100_000)
    assert band is not None and band.duty_cycle == 0.01
    rx2 = r.sub_band_of(r.rx2_freq_hz)
    assert rx2 is not None and rx2.duty_cycle == 0.10
    assert r.sub_band_of(870_500_000) is None
    with pytest.raises(KeyError):
        get_sim_region("XX999")
