"""``drcc``: each rule as a table or a scenario."""

from __future__ import annotations

import dataclasses

import pytest

from services.drcc.plugins.drcc import DrccParams, DrccPolicy

from .helpers import CH8, history, request

#: rules in isolation: no rate limit, no downlink-cost filter, small sample requirement
FREE = DrccParams(
    min_samples=4, min_uplinks=1, min_interval_s=0.0, min_gain_ratio=0.0, snr_guard_db=3.0
)


def policy(**changes: object) -> DrccPolicy:
    return DrccPolicy(dataclasses.replace(FREE, **changes))  # type: ignore[arg-type]


EVERY_OTHER = list(range(1, 33, 2))  # DER 0.5
ALL = list(range(1, 17))  # DER 1.0


@pytest.mark.parametrize(
    ("f_cnts", "was_degraded", "degraded"),
    [
        (EVERY_OTHER, False, True),  # below der_low (0.75)
        ([c for c in range(1, 17) if c % 5], False, False),  # 0.81: inside the band, stays
        ([c for c in range(1, 17) if c % 5], True, True),  # inside the band, stays degraded
        ([c for c in range(1, 21) if c not in (10, 15)], True, True),  # 0.875: still degraded
        (ALL, True, False),  # at der_high or above: healthy again
    ],
)
def test_der_thresholds_with_hysteresis(
    f_cnts: list[int], was_degraded: bool, degraded: bool
) -> None:
    pol = policy()
    pol.state_of("0102030405060708").degraded = was_degraded
    # DR5, SNR 1 dB above the floor: no faster DR possible, never link-limited
    pol.decide(request(history(f_cnts, snr=-6.5, dr=5), dr=5))
    assert pol.state_of("0102030405060708").degraded is degraded


@pytest.mark.parametrize(
    ("snr", "expected_dr"),
    [
        (-17.5, None),  # margin 2.5 - guard 3 < 0: stays
        (-12.0, 2),  # 8 - 3 = 5 dB -> 2 steps
        (-9.9, 2),  # 7.1 dB -> 2 steps (never beyond what the SNR supports)
        (-7.5, 3),  # 9.5 dB -> 3 steps
        (5.0, 5),  # capped at the highest ADR data rate
    ],
)
def test_snr_guard_limits_raises(snr: float, expected_dr: int | None) -> None:
    d = policy().decide(request(history(ALL, snr=snr, dr=0), dr=0))
    if expected_dr is None:
        assert d is None
    else:
        assert d is not None and d.dr == expected_dr
        assert d.reason.startswith("healthy")


def test_link_limited_raises_power_first() -> None:
    # DR3 needs -12.5 dB; -16 dB is 3.5 dB short (link floor -2 dB): +2 dB of power is enough
    d = policy().decide(request(history(EVERY_OTHER, snr=-16.0, dr=3, pi=1), dr=3, pi=1))
    assert d is not None
    assert (d.dr, d.tx_power_index) == (3, 0)
    assert d.reason.startswith("link-limited")


def test_link_limited_lowers_dr_at_full_power_and_sets_a_ceiling() -> None:
    pol = policy()
    dev = "0102030405060708"
    d = pol.decide(request(history(EVERY_OTHER, snr=-17.0, dr=3, pi=0), dr=3, pi=0))
    assert d is not None and (d.dr, d.tx_power_index) == (2, 0)
    assert pol.state_of(dev).ceiling == 2
    # later, healthy with a huge margin: not above the ceiling while it holds
    later = history(range(100, 116), snr=10.0, dr=2, pi=0)
    d2 = pol.decide(request(later, dr=2, pi=0, now=3500.0))
    assert d2 is None
    d3 = pol.decide(request(later, dr=2, pi=0, now=3100.0 + 3600.0))  # hold expired
    assert d3 is not None and d3.dr == 5


def test_link_limited_at_dr0_full_power_raises_nb_trans() -> None:
    d = policy().decide(request(history(EVERY_OTHER, snr=-23.0, dr=0, pi=0), dr=0, pi=0))
    assert d is not None
    assert (d.dr, d.tx_power_index, d.nb_trans) == (0, 0, 3)  # 50 % loss


