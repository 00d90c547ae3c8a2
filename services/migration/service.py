"""MigrationService: the periodic decision loop (adapter around the pure policies).

Every ``period_s``: sample each zone's load (stats source), ask the policy for shares, damp
the change, install the result in the routing table (a new epoch when it changed), record the
decision (in memory, in ``<data_dir>/migration.sqlite``) and count it. On start the routing
epochs and the policy's memory are read back, so a restart keeps the routing.

Between two decisions, every ``fast_check_s``, a policy that can react (``react``, e.g. the
predictive policy's onset detector) sees the zones since the last check (the stats source's
``probe``) and may raise shares at once — only raise them (:func:`escalate`): the periodic
decision alone lowers them, so the two time scales never push the routing back and forth.
A reaction that changes the routing is recorded like a decision (``trigger="onset"``).

Wiring (composition root)::

    routing = RoutingTable()
    stats = WriterStatsSource(writer, routing, settings.zones, settings.params(), ledger)
    writer = make_writer(ledger, bus, ledger_settings, route=routing.route,
                         on_commit=chain(stats.on_commit, other_callback))
    service = MigrationService(settings, stats, routing)
    await writer.start(); await service.start()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from . import metrics
from .data import Decision, PolicyInput, PolicyOutput, Shares, ZoneStats
from .history import MigrationStore
from .policy import Damping, MigrationPolicy, can_react, damp, escalate, get_policy
from .routing import RoutingTable
from .settings import MigrationSettings
from .stats import StatsSource

log = logging.getLogger("hyperlora.migration")


def decide(
    policy: MigrationPolicy,
    request: PolicyInput,
    damping: Damping,
) -> tuple[Shares, PolicyOutput]:
    """One period, pure: the policy's proposal and the damped shares to install."""
    output = policy.decide(request)
    return damp(request.current, output.shares, damping), output


