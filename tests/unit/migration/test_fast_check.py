"""The service's fast checks between decisions: when they run, what a reaction changes and
records, the stats source's probe, and the zone model driven tick by tick."""

from __future__ import annotations

import asyncio

import pytest

from services.bus.messages import LedgerRecord
from services.migration import (
    MigrationService,
    MigrationSettings,
    RoutingTable,
    WriterStatsSource,
    ZoneModel,
    ZoneParams,
    ZoneStats,
)
from services.migration.study import SPEC, window_ratios
from services.migration.study_model import run_model
from simulator.zones import ZoneSpec, hotspot
from simulator.zones.model import ZoneObservation

ZM = ZoneModel(batch_size=10, batch_timeout_s=2.0, block_interval_s=2.0, raft_delay_s=0.2)
ZONES = ["a", "b", "c", "d", "e", "f"]


class ProbedStats:
    """Each zone's rate (records/s) is set by the test; sample and probe report it."""

    def __init__(self) -> None:
        self.rates = {z: 1.5 for z in ZONES}
        self.backlog = {z: 0 for z in ZONES}
        self.samples = self.probes = 0

    def _stats(self) -> dict[str, ZoneStats]:
        return {
            z: ZoneStats(z, self.rates[z], self.rates[z], self.backlog[z], capacity=5.0)
            for z in ZONES
        }

    async def sample(self, now: float) -> dict[str, ZoneStats]:
        self.samples += 1
        return self._stats()

    async def probe(self, now: float) -> dict[str, ZoneStats]:
        self.probes += 1
        return self._stats()


def settings(tmp_path, policy="predictive", **kw) -> MigrationSettings:
    base = {
        "policy": policy,
        "period_s": 5.0,
        "zones": ZONES,
        "data_dir": str(tmp_path),
        "zone_model": ZM,
        "enabled": False,
    }
    return MigrationSettings(**(base | kw))


@pytest.mark.parametrize(
    ("policy", "fast_check_s", "probe", "per_period"),
    [
        ("predictive", 1.0, True, 5),
        ("predictive", 0.5, True, 10),
        ("predictive", 0.0, True, 1),  # turned off
        ("predictive", 1.0, False, 1),  # a stats source without probe
        ("threshold", 1.0, True, 1),  # a policy that does not react
    ],
)
def test_when_fast_checks_run(tmp_path, policy, fast_check_s, probe, per_period):
    stats = ProbedStats()
    if not probe:
        stats.probe = None  # type: ignore[assignment,method-assign]
    svc = MigrationService(
        settings(tmp_path, policy, fast_check_s=fast_check_s), stats, RoutingTable()
    )
    assert svc.checks_per_period() == per_period
    assert svc.reacts == (per_period > 1)


async def test_a_reaction_migrates_between_decisions_and_is_recorded(tmp_path):
    stats = ProbedStats()
    routing = RoutingTable()
    svc = MigrationService(settings(tmp_path), stats, routing, clock=lambda: 0.0)
    await svc.start()
    for t in (5.0, 10.0):  # two calm periods: the forecast settles at 1.5/s
        await svc.step(t)
    assert await svc.react(11.0) is None  # nothing happened: no decision, no epoch
    assert routing.current.epoch == 0 and len(svc.decisions) == 2
    stats.rates["a"], stats.backlog["a"] = 15.0, 10
    d = await svc.react(12.0)
    assert d is not None and d.trigger == "onset" and d.changed
    assert routing.shares["a"] and 0.6 <= sum(routing.shares["a"].values()) <= 1.0
    assert all(s <= 0.5 + 1e-9 for s in routing.shares["a"].values())  # max_step_up
    assert routing.current.started_at == 12.0
    # persisted like a decision: epoch, decision (with its trigger) and the restarted forecast
    assert svc.store is not None
    assert svc.store.epochs()[-1].shares == routing.shares
    assert svc.store.decisions()[-1]["trigger"] == "onset"
    assert "changed_at" in svc.store.load_state("predictive")["forecast"]["a"]
    # the burst goes on: no second alarm (the forecast restarted at 15/s)
    assert await svc.react(13.0) is None
    # the decision that follows keeps the migration (it lowers shares by 0.1 at most)
    before = dict(routing.shares["a"])
    d2 = await svc.step(15.0)
    assert d2.trigger == "period"
    assert all(routing.shares["a"].get(t, 0.0) >= s - 0.1 - 1e-9 for t, s in before.items())
    await svc.stop()


async def test_reactions_never_lower_a_share(tmp_path):
    stats = ProbedStats()
    routing = RoutingTable()
    routing.apply({"a": {"b": 0.5, "c": 0.4}}, at=0.0)
    svc = MigrationService(settings(tmp_path), stats, routing, clock=lambda: 0.0)
    await svc.start()
    await svc.step(5.0)
    shares = routing.shares
    stats.rates["a"] = 1.0  # a calmed down: the decision would give back, a reaction may not
    for t in (6.0, 7.0, 8.0, 9.0):
        await svc.react(t)
        assert routing.shares == shares
    await svc.step(10.0)
    assert sum(routing.shares.get("a", {}).values()) < sum(shares["a"].values())
    await svc.stop()