def test_collision_limited_moves_to_the_least_loaded_faster_group() -> None:
    # DR3 with 5.5 dB of margin after the guard: DR4 and DR5 reachable
    loads = {0: 0.3, 1: 0.3, 2: 0.3, 3: 0.2, 4: 0.05, 5: 0.1}
    d = policy().decide(
        request(history(EVERY_OTHER, snr=-4.0, dr=3), dr=3, nb_trans=2, dr_load=loads)
    )
    assert d is not None
    assert d.dr == 4 and d.nb_trans == 1
    assert d.reason.startswith("collision-limited")


def test_collision_limited_faster_group_must_not_be_busier() -> None:
    loads = {3: 0.05, 4: 0.2, 5: 0.3}
    d = policy().decide(request(history(EVERY_OTHER, snr=-4.0, dr=3), dr=3, dr_load=loads))
    assert d is None


def test_collision_limited_slower_moves_are_gated_per_device() -> None:
    loads = {0: 0.6, 1: 0.6, 2: 0.6, 3: 0.6, 4: 0.05, 5: 0.5}
    moved = 0
    devs = [f"{i:016X}" for i in range(400)]
    for dev in devs:
        pol = policy()
        req = request(history(EVERY_OTHER, snr=-6.5, dr=5), dr=5, dr_load=loads, dev_eui=dev)
        d = pol.decide(req)
        again = policy().decide(req)
        assert (d is None) == (again is None)  # the same device always decides the same
        if d is not None:
            assert d.dr == 4
            moved += 1
    # f = (0.5 - 0.05) / ((1 + r) * 0.5) with r = toa(SF8)/toa(SF7) ~ 1.86; damping 0.5
    assert 0.08 < moved / len(devs) < 0.24
    # groups about as busy: nobody moves
    even = {0: 0.6, 1: 0.6, 2: 0.6, 3: 0.6, 4: 0.4, 5: 0.5}
    assert all(
        policy().decide(
            request(history(EVERY_OTHER, snr=-6.5, dr=5), dr=5, dr_load=even, dev_eui=d)
        )
        is None
        for d in devs[:50]
    )


def _hot_load(hot: float = 0.3) -> dict[float, float]:
    return {f: (hot if i == 0 else 0.05) for i, f in enumerate(CH8)}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, CH8[1:]),  # steered off the loaded channel
        ({"min_channels": 8}, None),  # would leave too few channels
        ({"keep_default_channels": True}, None),  # 868.1 MHz is a default channel
    ],
)
def test_channel_balancing(changes: dict[str, object], expected: tuple[float, ...] | None) -> None:
    d = policy(**changes).decide(
        request(history(EVERY_OTHER, snr=-6.5, dr=5), dr=5, channel_load=_hot_load())
    )
    if expected is None:
        assert d is None
    else:
        assert d is not None and d.channels_hz == expected and d.dr == 5


def test_balanced_channels_are_left_alone() -> None:
    flat = dict.fromkeys(CH8, 0.1)
    d = policy().decide(request(history(EVERY_OTHER, snr=-6.5, dr=5), dr=5, channel_load=flat))
    assert d is None


def test_channels_given_back_when_no_longer_loaded() -> None:
    flat = dict.fromkeys(CH8, 0.1)
    d = policy().decide(
        request(history(ALL, snr=-6.5, dr=5), dr=5, channels=CH8[1:], channel_load=flat)
    )
    assert d is not None and d.channels_hz == CH8
    hot = policy().decide(
        request(history(ALL, snr=-6.5, dr=5), dr=5, channels=CH8[1:], channel_load=_hot_load())
    )
    assert hot is None


def test_rate_limit_between_decisions() -> None:
    pol = policy(min_uplinks=8, min_interval_s=600.0)
    dev = "0102030405060708"
    first = history(range(1, 17), snr=0.0, dr=0)
    assert pol.decide(request(first, dr=0, now=1000.0)) is not None
    # the device did not apply it; 3 more uplinks, 300 s later: too early either way
    more = first + history(range(17, 20), snr=0.0, dr=0)
    assert pol.decide(request(more, dr=0, now=1300.0)) is None
    # 8 uplinks but only 500 s
    more = first + history(range(17, 25), snr=0.0, dr=0)
    assert pol.decide(request(more, dr=0, now=1500.0)) is None
    # both satisfied
    assert pol.decide(request(more, dr=0, now=1700.0)) is not None
    assert pol.state_of(dev).decisions == 2