class MigrationService:
    def __init__(
        self,
        settings: MigrationSettings,
        ledger_writer_stats_source: StatsSource,
        routing_table: RoutingTable,
        clock: Callable[[], float] = time.monotonic,
        *,
        store: MigrationStore | None = None,
        policy: MigrationPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        keep_in_memory: int = 1000,
    ) -> None:
        self.settings = settings
        self.stats = ledger_writer_stats_source
        self.routing = routing_table
        self._clock = clock
        self._sleep = sleep
        self.policy = policy or get_policy(settings.policy)
        self.damping = Damping(settings.max_step_up, settings.max_step_down, settings.deadband)
        self.params = settings.params()
        self._store = store
        self._own_store = store is None
        self.decisions: deque[Decision] = deque(maxlen=keep_in_memory)
        self.last_stats: dict[str, ZoneStats] = {}
        self._state: dict[str, Any] = {}
        self._task: asyncio.Task[None] | None = None
        self._last_routed: Counter[tuple[str, str]] = Counter()
        self._probe_at: float | None = None

    @property
    def reacts(self) -> bool:
        """Whether fast checks run: enabled in settings, a policy that can react and a stats
        source that can be probed between periods."""
        return (
            self.settings.fast_check_s > 0
            and can_react(self.policy)
            and callable(getattr(self.stats, "probe", None))
        )

    def checks_per_period(self) -> int:
        """Fast checks per period, the decision included (1: decisions only)."""
        if not self.reacts:
            return 1
        return max(1, round(self.settings.period_s / self.settings.fast_check_s))

    @property
    def store(self) -> MigrationStore | None:
        return self._store

    async def start(self) -> None:
        if self._store is None:
            self._store = MigrationStore(Path(self.settings.data_dir) / "migration.sqlite")
        epochs = self._store.epochs()
        if epochs:
            self.routing.restore(epochs)
            log.info("routing restored at epoch %d", self.routing.current.epoch)
        self._state = self._store.load_state(self.policy.name)
        self._last_routed = Counter(self.routing.routed)
        self._publish_routing()
        now = self._clock()
        await self.stats.sample(now)  # opens the first period
        self._probe_at = now
        if self.settings.enabled:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._store is not None and self._own_store:
            self._store.close()
            self._store = None

    async def _loop(self) -> None:
        n = self.checks_per_period()
        tick = self.settings.period_s / n
        while True:
            for i in range(1, n + 1):
                await self._sleep(tick)
                try:
                    if self.reacts:  # every tick, the decision's included: no blind spot
                        await self.react()
                    if i == n:
                        await self.step()
                except Exception as exc:
                    metrics.ERRORS.labels(type(exc).__name__).inc()
                    log.exception("migration check failed (tick %d of %d)", i, n)

    async def react(self, now: float | None = None) -> Decision | None:
        """One fast check now: the policy's reaction to the zones since the last check,
        applied as an increase of shares only. The decision when the routing changed, else
        None (the policy's memory is updated either way)."""
        if not self.reacts:
            return None
        now = self._clock() if now is None else now
        probe = getattr(self.stats, "probe")  # noqa: B009  (optional part of StatsSource)
        zones: dict[str, ZoneStats] = await probe(now)
        window = now - self._probe_at if self._probe_at is not None else 0.0
        self._probe_at = now
        request = self._request(now, zones, window_s=window)
        output: PolicyOutput = getattr(self.policy, "react")(request)  # noqa: B009
        self._state = output.state
        shares = escalate(request.current, output.shares, self.damping)
        changed = self.routing.apply(shares, now, self.policy.name)
        if not changed:
            return None
        decision = self._record(now, changed, zones, output, trigger="onset")
        metrics.REACTIONS.labels(self.policy.name).inc()
        return decision

    def _request(
        self, now: float, zones: dict[str, ZoneStats], window_s: float | None = None
    ) -> PolicyInput:
        """The policy's input: these zone statistics, the current routing and our state."""
        return PolicyInput(
            now=now,
            period_s=self.settings.period_s,
            zones=zones,
            current=self.routing.shares,
            params=self.params,
            target_utilisation=self.settings.target_utilisation,
            state=self._state,
            options=self.settings.policy_options,
            window_s=window_s,
        )

    async def step(self, now: float | None = None) -> Decision:
        """Run one decision period now (the loop calls it every ``period_s``)."""
        now = self._clock() if now is None else now
        zones = await self.stats.sample(now)
        self.last_stats = zones
        request = self._request(now, zones)
        shares, output = decide(self.policy, request, self.damping)
        changed = self.routing.apply(shares, now, self.policy.name)
        self._state = output.state
        return self._record(now, changed, zones, output)

    def _record(
        self,
        now: float,
        changed: bool,
        zones: dict[str, ZoneStats],
        output: PolicyOutput,
        trigger: str = "period",
    ) -> Decision:
        decision = Decision(
            at=now,
            policy=self.policy.name,
            epoch=self.routing.current.epoch,
            changed=changed,
            shares=self.routing.shares,
            proposed=output.shares,
            reason=output.reason,
            zones={z: s.to_dict() for z, s in zones.items()},
            predicted_latency_s=output.predicted_latency_s,
            forecast_rate=output.forecast_rate,
            trigger=trigger,
        )
        self.decisions.append(decision)
        if self._store is not None:
            if changed:
                self._store.save_epoch(self.routing.current)
            self._store.save_decision(decision)
            if output.state:
                self._store.save_state(self.policy.name, output.state)
        self._count(decision, zones)
        if changed:
            log.info("routing epoch %d: %s (%s)", decision.epoch, decision.shares, decision.reason)
        return decision

    def _count(self, decision: Decision, zones: dict[str, ZoneStats]) -> None:
        metrics.DECISIONS.labels(decision.policy, str(decision.changed).lower()).inc()
        for z, s in zones.items():
            metrics.ARRIVAL_RATE.labels(z).set(s.arrival_rate)
        for z, v in decision.predicted_latency_s.items():
            metrics.PREDICTED_LATENCY.labels(z).set(v)
        routed = Counter(self.routing.routed)
        for (origin, zone), n in routed.items():
            if origin != zone and n > self._last_routed[(origin, zone)]:
                metrics.MIGRATED.labels(origin, zone).inc(n - self._last_routed[(origin, zone)])
        self._last_routed = routed
        if decision.changed:
            self._publish_routing()

    def _publish_routing(self) -> None:
        metrics.EPOCH.set(self.routing.current.epoch)
        metrics.SHARE.clear()
        for origin, row in self.routing.shares.items():
            for zone, share in row.items():
                metrics.SHARE.labels(origin, zone).set(share)
