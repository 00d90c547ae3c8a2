"""Where the migration service gets each zone's load from.

``StatsSource`` is one async call, ``sample(now) -> {zone: ZoneStats}``, covering the time
since the previous call. ``WriterStatsSource`` reads the running system without changing the
ledger writer:

* arrival rate per origin zone and stored rate per zone: the routing table's counters (the
  writer calls ``routing_table.route`` once per record it receives);
* backlog per zone: ``writer.backlog(zone)`` (outbox records queued or in flight);
* commit latency per stored zone (p50/p95 over the period) and commit rate: the writer's
  ``on_commit`` confirmations — pass ``stats.on_commit`` to the writer (``chain`` combines it
  with another callback);
* block rate and block size: the ledger's ``status()`` (height and committed transactions of
  the zone's ``app-<zone>`` channel; the Fabric adapter reports the height only).

``probe(now)`` (optional in ``StatsSource``; the service's fast checks between decisions) is
the cheap part — arrival and stored rates since the previous probe and the backlog now, from
the routing table's counters and ``writer.backlog(zone)`` only, without touching the period's
counters or the ledger.
"""

from __future__ import annotations

import inspect
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol

from services.ledger.channels import ledger_channel

from .data import ZoneParams, ZoneStats
from .routing import RoutingTable


class StatsSource(Protocol):
    async def sample(self, now: float) -> dict[str, ZoneStats]: ...


class ProbedStatsSource(StatsSource, Protocol):
    async def probe(self, now: float) -> dict[str, ZoneStats]: ...


class WriterLike(Protocol):
    def backlog(self, zone: str | None = None) -> int: ...


class LedgerLike(Protocol):
    async def status(self) -> Any: ...


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    xs = sorted(values)
    k = max(0, min(len(xs) - 1, round(q * (len(xs) - 1))))
    return xs[k]


def chain(*callbacks: Callable[[Any], Awaitable[None] | None] | None) -> Callable[[Any], Any]:
    """One ``on_commit`` callback calling several (None entries are skipped)."""
    cbs = [c for c in callbacks if c is not None]

    async def call(confirmation: Any) -> None:
        for cb in cbs:
            ret = cb(confirmation)
            if inspect.isawaitable(ret):
                await ret

    return call


class WriterStatsSource:
    def __init__(
        self,
        writer: WriterLike | None,
        routing: RoutingTable,
        zones: Iterable[str],
        params: Mapping[str, ZoneParams],
        ledger: LedgerLike | None = None,
    ) -> None:
        self.writer = writer  # may be set after construction (the writer takes on_commit)
        self._routing = routing
        self.zones = sorted(zones)
        self._params = dict(params)
        self._ledger = ledger
        self._last_at: float | None = None
        self._last_arrivals: Counter[str] = Counter()
        self._last_routed: Counter[tuple[str, str]] = Counter()
        self._last_blocks: dict[str, tuple[int, int]] = {}
        self._latencies: dict[str, list[float]] = defaultdict(list)
        self._probe_at: float | None = None
        self._probe_arrivals: Counter[str] = Counter()
        self._probe_routed: Counter[tuple[str, str]] = Counter()

    def on_commit(self, confirmation: Any) -> None:
        """The writer's ``on_commit``: one confirmation per committed record."""
        if getattr(confirmation, "channel", "application") != "application":
            return
        self._latencies[confirmation.zone].append(float(confirmation.latency_s))

    async def _blocks(self) -> dict[str, tuple[int, int]]:
        if self._ledger is None:
            return {}
        try:
            status = await self._ledger.status()
        except Exception:
            return {}
        channels: Mapping[str, Mapping[str, Any]] = getattr(status, "channels", {}) or {}
        out: dict[str, tuple[int, int]] = {}
        for z in self.zones:
            ch = channels.get(ledger_channel("application", z))
            if ch:
                out[z] = (int(ch.get("height", 0)), int(ch.get("committed_txs", 0)))
        return out

    async def sample(self, now: float) -> dict[str, ZoneStats]:
        arrivals = Counter(self._routing.arrivals)
        routed = Counter(self._routing.routed)
        blocks = await self._blocks()
        latencies, self._latencies = self._latencies, defaultdict(list)
        dt = (now - self._last_at) if self._last_at is not None else 0.0
        out: dict[str, ZoneStats] = {}
        for z in self.zones:
            lat = latencies.get(z, [])
            arr = arrivals[z] - self._last_arrivals[z]
            stored = sum(n - self._last_routed[k] for k, n in routed.items() if k[1] == z)
            h, txs = blocks.get(z, (0, 0))
            h0, txs0 = self._last_blocks.get(z, (h, txs))
            nb = max(0, h - h0)
            out[z] = ZoneStats(
                zone=z,
                arrival_rate=arr / dt if dt > 0 else 0.0,
                stored_rate=stored / dt if dt > 0 else 0.0,
                backlog=self.writer.backlog(z) if self.writer is not None else 0,
                commit_rate=len(lat) / dt if dt > 0 else 0.0,
                block_rate=nb / dt if dt > 0 else 0.0,
                block_size=(txs - txs0) / nb if nb else 0.0,
                latency_p50_s=percentile(lat, 0.5),
                latency_p95_s=percentile(lat, 0.95),
                capacity=self._params[z].capacity if z in self._params else 0.0,
            )
        self._last_at = now
        self._last_arrivals = arrivals
        self._last_routed = routed
        self._last_blocks = blocks
        if self._probe_at is None:
            self._probe_at, self._probe_arrivals, self._probe_routed = now, arrivals, routed
        return out

    async def probe(self, now: float) -> dict[str, ZoneStats]:
        """Rates since the previous probe (or the first sample) and the backlog now."""
        arrivals = Counter(self._routing.arrivals)
        routed = Counter(self._routing.routed)
        dt = (now - self._probe_at) if self._probe_at is not None else 0.0
        out: dict[str, ZoneStats] = {}
        for z in self.zones:
            arr = arrivals[z] - self._probe_arrivals[z]
            stored = sum(n - self._probe_routed[k] for k, n in routed.items() if k[1] == z)
            out[z] = ZoneStats(
                zone=z,
                arrival_rate=arr / dt if dt > 0 else 0.0,
                stored_rate=stored / dt if dt > 0 else 0.0,
                backlog=self.writer.backlog(z) if self.writer is not None else 0,
                capacity=self._params[z].capacity if z in self._params else 0.0,
            )
        self._probe_at, self._probe_arrivals, self._probe_routed = now, arrivals, routed
        return out
