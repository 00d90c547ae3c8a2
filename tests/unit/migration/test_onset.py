"""Onset detection between decisions: the Poisson CUSUM and backlog trigger (onset.py), the
predictive policy's reaction, and the increase-only damping of reactions (escalate)."""

from __future__ import annotations

import math
import random

import pytest

from services.migration import Damping, PolicyInput, ZoneParams, ZoneStats, get_policy
from services.migration.onset import (
    OnsetConfig,
    alarm_rate,
    change_point,
    cusum_update,
    detect,
)
from services.migration.policy import can_react, escalate

CFG = OnsetConfig()
CAP = 5.0


def poisson(rng: random.Random, lam: float) -> int:
    """Knuth's method (small lam)."""
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def watch(state, count, *, level=1.5, out=0.0, excess=0.0, last=0.0, dt=1.0):
    return detect(
        state,
        zone="a",
        count=count,
        dt=dt,
        level=level,
        capacity=CAP,
        out_share=out,
        target=0.8,
        backlog_excess=excess,
        last_backlog_excess=last,
        config=CFG,
    )


@pytest.mark.parametrize(
    ("lam0", "out", "expected"),
    [
        (1.5, 0.0, 4.0),  # target x capacity
        (1.5, 0.75, 16.0),  # only a quarter stays home: 4 / 0.25
        (15.0, 0.75, 22.5),  # at least rise x the level
        (1.5, 1.0, math.inf),  # everything leaves already
    ],
)
def test_alarm_rate(lam0, out, expected):
    assert alarm_rate(lam0, CAP, out, 0.8, 1.5) == pytest.approx(expected)


def test_cusum_accumulates_evidence_and_restarts_at_zero():
    s1 = cusum_update(None, 6, 1.0, 1.5, 4.0)
    assert s1["s"] == pytest.approx(6 * math.log(4 / 1.5) - 2.5)
    assert (s1["n"], s1["t"], s1["counts"]) == (6, 1.0, [6])
    s2 = cusum_update(s1, 6, 1.0, 1.5, 4.0)
    assert s2["s"] > s1["s"] and (s2["n"], s2["t"], s2["counts"]) == (12, 2.0, [6, 6])
    zero = {"s": 0.0, "n": 0.0, "t": 0.0, "counts": [], "dts": []}
    assert cusum_update(s2, 0, 10.0, 1.5, 4.0) == zero
    # undefined tests (no rise possible, no time) reset instead of raising
    assert cusum_update(s2, 3, 1.0, 4.0, 4.0)["s"] == 0.0
    assert cusum_update(s2, 3, 0.0, 1.5, 4.0)["s"] == 0.0


@pytest.mark.parametrize(
    ("count", "out", "fires"),
    [
        (15, 0.0, True),  # a step to 3x capacity: one 1 s check is enough
        (3, 0.0, False),  # Poisson noise around 1.5/s
        (14, 0.9, False),  # 90 % already leave: 1.4/s home is no overload
    ],
)
def test_rate_alarm_table(count, out, fires):
    state, alarm = watch(None, count, out=out)
    assert (alarm is not None) == fires
    if fires:
        assert alarm.cause == "rate"
        assert alarm.rate == pytest.approx(count)  # n / t since the statistic left zero
        assert alarm.before == pytest.approx(1.5)
        assert state["s"] == 0.0 and state["counts"] == []  # restarts after an alarm


@pytest.mark.parametrize(
    ("counts", "rate", "since"),
    [
        ([15, 14, 16], 15.0, 3.0),  # the whole excursion is the new regime
        ([5, 15, 14, 16], 15.0, 3.0),  # a noisy check before the change is left out
        ([4, 3], 3.5, 2.0),
    ],
)
def test_change_point_estimate(counts, rate, since):
    got_rate, got_since = change_point(counts, [1.0] * len(counts), 1.5)
    assert got_rate == pytest.approx(rate) and got_since == pytest.approx(since)


def test_a_rise_that_does_not_overload_raises_no_alarm():
    """1.5 -> 3.5/s is a change, but 3.5 < 0.8 x 5: nothing to migrate, no alarm (the level
    tested against follows the rate as the policy's EWMA does, once per 5 s period)."""
    rng = random.Random(4)
    state, level, period = None, 1.5, 0
    for k in range(1, 601):
        n = poisson(rng, 3.5)
        period += n
        state, alarm = watch(state, n, level=level)
        assert alarm is None, (k, alarm)
        if k % 5 == 0:
            level, period = 0.2 * period / 5 + 0.8 * level, 0


def test_false_alarms_are_rare_and_detection_is_fast():
    rng = random.Random(11)
    state, false_alarms = None, 0
    for _ in range(20_000):  # 5.5 hours of 1 s checks of one zone at 30 % load
        state, alarm = watch(state, poisson(rng, 1.5))
        false_alarms += alarm is not None
    assert false_alarms == 0
    delays = []
    for trial in range(200):
        state = None
        for _ in range(30):  # warm up at the base rate
            state, _a = watch(state, poisson(rng, 1.5))
        for k in range(1, 20):
            state, alarm = watch(state, poisson(rng, 15.0))
            if alarm is not None:
                delays.append(k)
                break
        else:
            raise AssertionError(f"burst not detected in 19 checks (trial {trial})")
    assert sorted(delays)[int(0.95 * len(delays))] <= 2  # 95 % within two 1 s checks
    # one check fires when it holds >= 13 records (P = 0.73 at 15/s)
    assert sum(d == 1 for d in delays) >= 0.6 * len(delays)