def test_not_enough_samples_at_current_settings() -> None:
    pol = policy(min_samples=6)
    old = history(range(1, 11), snr=0.0, dr=0)
    # 5 frames at the current DR3, SNR -17 dB: a DER rule would act (link-limited), but
    # there is no DER before 6 frames, and the early rule only ever raises
    weak = history(range(11, 21, 2), snr=-17.0, dr=3)
    assert pol.decide(request(old + weak, dr=3)) is None
    more = weak + history([21], snr=-17.0, dr=3)
    d = pol.decide(request(old + more, dr=3))
    assert d is not None and d.reason.startswith("link-limited")


@pytest.mark.parametrize(
    ("frames", "snr", "expected"),
    [
        (1, 5.0, None),  # below snr_min_samples
        (2, 5.0, 5),  # enough for the SNR: DR0 -> DR5
        (3, -12.0, 2),  # 5 dB above guard: two steps
        (3, -18.0, None),  # no margin: the early rule never lowers anything
    ],
)
def test_early_raise_before_a_der_exists(frames: int, snr: float, expected: int | None) -> None:
    pol = policy(min_samples=6, snr_min_samples=2)
    d = pol.decide(request(history(range(1, frames + 1), snr=snr, dr=0), dr=0))
    if expected is None:
        assert d is None
    else:
        assert d is not None and d.dr == expected and d.reason.startswith("early")


@pytest.mark.parametrize(
    ("dr", "snr", "moves"),
    [
        (0, 5.0, True),  # SF12 -> SF7 saves more than 1.25 x a SF12 downlink
        (1, 5.0, True),  # SF11 -> SF7 too
        (2, 5.0, False),  # SF10 -> SF7 saves 0.38 s < 1.25 x 0.33 s
        (4, 5.0, False),
    ],
)
def test_downlink_cost_filter(dr: int, snr: float, moves: bool) -> None:
    pol = DrccPolicy(DrccParams(min_samples=4))
    d = pol.decide(request(history(ALL, snr=snr, dr=dr), dr=dr))
    assert (d is not None) == moves
    if d is not None:
        assert d.dr == 5


def test_state_round_trip_keeps_rate_limit() -> None:
    pol = policy(min_uplinks=8, min_interval_s=600.0)
    first = history(range(1, 17), snr=0.0, dr=0)
    assert pol.decide(request(first, dr=0, now=1000.0)) is not None
    saved = pol.export_state("0102030405060708")
    fresh = policy(min_uplinks=8, min_interval_s=600.0)
    fresh.import_state("0102030405060708", saved)
    assert fresh.decide(request(first, dr=0, now=1100.0)) is None
    assert fresh.state_of("0102030405060708").decisions == 1


def test_accepts_the_simulators_own_request_type() -> None:
    from simulator import policy as sim

    hist = tuple(
        sim.UplinkRecord(c * 100.0, c, 0, 1, CH8[c % 8], 1, 5.0, -100.0) for c in range(1, 17)
    )
    req = sim.PolicyRequest("0102030405060708", "EU868", 0, 1, 1, CH8, hist)
    d = DrccPolicy(DrccParams(min_samples=4)).decide(req)
    assert d is not None and d.dr == 5 and d.channels_hz == CH8


def test_slower_moves_are_one_step_at_most() -> None:
    # every slower group is nearly empty; only DR4 (one step) may be chosen
    loads = {0: 0.0, 1: 0.0, 2: 0.001, 3: 0.002, 4: 0.01, 5: 0.6}
    targets = set()
    for i in range(200):
        d = policy().decide(
            request(history(EVERY_OTHER, snr=-6.5, dr=5), dr=5, dr_load=loads, dev_eui=f"{i:016X}")
        )
        if d is not None:
            targets.add(d.dr)
    assert targets == {4}
