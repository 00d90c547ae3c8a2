"""The migration study on the zone-level model (simulator/zones): the real MigrationService,
policies and RoutingTable driven by the model's observations — a decision at every period's
end and, for a policy that reacts, a fast check at every ``fast_check_s`` in between (the model
advances tick by tick; the routing installed at a tick applies to the next tick's arrivals)."""

from __future__ import annotations

import itertools
import tempfile
from dataclasses import dataclass, field
from typing import Any

from simulator.zones import Committed, ZoneModel, ZoneObservation, ZoneScenario, ZoneSpec

from .data import ZoneStats
from .routing import RoutingTable
from .service import MigrationService
from .settings import MigrationSettings
from .settings import ZoneModel as ZoneModelSettings
from .stats import percentile


@dataclass
class RunResult:
    policy: str
    kind: str  # "model" | "embedded"
    records: list[tuple[str, str, float, float | None]]  # (origin, zone, arrived, latency|None)
    decisions: list[dict[str, Any]]
    backlog: list[tuple[float, dict[str, int]]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


class ModelStats:
    """StatsSource over the model's observations: ``sample`` covers the ticks since the last
    sample, ``probe`` the ticks since the last probe."""

    def __init__(self, specs: dict[str, ZoneSpec]) -> None:
        self.specs = specs
        self.latest: dict[str, ZoneObservation] = {}  # since the last sample
        self.since_probe: dict[str, ZoneObservation] = {}

    def add(self, observed: dict[str, ZoneObservation]) -> None:
        for z, o in observed.items():
            self.latest[z] = self.latest[z].then(o) if z in self.latest else o
            self.since_probe[z] = self.since_probe[z].then(o) if z in self.since_probe else o

    async def probe(self, now: float) -> dict[str, ZoneStats]:
        out = self._stats(self.since_probe)
        self.since_probe = {}
        return out

    async def sample(self, now: float) -> dict[str, ZoneStats]:
        out = self._stats(self.latest)
        self.latest = {}
        return out

    def _stats(self, observed: dict[str, ZoneObservation]) -> dict[str, ZoneStats]:
        out: dict[str, ZoneStats] = {}
        for z, o in observed.items():
            dt = o.period_s or 1.0
            lat = list(o.latencies)
            out[z] = ZoneStats(
                zone=z,
                arrival_rate=o.arrivals / dt,
                stored_rate=o.stored / dt,
                backlog=o.backlog,
                commit_rate=o.committed / dt,
                block_rate=o.blocks / dt,
                block_size=o.block_txs / o.blocks if o.blocks else 0.0,
                latency_p50_s=percentile(lat, 0.5),
                latency_p95_s=percentile(lat, 0.95),
                capacity=self.specs[z].capacity,
            )
        return out


def settings_for(
    policy: str, spec: ZoneSpec, zones: tuple[str, ...], period_s: float, data_dir: str, **kw: Any
) -> MigrationSettings:
    return MigrationSettings(
        policy=policy,
        period_s=period_s,
        zones=list(zones),
        data_dir=data_dir,
        enabled=False,  # the study calls step() itself
        zone_model=ZoneModelSettings(
            batch_size=spec.batch_size,
            batch_timeout_s=spec.batch_timeout_s,
            block_interval_s=spec.block_interval_s,
            raft_delay_s=spec.raft_delay_s,
        ),
        **kw,
    )


async def run_model(
    policy: str,
    scenario: ZoneScenario,
    spec: ZoneSpec,
    period_s: float = 5.0,
    seed: int = 1,
    **settings_kw: Any,
) -> RunResult:
    specs = {
        z: ZoneSpec(
            z,
            spec.batch_size,
            spec.batch_timeout_s,
            spec.block_interval_s,
            spec.raft_delay_s,
            spec.raft_jitter_s,
            spec.devices,
        )
        for z in scenario.zones
    }
    model = ZoneModel(specs.values(), seed=seed)
    routing = RoutingTable()
    stats = ModelStats(specs)
    backlog: list[tuple[float, dict[str, int]]] = []
    with tempfile.TemporaryDirectory(prefix="hyperlora-migration-") as tmp:
        settings = settings_for(policy, spec, scenario.zones, period_s, tmp, **settings_kw)
        service = MigrationService(settings, stats, routing, clock=lambda: model.now)
        await service.start()
        ticks = service.checks_per_period()
        t = 0.0
        cuts = scenario.breakpoints()
        while t < scenario.duration_s - 1e-9:
            t_end = min(t + period_s, scenario.duration_s)
            for i in range(1, ticks + 1):
                t1 = t_end if i == ticks else min(t + period_s * i / ticks, t_end)
                t0 = model.now
                arrivals = []
                edges = sorted({t0, t1, *(c for c in cuts if t0 < c < t1)})
                for a, b in itertools.pairwise(edges):
                    rates = {z: scenario.rate(z, a) for z in scenario.zones}
                    arrivals += model.poisson_arrivals(rates, a, b)
                arrivals.sort()
                observed = model.advance(t1, arrivals, routing.zone_for)
                stats.add(observed)
                await service.react(t1)  # every tick, the decision's included
                if i == ticks:
                    backlog.append((t1, {z: o.backlog for z, o in observed.items()}))
                    await service.step(t1)
            t = t_end
        # drain: no more arrivals, run until every record committed (bounded)
        horizon = t + 20 * scenario.duration_s
        while any(model.backlog(z) for z in scenario.zones) and t < horizon:
            t += period_s
            model.advance(t, [], routing.zone_for)
        decisions = [d.to_dict() for d in service.decisions]
        await service.stop()
        end_s = t
    records = [_row(r) for r in model.records]
    return RunResult(
        policy,
        "model",
        records,
        decisions,
        backlog,
        {"seed": seed, "period_s": period_s, "end_s": end_s, "uncommitted": 0},
    )


def _row(r: Committed) -> tuple[str, str, float, float | None]:
    return (r.origin, r.zone, r.arrived_at, r.latency_s)
