"""MigrationService: decision loop, damping, persistence across restarts, history, metrics,
state functions; WriterStatsSource sampling."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from prometheus_client import REGISTRY

from services.ledger.base import LedgerStatus
from services.migration import (
    MigrationService,
    MigrationSettings,
    RoutingTable,
    WriterStatsSource,
    ZoneModel,
    ZoneParams,
    ZoneStats,
    chain,
)
from services.migration import state as mstate
from services.migration.history import MigrationStore

ZM = ZoneModel(batch_size=10, batch_timeout_s=2.0, block_interval_s=2.0, raft_delay_s=0.2)
ZONES = ["a", "b", "c", "d", "e", "f"]


class FakeStats:
    def __init__(self) -> None:
        self.rates = {z: 1.5 for z in ZONES}
        self.backlog = {z: 0 for z in ZONES}
        self.calls = 0

    async def sample(self, now: float) -> dict[str, ZoneStats]:
        self.calls += 1
        return {
            z: ZoneStats(z, self.rates[z], self.rates[z], self.backlog[z], capacity=5.0)
            for z in ZONES
        }


def settings(tmp_path, policy="predictive", **kw) -> MigrationSettings:
    return MigrationSettings(
        policy=policy,
        period_s=5.0,
        zones=ZONES,
        data_dir=str(tmp_path),
        zone_model=ZM,
        enabled=False,
        **kw,
    )


async def test_step_migrates_a_hot_zone_and_records_the_decision(tmp_path):
    stats = FakeStats()
    routing = RoutingTable()
    svc = MigrationService(settings(tmp_path), stats, routing, clock=lambda: 0.0)
    await svc.start()
    d0 = await svc.step(5.0)
    assert not d0.changed and routing.shares == {}
    stats.rates["a"] = 15.0
    stats.backlog["a"] = 50
    d1 = await svc.step(10.0)
    assert d1.changed and d1.epoch == 1
    assert routing.shares["a"]
    assert all(0 < s <= 0.5 + 1e-9 for s in routing.shares["a"].values())  # max_step_up
    assert d1.predicted_latency_s and d1.forecast_rate["a"] > 1.5
    history = mstate.decision_history(svc)
    assert [h["epoch"] for h in history] == [0, 1]
    changed_samples = REGISTRY.get_sample_value(
        "hyperlora_migration_decisions_total", {"policy": "predictive", "changed": "true"}
    )
    assert changed_samples and changed_samples >= 1
    await svc.stop()


async def test_restart_keeps_the_routing_and_the_policy_memory(tmp_path):
    stats = FakeStats()
    stats.rates["a"] = 15.0
    routing = RoutingTable()
    svc = MigrationService(settings(tmp_path), stats, routing, clock=lambda: 0.0)
    await svc.start()
    for i in range(3):
        await svc.step(5.0 * (i + 1))
    shares, epoch = routing.shares, routing.current.epoch
    assert shares and epoch >= 1
    await svc.stop()

    routing2 = RoutingTable()
    svc2 = MigrationService(settings(tmp_path), FakeStats(), routing2, clock=lambda: 0.0)
    await svc2.start()
    assert routing2.shares == shares
    assert routing2.current.epoch == epoch
    assert len(routing2.epochs) == epoch  # epochs 1..n persisted
    assert svc2._state.get("forecast")
    assert len(mstate.decision_history(svc2)) == 3
    await svc2.stop()


async def test_none_policy_never_changes_the_routing(tmp_path):
    stats = FakeStats()
    stats.rates["a"] = 15.0
    stats.backlog["a"] = 5000
    routing = RoutingTable()
    svc = MigrationService(settings(tmp_path, "none"), stats, routing, clock=lambda: 0.0)
    await svc.start()
    for i in range(5):
        d = await svc.step(5.0 * (i + 1))
        assert not d.changed
    assert routing.shares == {} and routing.current.epoch == 0
    await svc.stop()


async def test_the_loop_runs_every_period_and_stops(tmp_path):
    stats = FakeStats()
    sleeps: list[float] = []

    async def fast_sleep(s: float) -> None:
        sleeps.append(s)
        await asyncio.sleep(0)

    svc = MigrationService(
        settings(tmp_path).model_copy(update={"enabled": True}),
        stats,
        RoutingTable(),
        clock=lambda: 1.0,
        sleep=fast_sleep,
    )
    await svc.start()
    for _ in range(20):
        await asyncio.sleep(0)
    await svc.stop()
    assert sleeps and set(sleeps) == {5.0}
    assert len(svc.decisions) >= 3


async def test_state_functions_for_the_api(tmp_path):
    stats = FakeStats()
    stats.rates["a"] = 15.0
    routing = RoutingTable()
    svc = MigrationService(settings(tmp_path), stats, routing, clock=lambda: 0.0)
    await svc.start()
    await svc.step(5.0)
    over = mstate.overview(svc)
    assert over["routing"]["epoch"] == routing.current.epoch
    assert over["routing"]["policy_active"] == "predictive"
    rows = {r["zone"]: r for r in over["zones"]}
    assert set(rows) == set(ZONES)
    assert rows["a"]["sends"] == routing.shares["a"]
    some_target = next(iter(routing.shares["a"]))
    assert rows[some_target]["receives"] == {"a": routing.shares["a"][some_target]}
    assert rows["a"]["capacity"] == pytest.approx(5.0)
    assert "predictive" in over["policies"]
    assert mstate.routing_history(svc)[-1]["shares"] == routing.shares
    assert mstate.decision_history(svc, changed_only=True)
    await svc.stop()


def test_store_prunes_nothing_it_should_keep(tmp_path):
    store = MigrationStore.in_dir(tmp_path)
    store.save_state("predictive", {"forecast": {"a": {"level": 1.0, "trend": 0.0}}})
    assert store.load_state("predictive")["forecast"]["a"]["level"] == 1.0
    assert store.load_state("threshold") == {}
    store.close()


# ----------------------------------------------------------------------------- stats source
@dataclass
class Conf:
    zone: str
    latency_s: float
    channel: str = "application"


class FakeWriter:
    def __init__(self) -> None:
        self.backlogs = {"a": 7, "b": 0}

    def backlog(self, zone=None):
        return self.backlogs.get(zone, 0)


class FakeLedger:
    def __init__(self) -> None:
        self.h = {"app-a": (1, 0), "app-b": (1, 0)}

    async def status(self):
        return LedgerStatus(
            "embedded",
            True,
            {k: {"height": h, "committed_txs": t} for k, (h, t) in self.h.items()},
        )


async def test_writer_stats_source_rates_latencies_and_blocks():
    from services.bus.messages import LedgerRecord

    routing = RoutingTable()
    routing.apply({"a": {"b": 1.0}}, at=0.0)
    ledger = FakeLedger()
    src = WriterStatsSource(FakeWriter(), routing, ["a", "b"], {"a": ZoneParams()}, ledger)
    await src.sample(0.0)
    for i in range(20):
        routing.route(
            LedgerRecord(
                idempotency_key=f"k{i}",
                channel="application",
                kind="uplink",
                zone="a",
                key=f"{i:016X}/1",
                payload={"dev_eui": f"{i:016X}", "f_cnt": 1},
            )
        )
    cb = chain(src.on_commit, None)
    for i in range(10):
        await cb(Conf("b", 0.1 * (i + 1)))
    await cb(Conf("b", 99.0, channel="device"))  # not an application record: ignored
    ledger.h["app-b"] = (6, 20)
    out = await src.sample(10.0)
    assert out["a"].arrival_rate == pytest.approx(2.0)
    assert out["a"].stored_rate == 0.0
    assert out["b"].stored_rate == pytest.approx(2.0)
    assert out["a"].backlog == 7
    assert out["b"].commit_rate == pytest.approx(1.0)
    assert out["b"].latency_p95_s == pytest.approx(1.0)
    assert out["b"].block_rate == pytest.approx(0.5)
    assert out["b"].block_size == pytest.approx(4.0)
    assert out["a"].capacity == pytest.approx(ZoneParams().capacity)
