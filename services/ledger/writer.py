"""The ledger writer service: ``ledger.tx`` -> durable outbox -> ledger transactions.

* consumes ``ledger.tx`` (LedgerRecord) as consumer group ``ledger_writer``; the handler
  writes the record to the outbox (SQLite, committed) and returns, so the bus offset is
  acknowledged only once the record is durable; a record whose idempotency key is already in
  the outbox (or committed) is dropped;
* ``route(record) -> zone`` picks the zone whose ledger stores the record (identity by
  default; the migration service installs its own);
* one lane per (zone, ledger channel): a task that takes up to ``max_batch`` records, submits
  them concurrently (they share blocks), and handles each result — committed or already
  stored: removed from the outbox and confirmed; MVCC conflict: retried at once; ledger down
  or timeout: retried with exponential backoff (nothing is lost, the outbox keeps it);
  refused by the chaincode for good: moved to the outbox's failed table;
* confirmations go to an in-process callback (there is no bus topic for them yet);
* metrics per zone: hyperlora_ledger_backlog_records, hyperlora_ledger_commit_latency_seconds,
  hyperlora_ledger_committed_records (see metrics.py).

Exactly once: the contracts deduplicate by idempotency key, so a transaction retried after a
lost commit status returns the stored record instead of writing it twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.bus import Bus, Envelope, Topic
from services.bus.messages import BaseMessage, LedgerRecord

from . import metrics
from .base import CommitResult, Invocation, Ledger
from .channels import CONTRACT_OF, ledger_channel
from .errors import ChaincodeError, LedgerError
from .outbox import Outbox, OutboxEntry

log = logging.getLogger("hyperlora.ledger.writer")

GROUP = "ledger_writer"
OUTBOX_FILE = "ledger_writer.sqlite"

Route = Callable[[LedgerRecord], str]


def identity_route(record: LedgerRecord) -> str:
    return record.zone


@dataclass(frozen=True, slots=True)
class Confirmation:
    idempotency_key: str
    channel: str  # device | network | application
    ledger_channel: str
    zone: str  # zone whose ledger stores it
    origin_zone: str
    key: str
    tx_id: str
    block_number: int
    result: str  # "created" | "exists"
    latency_s: float


OnCommit = Callable[[Confirmation], Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class WriterConfig:
    max_batch: int = 50
    linger_s: float = 0.01
    backoff_initial_s: float = 0.1
    backoff_max_s: float = 5.0
    max_in_flight: int = 200


@dataclass(slots=True)
class _Lane:
    zone: str
    ledger_channel: str
    queue: deque[OutboxEntry] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    in_flight: int = 0
    committed: int = 0
    backoff_s: float = 0.0  # > 0: pause this long before the next batch; < 0: last level


@dataclass(slots=True)
class WriterCounters:
    received: int = 0
    duplicates: int = 0
    committed: int = 0
    existing: int = 0
    failed: int = 0
    retries: int = 0


class LedgerWriter:
    def __init__(
        self,
        ledger: Ledger,
        *,
        data_dir: str | Path | None = None,
        outbox: Outbox | None = None,
        bus: Bus | None = None,
        config: WriterConfig | None = None,
        route: Route = identity_route,
        on_commit: OnCommit | None = None,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        concurrency: int = 4,
    ) -> None:
        if outbox is None and data_dir is None:
            raise ValueError("give the writer a data_dir or an outbox")
        self._ledger = ledger
        self._outbox_path = Path(data_dir) / OUTBOX_FILE if data_dir is not None else None
        self._outbox = outbox
        self._bus = bus
        self.config = config or WriterConfig()
        self.route = route
        self._on_commit = on_commit
        self._now = wall_clock
        self._sleep = sleep
        self._concurrency = concurrency
        self._lanes: dict[tuple[str, str], _Lane] = {}
        self._running = False
        self.counters = WriterCounters()

    # ------------------------------------------------------------------ lifecycle
    @property
    def outbox(self) -> Outbox:
        if self._outbox is None:
            raise RuntimeError("writer not started")
        return self._outbox

    async def start(self) -> None:
        """Open the outbox, requeue what it holds, subscribe (call before bus.start())."""
        if self._outbox is None:
            assert self._outbox_path is not None
            self._outbox = Outbox(self._outbox_path)
        self._running = True
        for entry in self._outbox.pending():
            self._enqueue(entry)
        if self._bus is not None:
            self._bus.subscribe(Topic.LEDGER_TX, GROUP, self._on_message, self._concurrency)

    async def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Stop the lanes (waiting up to ``drain_timeout_s`` for the outbox to empty)."""
        deadline = time.monotonic() + drain_timeout_s
        while self.backlog() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        self._running = False
        for lane in self._lanes.values():
            if lane.task is not None:
                lane.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await lane.task
        self._lanes.clear()
        if self._outbox is not None and self._outbox_path is not None:
            self._outbox.close()
            self._outbox = None

    # ------------------------------------------------------------------ intake
    async def _on_message(self, envelope: Envelope[BaseMessage]) -> None:
        message = envelope.message
        if not isinstance(message, LedgerRecord):  # pragma: no cover - topic model mismatch
            raise TypeError(f"ledger.tx carried {type(message).__name__}")
        await self.handle(message)

    async def handle(self, record: LedgerRecord) -> bool:
        """Persist one record to the outbox and queue it; False for a known idempotency key."""
        self.counters.received += 1
        zone = self.route(record)
        channel_name = ledger_channel(record.channel, zone)
        payload: dict[str, Any] = dict(record.payload)
        if record.channel == "application":
            payload["origin_zone"] = record.zone
            payload["stored_zone"] = zone
        args = (
            record.kind,
            record.key,
            record.idempotency_key,
            json.dumps(payload, sort_keys=True, separators=(",", ":")),
        )
        entry = self.outbox.add(
            idempotency_key=record.idempotency_key,
            ledger_channel=channel_name,
            zone=zone,
            origin_zone=record.zone,
            channel=record.channel,
            record_key=record.key,
            contract_fn=f"{CONTRACT_OF[record.channel]}:create",
            args=args,
            enqueued_at=self._now(),
        )
        if entry is None:
            self.counters.duplicates += 1
            metrics.DUPLICATES.labels(zone).inc()
            return False
        self._enqueue(entry)
        return True

    def _enqueue(self, entry: OutboxEntry, front: bool = False) -> None:
        key = (entry.zone, entry.ledger_channel)
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane(entry.zone, entry.ledger_channel)
            if self._running:
                lane.task = asyncio.get_running_loop().create_task(self._run_lane(lane))
        if front:
            lane.queue.appendleft(entry)
        else:
            lane.queue.append(entry)
        lane.wake.set()
        self._gauge(lane)

    def _gauge(self, lane: _Lane) -> None:
        metrics.BACKLOG.labels(lane.zone, lane.ledger_channel).set(len(lane.queue) + lane.in_flight)

    # ------------------------------------------------------------------ lanes
    async def _run_lane(self, lane: _Lane) -> None:
        """Take batches off the lane's queue and submit them, several batches in flight at
        once (up to ``max_in_flight`` records); pause the lane after a transient failure."""
        tasks: set[asyncio.Task[None]] = set()
        try:
            while True:
                if lane.backoff_s > 0:
                    await self._sleep(lane.backoff_s)
                    lane.backoff_s = -lane.backoff_s  # remember the level, but do not wait again
                if not lane.queue or lane.in_flight >= self.config.max_in_flight:
                    lane.wake.clear()
                    await lane.wake.wait()
                    continue
                if len(lane.queue) < self.config.max_batch and self.config.linger_s > 0:
                    await self._sleep(self.config.linger_s)
                room = self.config.max_in_flight - lane.in_flight
                n = min(self.config.max_batch, len(lane.queue), room)
                batch = [lane.queue.popleft() for _ in range(n)]
                lane.in_flight += n
                task = asyncio.get_running_loop().create_task(self._run_batch(lane, batch))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        finally:
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _run_batch(self, lane: _Lane, batch: list[OutboxEntry]) -> None:
        try:
            transient = await self._submit(lane, batch)
        finally:
            lane.in_flight -= len(batch)
            self._gauge(lane)
        if transient:
            level = abs(lane.backoff_s)
            lane.backoff_s = min(
                self.config.backoff_max_s, max(self.config.backoff_initial_s, level * 2)
            )
        elif lane.backoff_s <= 0:
            lane.backoff_s = 0.0
        lane.wake.set()

    async def _submit(self, lane: _Lane, batch: list[OutboxEntry]) -> bool:
        """Submit a batch; returns True when some records must wait for the ledger."""
        invocations = [Invocation(e.contract_fn, e.args) for e in batch]
        try:
            results = await self._ledger.submit_batch(lane.ledger_channel, invocations)
        except Exception as exc:  # the whole batch failed (adapter down, ...)
            results = [exc] * len(batch)
        done: list[tuple[OutboxEntry, CommitResult]] = []
        retry_now: list[OutboxEntry] = []
        retry_later: list[OutboxEntry] = []
        for entry, result in zip(batch, results, strict=True):
            if isinstance(result, CommitResult):
                if result.ok:
                    done.append((entry, result))
                else:
                    self._retry_metric(lane, result.status)
                    retry_now.append(entry)
            elif isinstance(result, ChaincodeError) and not result.transient:
                self._fail(lane, entry, result)
            elif isinstance(result, LedgerError | OSError | asyncio.TimeoutError):
                self._retry_metric(lane, type(result).__name__)
                retry_later.append(entry)
            else:
                log.error(
                    "unexpected ledger error, will retry",
                    exc_info=result if isinstance(result, BaseException) else None,
                    extra={"zone": lane.zone, "channel": lane.ledger_channel},
                )
                self._retry_metric(lane, type(result).__name__)
                retry_later.append(entry)
        if done:
            await self._confirm(lane, done)
        again = retry_now + retry_later
        if again:
            self.outbox.bump_attempts([e.id for e in again])
            for entry in reversed(again):
                lane.queue.appendleft(entry)
        return bool(retry_later)

    def _retry_metric(self, lane: _Lane, reason: str) -> None:
        self.counters.retries += 1
        metrics.RETRIES.labels(lane.zone, lane.ledger_channel, reason).inc()

    def _fail(self, lane: _Lane, entry: OutboxEntry, error: ChaincodeError) -> None:
        self.counters.failed += 1
        metrics.FAILED.labels(lane.zone, lane.ledger_channel, error.code).inc()
        log.warning(
            "ledger refused record %s: %s",
            entry.idempotency_key,
            error.message,
            extra={"zone": lane.zone, "channel": lane.ledger_channel},
        )
        self.outbox.failed(entry, error.message, self._now())

    async def _confirm(self, lane: _Lane, done: list[tuple[OutboxEntry, CommitResult]]) -> None:
        now = self._now()
        self.outbox.committed([(e, r.tx_id, r.block_number) for e, r in done], now)
        for entry, result in done:
            outcome, tx_id = _outcome(result)
            latency = max(0.0, now - entry.enqueued_at)
            lane.committed += 1
            if outcome == "exists":
                self.counters.existing += 1
            else:
                self.counters.committed += 1
            metrics.COMMITTED.labels(lane.zone, lane.ledger_channel, outcome).inc()
            metrics.COMMIT_LATENCY.labels(lane.zone).observe(latency)
            if self._on_commit is not None:
                confirmation = Confirmation(
                    idempotency_key=entry.idempotency_key,
                    channel=entry.channel,
                    ledger_channel=entry.ledger_channel,
                    zone=entry.zone,
                    origin_zone=entry.origin_zone,
                    key=entry.record_key,
                    tx_id=tx_id,
                    block_number=result.block_number,
                    result=outcome,
                    latency_s=latency,
                )
                ret = self._on_commit(confirmation)
                if inspect.isawaitable(ret):
                    await ret

    # ------------------------------------------------------------------ introspection
    def backlog(self, zone: str | None = None) -> int:
        """Records not yet committed (queued or in flight), for one zone or all."""
        return sum(
            len(lane.queue) + lane.in_flight
            for lane in self._lanes.values()
            if zone is None or lane.zone == zone
        )

    def stats(self) -> dict[str, dict[str, int]]:
        """Per lane ``"<zone>/<ledger channel>"``: backlog and committed count."""
        return {
            f"{lane.zone}/{lane.ledger_channel}": {
                "backlog": len(lane.queue) + lane.in_flight,
                "committed": lane.committed,
            }
            for lane in self._lanes.values()
        }


def _outcome(result: CommitResult) -> tuple[str, str]:
    """("created" | "exists", tx_id of the stored record) from the chaincode's response."""
    try:
        body = json.loads(result.payload) if result.payload else {}
    except ValueError:
        body = {}
    if isinstance(body, dict) and body.get("status") == "exists":
        record = body.get("record") or {}
        return "exists", str(record.get("tx_id") or body.get("tx_id") or result.tx_id)
    return "created", result.tx_id
