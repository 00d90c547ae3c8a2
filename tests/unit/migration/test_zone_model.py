"""The zone-level model (simulator/zones) and the policy's queueing model (model.py)."""

from __future__ import annotations

import itertools
import statistics

import pytest

from services.migration.data import ZoneParams
from services.migration.model import expected_latency, fluid_backlog_wait, md1_wait
from simulator.zones import ZoneModel, ZoneSpec, hotspot

SPEC = ZoneSpec("z", batch_size=10, batch_timeout_s=2.0, block_interval_s=2.0, raft_delay_s=0.2)
CAP = SPEC.capacity


def home(origin: str, dev: str) -> str:
    return origin


def run_alone(rate: float, duration: float, seed: int = 3) -> ZoneModel:
    model = ZoneModel([SPEC], seed=seed)
    model.advance(duration, model.poisson_arrivals({"z": rate}, 0.0, duration), home)
    model.advance(1e9, [], home)
    return model


@pytest.mark.parametrize("rho", [0.3, 0.6, 0.85])
def test_queue_wait_matches_md1_below_capacity(rho):
    model = run_alone(rho * CAP, 30000 / CAP)
    wait = statistics.fmean(r.queue_wait_s for r in model.records)
    assert wait == pytest.approx(md1_wait(rho, CAP), rel=0.15)


@pytest.mark.parametrize("rho", [1.25, 2.0, 3.0])
def test_latency_grows_without_bound_above_capacity_with_none(rho):
    model = run_alone(rho * CAP, 600.0)
    early = statistics.fmean(r.latency_s for r in model.records if r.arrived_at < 60)
    late = statistics.fmean(r.latency_s for r in model.records if r.arrived_at >= 540)
    slope = (late - early) / 540.0
    assert slope == pytest.approx(rho - 1, rel=0.1, abs=0.04)  # fluid: wait(t) = (lam - c) t / c


def test_blocks_are_cut_by_size_under_load_and_by_timeout_when_idle():
    model = ZoneModel([SPEC], seed=1)
    # 30 records at once: three full blocks
    obs = model.advance(100.0, [(0.0, "z", f"{i:016X}") for i in range(30)], home)
    assert obs["z"].blocks == 3 and obs["z"].block_txs == 30
    model2 = ZoneModel([SPEC], seed=1)
    obs2 = model2.advance(10.0, [(1.0, "z", "0000000000000001")], home)
    (rec,) = model2.records
    assert obs2["z"].blocks == 1
    # served at 1.0 + 0.2, block times out 2 s later, RAFT adds 0.2 s
    assert rec.committed_at == pytest.approx(1.0 + 1 / CAP + 2.0 + 0.2)


def test_backlog_is_observed_at_the_period_end():
    model = ZoneModel([SPEC], seed=1)
    arrivals = [(i * 0.01, "z", f"{i:016X}") for i in range(100)]  # 100 records in 1 s
    obs = model.advance(5.0, arrivals, home)
    # the ordering service passes 5 records/s: about 25 passed, 75 still waiting
    assert obs["z"].backlog == pytest.approx(75, abs=10)
    assert obs["z"].arrivals == 100


def test_hotspot_scenario_profile():
    sc = hotspot(zones=6, capacity=5.0)
    assert sc.rate("zone-1", 0.0) == pytest.approx(1.5)
    assert sc.rate("zone-1", 200.0) == pytest.approx(15.0)
    assert sc.rate("zone-2", 200.0) == pytest.approx(1.5)
    assert sc.rate("zone-1", 800.0) == pytest.approx(1.5)


# ----------------------------------------------------------------------------- model.py
P = ZoneParams(10, 2.0, 2.0, 0.2)


def test_expected_latency_is_monotone_and_finite_past_capacity():
    values = [expected_latency(r * P.capacity, P) for r in (0.2, 0.5, 0.8, 0.95, 1.0, 1.5, 3.0)]
    assert all(b >= a for a, b in itertools.pairwise(values))
    assert all(v < float("inf") for v in values)
    assert values[-1] > 10 * values[0]


def test_md1_wait_known_value():
    # P-K: rho / (2 mu (1 - rho)) at rho 0.5, mu 5: 0.1 s
    assert md1_wait(0.5, 5.0) == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("lam", "backlog", "expected"),
    [
        (5.0, 0.0, 0.0),  # at capacity, empty: stays empty
        (10.0, 0.0, (5.0 * 10 / 2) / 5.0),  # grows 5/s over 10 s: mean 25 records
        (0.0, 10.0, (10 * 2 / (2 * 10)) / 5.0),  # drains in 2 s of the 10 s horizon
    ],
)
def test_fluid_backlog_wait(lam, backlog, expected):
    assert fluid_backlog_wait(lam, 5.0, backlog, 10.0) == pytest.approx(expected)