@pytest.mark.parametrize(
    ("excess", "last", "fires"),
    [
        (30.0, 10.0, True),  # above the trigger and growing
        (30.0, 35.0, False),  # above it but draining
        (15.0, 5.0, False),  # growing but under the trigger
    ],
)
def test_backlog_alarm_table(excess, last, fires):
    _state, alarm = watch(None, 2, level=15.0, out=0.75, excess=excess, last=last)
    assert (alarm is not None) == fires
    if fires:
        assert alarm.cause == "backlog" and alarm.rate == pytest.approx(15.0)


# ----------------------------------------------------------------------------- escalate
D = Damping(max_step_up=0.5, max_step_down=0.1, deadband=0.05)


@pytest.mark.parametrize(
    ("current", "proposed", "expected"),
    [
        ({}, {"a": {"b": 0.3, "c": 0.3}}, {"a": {"b": 0.3, "c": 0.3}}),
        ({}, {"a": {"b": 0.9}}, {"a": {"b": 0.5}}),  # max_step_up
        # a reaction never lowers a share (b stays 0.4) nor touches other origins (d)
        (
            {"a": {"b": 0.4}, "d": {"e": 0.2}},
            {"a": {"b": 0.1, "c": 0.3}, "d": {}},
            {"a": {"b": 0.4, "c": 0.3}, "d": {"e": 0.2}},
        ),
        ({"a": {"b": 0.4}}, {"a": {"b": 0.42}}, {"a": {"b": 0.4}}),  # deadband
        # increases scaled into what is left at home (1 - 0.6 = 0.4)
        ({"a": {"b": 0.6}}, {"a": {"c": 0.4, "d": 0.4}}, {"a": {"b": 0.6, "c": 0.2, "d": 0.2}}),
    ],
)
def test_escalate_only_raises_shares(current, proposed, expected):
    got = escalate(current, proposed, D)
    assert got.keys() == expected.keys()
    for o, row in expected.items():
        assert got[o] == pytest.approx(row)


# ----------------------------------------------------------------------------- react
P = ZoneParams(batch_size=10, batch_timeout_s=2.0, block_interval_s=2.0, raft_delay_s=0.2)
ZONES = ("a", "b", "c", "d", "e", "f")


def probe(rates, backlog=None, now=121.0, state=None, current=None, window=1.0):
    return PolicyInput(
        now=now,
        period_s=5.0,
        zones={
            z: ZoneStats(z, r, r, (backlog or {}).get(z, 0), capacity=P.capacity)
            for z, r in rates.items()
        },
        current=current or {},
        params={z: P for z in rates},
        target_utilisation=0.8,
        state=state or {},
        window_s=window,
    )


def settled_state(level=1.5):
    return {"forecast": {z: {"level": level} for z in ZONES}}


def test_only_the_predictive_policy_reacts():
    assert can_react(get_policy("predictive"))
    assert not can_react(get_policy("threshold")) and not can_react(get_policy("none"))


def test_react_without_an_alarm_keeps_the_shares_and_carries_the_detector():
    pol = get_policy("predictive")
    out = pol.react(probe({z: 2.0 for z in ZONES}, state=settled_state()))
    assert out.shares == {} and out.reason == ""
    assert set(out.state["onset"]) == set(ZONES)
    assert out.state["forecast"] == settled_state()["forecast"]


def test_react_to_a_burst_moves_the_hot_zone_and_restarts_its_forecast():
    pol = get_policy("predictive")
    rates = {z: 1.5 for z in ZONES} | {"a": 15.0}
    out = pol.react(probe(rates, backlog={"a": 12}, state=settled_state()))
    assert set(out.shares) == {"a"}
    moved = sum(out.shares["a"].values())
    assert 0.6 <= moved <= 1.0
    assert out.reason.startswith("onset: a rate")
    fc = out.state["forecast"]["a"]
    assert fc["level"] == pytest.approx(15.0) and fc["changed_at"] == pytest.approx(120.0)
    assert out.state["onset"]["a"]["fired_at"] == 121.0
    # the next decision restarts the forecast from the part of its period after the change:
    # period (116, 121]: 4 s at 1.5/s then 1 s at 15/s -> 3.0/s on average
    period = probe({z: 1.5 for z in ZONES} | {"a": 3.0}, now=121.0, state=out.state, window=5.0)
    nxt = pol.decide(period)
    assert nxt.forecast_rate["a"] == pytest.approx(15.0)
    assert "changed_at" not in nxt.state["forecast"]["a"]
    # then the running mean of the periods since the change (gain 1/2, 1/3, ...) until the
    # gain is the forecaster's own (0.2): one early noisy period does not linger
    again = pol.decide(probe({z: 1.5 for z in ZONES} | {"a": 11.0}, state=nxt.state, window=5))
    assert again.forecast_rate["a"] == pytest.approx((15.0 + 11.0) / 2)
    third = pol.decide(probe({z: 1.5 for z in ZONES} | {"a": 16.0}, state=again.state, window=5))
    assert third.forecast_rate["a"] == pytest.approx((15.0 + 11.0 + 16.0) / 3)
    assert nxt.state["onset"] == out.state["onset"]  # the decision carries the detector


def test_react_leaves_receivers_to_the_decision():
    pol = get_policy("predictive")
    rates = {z: 1.5 for z in ZONES} | {"b": 15.0}
    out = pol.react(probe(rates, state=settled_state(), current={"a": {"b": 0.3}}))
    assert out.shares == {"a": {"b": 0.3}}  # b receives: not watched between decisions


def test_react_needs_a_forecast_to_test_against():
    pol = get_policy("predictive")
    out = pol.react(probe({z: 1.5 for z in ZONES} | {"a": 15.0}))
    assert out.shares == {}
