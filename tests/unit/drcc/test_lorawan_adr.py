"""``lorawan-adr``: each rule as a table."""

from __future__ import annotations

import pytest

from services.drcc.plugins.lorawan_adr import (
    AdrParams,
    LoRaWanAdrPolicy,
    adr_steps,
    max_adr_dr,
    max_tx_power_index,
    nb_trans_for,
)
from services.lorawan.region import get_region

from .helpers import history, rec, request

EU = get_region("EU868")


def test_region_limits() -> None:
    assert max_adr_dr(EU) == 5
    assert max_tx_power_index(EU) == 7


@pytest.mark.parametrize(
    ("loss", "current", "expected"),
    [
        (0.0, 1, 1),
        (4.9, 3, 2),
        (5.0, 1, 1),
        (5.0, 2, 2),
        (9.9, 3, 3),
        (10.0, 1, 2),
        (29.9, 2, 3),
        (30.0, 1, 3),
        (80.0, 3, 3),
        (0.0, 5, 2),  # NbTrans above 3 uses the last column
    ],
)
def test_nb_trans_table(loss: float, current: int, expected: int) -> None:
    assert nb_trans_for(loss, current) == expected


@pytest.mark.parametrize(
    ("n_step", "dr", "pi", "expected"),
    [
        (0, 2, 1, (2, 1)),
        (2, 2, 1, (4, 1)),  # DR first
        (4, 3, 1, (5, 3)),  # up to DR5, then power down (index up)
        (20, 0, 0, (5, 7)),  # capped at DR5 / index 7
        (-1, 3, 2, (3, 1)),  # negative: power up (index down), DR kept
        (-5, 3, 2, (3, 0)),
        (-3, 0, 0, (0, 0)),  # nothing left to raise
    ],
)
def test_adr_steps(n_step: int, dr: int, pi: int, expected: tuple[int, int]) -> None:
    assert adr_steps(n_step, dr, pi, 5, 7) == expected


def test_not_enough_history_no_decision() -> None:
    pol = LoRaWanAdrPolicy()
    assert pol.decide(request(history(range(1, 20), snr=10.0))) is None


def test_configurable_min_history() -> None:
    pol = LoRaWanAdrPolicy(AdrParams(min_history=5))
    d = pol.decide(request(history(range(1, 6), snr=0.0)))
    assert d is not None and d.dr == 3


@pytest.mark.parametrize(
    ("snr", "dr", "pi", "expected"),
    [
        # margin = snr - required(DR) - 10; NStep = floor(margin / 3)
        (0.0, 0, 1, (3, 1)),  # 0 + 20 - 10 = 10 -> 3 steps: DR0 -> DR3
        (5.0, 0, 1, (5, 1)),  # 15 -> 5 steps: DR5
        (10.0, 3, 1, (5, 3)),  # 10 + 12.5 - 10 = 12.5 -> 4: DR5 then 2 power steps
        (-6.0, 5, 3, (5, 0)),  # -6 + 7.5 - 10 = -8.5 -> -3: power index 3 -> 0
    ],
)
def test_adr_decisions(snr: float, dr: int, pi: int, expected: tuple[int, int]) -> None:
    pol = LoRaWanAdrPolicy()
    d = pol.decide(request(history(range(1, 21), snr=snr, dr=dr, pi=pi), dr=dr, pi=pi))
    assert d is not None
    assert (d.dr, d.tx_power_index) == expected
    assert d.nb_trans == 1
    assert "nstep" in d.reason


def test_no_change_no_decision() -> None:
    pol = LoRaWanAdrPolicy()
    # DR5 at max power index 0 with a margin of 1 dB: NStep 0, no loss
    assert pol.decide(request(history(range(1, 21), snr=3.5, dr=5, pi=0), dr=5, pi=0)) is None


def test_uses_max_snr_over_history() -> None:
    pol = LoRaWanAdrPolicy()
    hist = list(history(range(1, 21), snr=-20.0))
    hist[7] = rec(8, snr=0.0)
    d = pol.decide(request(tuple(hist)))
    assert d is not None and d.dr == 3


def test_records_at_another_power_are_ignored() -> None:
    pol = LoRaWanAdrPolicy()
    old = history(range(1, 11), snr=10.0, pi=0)
    new = history(range(11, 31), snr=0.0, pi=1)
    d = pol.decide(request(old + new, pi=1))
    assert d is not None and d.dr == 3  # from SNR 0 dB, not 10 dB
    assert pol.decide(request(old + new[:15], pi=1)) is None  # 15 at this power: too few


def test_nb_trans_from_frame_counter_gaps() -> None:
    pol = LoRaWanAdrPolicy()
    # 20 received out of a span of 25: 20 % loss -> NbTrans 1 -> 2
    f_cnts = [c for c in range(1, 26) if c not in (3, 8, 13, 18, 23)]
    d = pol.decide(request(history(f_cnts, snr=-17.5, dr=0, pi=0), dr=0, pi=0))
    assert d is not None
    assert (d.dr, d.tx_power_index, d.nb_trans) == (0, 0, 2)
    assert "loss 20.0%" in d.reason


def test_channels_are_kept() -> None:
    pol = LoRaWanAdrPolicy()
    chans = (868_100_000.0, 868_300_000.0, 868_500_000.0)
    d = pol.decide(request(history(range(1, 21), snr=0.0), channels=chans))
    assert d is not None and d.channels_hz == chans
