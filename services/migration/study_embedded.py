"""The migration study on the real embedded ledger and ledger writer, time-compressed.

Everything real except the zones' ordering capacity: one embedded ledger process is not
limited per zone (all channels share one CPU), so ``PacedLedger`` gives each application
channel the capacity of its own ordering service — a FIFO that admits at most ``capacity``
transactions/s into the channel's real block cutter — and adds the RAFT commit delay after
each commit. The writer (outbox, lanes, retries), the routing table as its ``route`` hook, the
embedded block cutting, chaincode, hash chaining and the MigrationService (wall clock, its own
decision loop) are the production code.

Time compression by ``k``: rates x k, durations and delays / k; latencies are reported back
in model seconds (x k), so the run is comparable with the zone model. Policy options follow
the same rule (``compress_options``): thresholds and costs in seconds / k, in records x k
(a backlog of n records at k x the rate is n / k model records).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import random
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from services.bus.messages import LedgerRecord
from services.ledger.base import CommitResult, Ledger, LedgerStatus
from services.ledger.embedded import EmbeddedLedger
from services.ledger.writer import Confirmation, LedgerWriter, WriterConfig
from simulator.zones import ZoneScenario, ZoneSpec

from .routing import RoutingTable
from .service import MigrationService
from .settings import MigrationSettings
from .settings import ZoneModel as ZoneModelSettings
from .stats import WriterStatsSource, chain, percentile
from .study_model import RunResult


class PacedLedger(Ledger):
    """Wraps a ledger: each ``app-*`` channel admits at most ``capacity`` tx/s (FIFO), and a
    commit is answered ``raft_delay_s`` after the inner ledger committed it."""

    def __init__(self, inner: Ledger, capacity: float, raft_delay_s: float) -> None:
        self.inner = inner
        self.capacity = capacity
        self.raft_delay_s = raft_delay_s
        self._next: dict[str, float] = {}

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def submit(
        self, channel: str, contract_fn: str, args: Sequence[str], *, tx_id: str | None = None
    ) -> CommitResult:
        if channel.startswith("app-"):
            now = time.monotonic()
            slot = max(now, self._next.get(channel, now))
            self._next[channel] = slot + 1 / self.capacity
            if slot > now:
                await asyncio.sleep(slot - now)
        result = await self.inner.submit(channel, contract_fn, args, tx_id=tx_id)
        if self.raft_delay_s > 0:
            await asyncio.sleep(self.raft_delay_s)
        return result

    async def evaluate(self, channel: str, contract_fn: str, args: Sequence[str]) -> bytes:
        return await self.inner.evaluate(channel, contract_fn, args)

    async def height(self, channel: str) -> int:
        return await self.inner.height(channel)

    async def status(self) -> LedgerStatus:
        return await self.inner.status()


def uplink_record(origin: str, dev_eui: str, f_cnt: int) -> LedgerRecord:
    payload = hashlib.sha256(f"{dev_eui}/{f_cnt}".encode()).digest()[:12]
    return LedgerRecord(
        idempotency_key=f"up:{dev_eui}:study:{f_cnt}",
        channel="application",
        kind="uplink",
        zone=origin,
        key=f"{dev_eui}/{f_cnt}",
        payload={
            "dev_eui": dev_eui,
            "f_cnt": f_cnt,
            "received_at": "2026-01-01T00:00:00+00:00",
            "gateways": ["AABBCCDDEEFF0011"],
            "payload": payload.hex(),
        },
    )


SECONDS_OPTIONS = ("latency_threshold_s", "min_gain_s", "migration_cost_s")
RECORDS_OPTIONS = ("backlog_threshold", "onset_backlog")


def compress_options(options: dict[str, Any], k: float, policy: str) -> dict[str, Any]:
    """The policy options of the zone model in the compressed run's units; the predictive
    policy's defaults in seconds or records are written out so that they scale too."""
    out = dict(options)
    if policy == "predictive":
        out = {"min_gain_s": 0.05, "migration_cost_s": 0.1, "onset_backlog": 20.0} | out
    for name in SECONDS_OPTIONS:
        if name in out:
            out[name] = float(out[name]) / k
    for name in RECORDS_OPTIONS:
        if name in out:
            out[name] = float(out[name]) * k
    return out