async def test_the_loop_interleaves_fast_checks_and_decisions(tmp_path):
    stats = ProbedStats()
    sleeps: list[float] = []

    async def fast_sleep(s: float) -> None:
        sleeps.append(s)
        await asyncio.sleep(0)

    svc = MigrationService(
        settings(tmp_path, enabled=True, fast_check_s=1.0),
        stats,
        RoutingTable(),
        clock=lambda: 1.0,
        sleep=fast_sleep,
    )
    await svc.start()
    for _ in range(60):
        await asyncio.sleep(0)
    await svc.stop()
    assert set(sleeps) == {1.0}
    assert stats.samples >= 3  # one at start, then one per 5 ticks
    assert stats.probes >= 4 * (stats.samples - 1)
    assert len(svc.decisions) == stats.samples - 1  # reactions without change add none


# ----------------------------------------------------------------------------- probe
class FakeWriter:
    def __init__(self) -> None:
        self.backlogs = {"a": 7}

    def backlog(self, zone=None):
        return self.backlogs.get(zone, 0)


def record(i: int, zone: str = "a") -> LedgerRecord:
    return LedgerRecord(
        idempotency_key=f"k{zone}{i}",
        channel="application",
        kind="uplink",
        zone=zone,
        key=f"{i:016X}/1",
        payload={"dev_eui": f"{i:016X}", "f_cnt": 1},
    )


async def test_probe_counts_since_the_last_probe_and_leaves_the_period_alone():
    routing = RoutingTable()
    src = WriterStatsSource(FakeWriter(), routing, ["a", "b"], {"a": ZoneParams()})
    await src.sample(0.0)
    for i in range(10):
        routing.route(record(i))
    p1 = await src.probe(2.0)
    assert p1["a"].arrival_rate == pytest.approx(5.0) and p1["a"].backlog == 7
    for i in range(10, 13):
        routing.route(record(i))
    p2 = await src.probe(3.0)
    assert p2["a"].arrival_rate == pytest.approx(3.0)
    assert p2["b"].arrival_rate == 0.0
    period = await src.sample(10.0)
    assert period["a"].arrival_rate == pytest.approx(1.3)  # all 13 records of the period


# ----------------------------------------------------------------------------- zone model
def test_observations_add_up():
    a = ZoneObservation("z", 3, 2, 1, 5, 1, 1, (1.0,), 1.0)
    b = ZoneObservation("z", 1, 1, 2, 4, 0, 0, (2.0, 3.0), 0.5)
    ab = a.then(b)
    assert (ab.arrivals, ab.stored, ab.committed, ab.backlog) == (4, 3, 3, 4)
    assert ab.latencies == (1.0, 2.0, 3.0) and ab.period_s == 1.5


async def test_the_onset_window_meets_the_target_on_the_zone_model():
    """A shortened hotspot (one zone at 3x capacity for 2 minutes): the fast check sees the
    onset within a second and every 30 s window of the burst keeps the hot zone's p95 within
    1.5x the idle zones'; with decisions only, the onset window misses it."""
    scenario = hotspot(zones=6, capacity=SPEC.capacity, burst_start_s=60.0, burst_s=120.0)
    scenario = type(scenario)(
        scenario.zones, scenario.base_rate, scenario.steps, 240.0, scenario.meta
    )
    spec = ZoneSpec("z", 10, 2.0, 2.0, 0.2)
    fast = await run_model("predictive", scenario, spec, 5.0, seed=1, fast_check_s=1.0)
    onset = [d for d in fast.decisions if d.get("trigger") == "onset"]
    assert onset and 60.0 < onset[0]["at"] <= 62.0
    ratios = window_ratios(fast, scenario)
    assert len(ratios) == 4 and max(ratios) <= 1.5, ratios
    slow = await run_model("predictive", scenario, spec, 5.0, seed=1, fast_check_s=0.0)
    assert not any(d.get("trigger") == "onset" for d in slow.decisions)
    assert window_ratios(slow, scenario)[0] > 1.5


@pytest.mark.parametrize(
    ("policy", "options", "expected"),
    [
        (
            "threshold",
            {"backlog_threshold": 20, "latency_threshold_s": 4.0},
            {"backlog_threshold": 120.0, "latency_threshold_s": 4.0 / 6},
        ),
        (  # the predictive defaults in seconds and records are written out, then scaled
            "predictive",
            {"min_gain": 0.03},
            {
                "min_gain": 0.03,
                "min_gain_s": 0.05 / 6,
                "migration_cost_s": 0.1 / 6,
                "onset_backlog": 120.0,
            },
        ),
    ],
)
def test_compressed_runs_scale_the_policy_options(policy, options, expected):
    """At 6x the rates and 1/6 of the durations, a threshold in seconds is / 6 and one in
    records x 6 (the same backlog in model time holds 6x the records)."""
    from services.migration.study_embedded import compress_options

    got = compress_options(options, 6.0, policy)
    assert got.keys() == expected.keys()
    for k, v in expected.items():
        assert got[k] == pytest.approx(v)
