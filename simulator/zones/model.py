"""Zone-level model of the application ledgers: per zone, an ordering service that commits
at most ``capacity`` records/s, Fabric-like block cutting and a RAFT commit delay.

A record routed to a zone

1. waits for the zone's ordering service, a FIFO server with deterministic service time
   ``1 / capacity`` (capacity = batch_size / block_interval_s: the block rate at full blocks
   times the batch size) — with Poisson arrivals this is an M/D/1 queue;
2. joins the batch being cut: a block is cut when it holds ``batch_size`` records or
   ``batch_timeout_s`` after its first record (Fabric's BatchSize.MaxMessageCount and
   BatchTimeout);
3. commits ``raft_delay_s`` (+ optional uniform jitter) after its block is cut.

The model advances step by step (``advance(t)``): the caller routes each step's arrivals
(routing is constant within a step) and reads what a monitor would have seen at the step's
end; the migration study steps at the service's fast-check interval and merges the steps of a
decision period (``ZoneObservation.then``). Pure Python, seeded RNG, no I/O.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ZoneSpec:
    name: str
    batch_size: int = 10
    batch_timeout_s: float = 1.0
    block_interval_s: float = 2.0
    raft_delay_s: float = 0.2
    raft_jitter_s: float = 0.0
    devices: int = 500

    @property
    def capacity(self) -> float:
        return self.batch_size / self.block_interval_s


@dataclass(frozen=True, slots=True)
class Committed:
    """One record's fate."""

    origin: str
    zone: str
    dev: str
    arrived_at: float
    committed_at: float
    ordered_at: float = 0.0  # when the ordering service started on it

    @property
    def queue_wait_s(self) -> float:
        """Wait for the ordering service (excluding its own service time)."""
        return max(0.0, self.ordered_at - self.arrived_at)

    @property
    def latency_s(self) -> float:
        return self.committed_at - self.arrived_at


@dataclass(frozen=True, slots=True)
class ZoneObservation:
    """What a monitor sees for one zone over one period (rates in records/s)."""

    zone: str
    arrivals: int  # records whose origin is this zone
    stored: int  # records routed to this zone
    committed: int
    backlog: int  # routed to this zone, not yet committed, at the period's end
    blocks: int
    block_txs: int
    latencies: tuple[float, ...]  # of records committed in the period
    period_s: float

    def then(self, later: ZoneObservation) -> ZoneObservation:
        """This observation followed by ``later`` (of the same zone) as one: counts add up,
        the backlog is the later one's."""
        return ZoneObservation(
            zone=self.zone,
            arrivals=self.arrivals + later.arrivals,
            stored=self.stored + later.stored,
            committed=self.committed + later.committed,
            backlog=later.backlog,
            blocks=self.blocks + later.blocks,
            block_txs=self.block_txs + later.block_txs,
            latencies=self.latencies + later.latencies,
            period_s=self.period_s + later.period_s,
        )


@dataclass
class _Zone:
    spec: ZoneSpec
    server_free: float = 0.0
    # (arrived, origin, dev, service start)
    pending: list[tuple[float, str, str, float]] = field(default_factory=list)
    first_at: float | None = None
    in_flight: deque[Committed] = field(default_factory=deque)  # cut, commit time ahead
    blocks: int = 0
    block_txs: int = 0
    stored: int = 0


class ZoneModel:
    """All zones; ``route(origin, dev, t) -> zone`` is asked once per arrival."""

    def __init__(self, zones: Iterable[ZoneSpec], seed: int = 1) -> None:
        self.specs = {z.name: z for z in zones}
        self._zones = {n: _Zone(s) for n, s in self.specs.items()}
        self._rng = random.Random(seed)
        self.now = 0.0
        self.records: list[Committed] = []
        self._arrivals: dict[str, int] = {n: 0 for n in self.specs}

    # ------------------------------------------------------------------ arrivals
    def poisson_arrivals(
        self, rates: Mapping[str, float], t0: float, t1: float
    ) -> list[tuple[float, str, str]]:
        """(time, origin, dev) of Poisson arrivals in [t0, t1) at constant ``rates``."""
        out: list[tuple[float, str, str]] = []
        for zi, (name, lam) in enumerate(sorted(rates.items())):
            if lam <= 0:
                continue
            devices = self.specs[name].devices
            t = t0
            while True:
                t += self._rng.expovariate(lam)
                if t >= t1:
                    break
                out.append((t, name, f"{zi:04X}{self._rng.randrange(devices):012X}"))
        out.sort()
        return out

    # ------------------------------------------------------------------ engine
    def _cut(self, z: _Zone, at: float) -> None:
        jitter = self._rng.uniform(0, z.spec.raft_jitter_s) if z.spec.raft_jitter_s else 0.0
        commit = at + z.spec.raft_delay_s + jitter
        if z.in_flight and commit < z.in_flight[-1].committed_at:
            commit = z.in_flight[-1].committed_at  # blocks commit in order
        for arrived, origin, dev, started in z.pending:
            z.in_flight.append(Committed(origin, z.spec.name, dev, arrived, commit, started))
        z.blocks += 1
        z.block_txs += len(z.pending)
        z.pending = []
        z.first_at = None

    def _offer(self, z: _Zone, arrived: float, origin: str, dev: str) -> None:
        start = max(arrived, z.server_free)
        z.server_free = depart = start + 1 / z.spec.capacity
        if z.first_at is not None and depart >= z.first_at + z.spec.batch_timeout_s:
            self._cut(z, z.first_at + z.spec.batch_timeout_s)
        if z.first_at is None:
            z.first_at = depart
        z.pending.append((arrived, origin, dev, start))
        if len(z.pending) >= z.spec.batch_size:
            self._cut(z, depart)

    def advance(
        self,
        t1: float,
        arrivals: Iterable[tuple[float, str, str]],
        route: Callable[[str, str], str],
    ) -> dict[str, ZoneObservation]:
        """Process the arrivals of [now, t1) routed by ``route(origin, dev)``; observe at t1."""
        t0 = self.now
        for t, origin, dev in arrivals:
            zone = route(origin, dev)
            self._arrivals[origin] += 1
            z = self._zones[zone]
            z.stored += 1
            self._offer(z, t, origin, dev)
        self.now = t1
        out: dict[str, ZoneObservation] = {}
        for name, z in self._zones.items():
            if (
                z.first_at is not None
                and z.first_at + z.spec.batch_timeout_s <= t1
                and (z.server_free <= z.first_at + z.spec.batch_timeout_s)
            ):
                self._cut(z, z.first_at + z.spec.batch_timeout_s)
            lat: list[float] = []
            while z.in_flight and z.in_flight[0].committed_at <= t1:
                rec = z.in_flight.popleft()
                self.records.append(rec)
                lat.append(rec.latency_s)
            out[name] = ZoneObservation(
                zone=name,
                arrivals=self._arrivals[name],
                stored=z.stored,
                committed=len(lat),
                backlog=len(z.in_flight) + len(z.pending),
                blocks=z.blocks,
                block_txs=z.block_txs,
                latencies=tuple(lat),
                period_s=t1 - t0,
            )
            z.blocks = z.block_txs = z.stored = 0
            self._arrivals[name] = 0
        return out

    def backlog(self, zone: str) -> int:
        z = self._zones[zone]
        return len(z.in_flight) + len(z.pending)