async def run_embedded(
    policy: str,
    scenario: ZoneScenario,
    spec: ZoneSpec,
    compress: float = 6.0,
    period_s: float = 5.0,
    seed: int = 1,
    drain_s: float = 30.0,
    fast_check_s: float = 1.0,
    **settings_kw: Any,
) -> RunResult:
    """One run; ``period_s``, ``fast_check_s``, ``spec`` and ``scenario`` are in model
    time."""
    k = compress
    rng = random.Random(seed)
    cap_real = spec.capacity * k
    zones = scenario.zones
    real_spec = ZoneModelSettings(
        batch_size=spec.batch_size,
        batch_timeout_s=spec.batch_timeout_s / k,
        block_interval_s=spec.block_interval_s / k,
        raft_delay_s=spec.raft_delay_s / k,
    )
    rows: list[tuple[str, str, float, float | None]] = []
    origin_of: dict[str, str] = {}
    backlog: list[tuple[float, dict[str, int]]] = []
    clock0 = {"wall": 0.0, "mono": 0.0}

    def collect(c: Confirmation) -> None:
        arrived = time.time() - c.latency_s
        origin = origin_of.get(c.idempotency_key, c.origin_zone)
        rows.append((origin, c.zone, (arrived - clock0["wall"]) * k, c.latency_s * k))

    settings_kw = dict(settings_kw)
    settings_kw["policy_options"] = compress_options(
        dict(settings_kw.get("policy_options") or {}), k, policy
    )
    settings = MigrationSettings(
        policy=policy,
        period_s=period_s / k,
        fast_check_s=fast_check_s / k,
        zones=list(zones),
        zone_model=real_spec,
        **settings_kw,
    )
    with tempfile.TemporaryDirectory(prefix="hyperlora-migration-embedded-") as tmp:
        settings = settings.model_copy(update={"data_dir": tmp})
        inner = EmbeddedLedger(
            tmp,
            batch_size=spec.batch_size,
            batch_timeout_s=spec.batch_timeout_s / k,
            synchronous="OFF",
        )
        ledger = PacedLedger(inner, cap_real, spec.raft_delay_s / k)
        routing = RoutingTable()
        stats = WriterStatsSource(None, routing, zones, settings.params(), ledger=inner)
        writer = LedgerWriter(
            ledger,
            data_dir=tmp,
            route=routing.route,
            on_commit=chain(stats.on_commit, collect),
            config=WriterConfig(max_batch=50, linger_s=0.002, max_in_flight=400),
        )
        stats.writer = writer
        service = MigrationService(settings, stats, routing)
        await ledger.start()
        await writer.start()
        clock0["wall"], clock0["mono"] = time.time(), time.monotonic()
        await service.start()
        load_before = os.getloadavg()[0]
        lags: list[float] = []
        lag_task = asyncio.get_running_loop().create_task(_loop_lag(lags))
        f_cnt: dict[str, int] = {}
        next_at = {z: _next_arrival(rng, scenario, z, 0.0) for z in zones}
        next_sample = period_s
        while True:
            z, t_model = min(next_at.items(), key=lambda kv: kv[1])
            if t_model >= scenario.duration_s:
                break
            while next_sample <= t_model:
                backlog.append((next_sample, {x: writer.backlog(x) for x in zones}))
                next_sample += period_s
            wait = clock0["mono"] + t_model / k - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            dev_eui = f"{zones.index(z) + 1:04X}{rng.randrange(spec.devices):012X}"
            f_cnt[dev_eui] = f_cnt.get(dev_eui, -1) + 1
            record = uplink_record(z, dev_eui, f_cnt[dev_eui])
            origin_of[record.idempotency_key] = z
            await writer.handle(record)
            next_at[z] = _next_arrival(rng, scenario, z, t_model)
        late = (time.monotonic() - clock0["mono"]) * k - scenario.duration_s
        deadline = time.monotonic() + drain_s
        while writer.backlog() and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        lag_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await lag_task
        load_after = os.getloadavg()[0]
        await service.stop()
        end_model = (time.time() - clock0["wall"]) * k
        pending = writer.outbox.pending()
        for e in pending:  # never committed: latency unknown (censored)
            rows.append((e.origin_zone, e.zone, (e.enqueued_at - clock0["wall"]) * k, None))
        await writer.stop(drain_timeout_s=0.0)
        await ledger.stop()
        decisions = [d.to_dict() for d in service.decisions]
    for d in decisions:
        d["at"] = (d["at"] - clock0["mono"]) * k
    return RunResult(
        policy,
        "embedded",
        rows,
        decisions,
        backlog,
        {
            "compress": k,
            "seed": seed,
            "period_s": period_s,
            "uncommitted": len(pending),
            "end_s": end_model,
            "feeder_late_model_s": round(late, 2),
            "loadavg_1min_start_end": [round(load_before, 2), round(load_after, 2)],
            "event_loop_lag_ms_p99_max": [
                round(1000 * (percentile(lags, 0.99) or 0.0), 1),
                round(1000 * max(lags, default=0.0), 1),
            ],
        },
    )


async def _loop_lag(out: list[float], tick_s: float = 0.05) -> None:
    """How late the event loop wakes a 50 ms sleep (CPU starvation shows here)."""
    while True:
        t0 = time.monotonic()
        await asyncio.sleep(tick_s)
        out.append(max(0.0, time.monotonic() - t0 - tick_s))


def _next_arrival(rng: random.Random, scenario: ZoneScenario, zone: str, t: float) -> float:
    """Next Poisson arrival after ``t`` under the piecewise-constant rate (memoryless: a
    gap that crosses a breakpoint restarts there with the new rate)."""
    points = scenario.breakpoints()
    while True:
        lam = scenario.rate(zone, t)
        nxt = next((b for b in points if b > t), None)
        gap = rng.expovariate(lam) if lam > 0 else float("inf")
        if nxt is None or t + gap < nxt:
            return t + gap
        t = nxt
