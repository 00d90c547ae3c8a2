"""The ledger writer service: ``ledger.tx`` -> durable outbox -> ledger transactions.

* consumes ``ledger.tx`` (LedgerRecord) as consumer group ``ledger_writer``; the handler
  stages the record and returns a completion that finishes once the record is committed to
  the outbox (SQLite), so the bus offset is acknowledged only once the record is durable; the
  records received within ``intake_window_s`` share one outbox transaction (a failed one is
  retried with backoff); a record whose idempotency key is already in the outbox (or
  committed, or failed) is dropped;
* ``route(record) -> zone`` picks the zone whose ledger stores the record (identity by
  default; the migration service installs its own);
* one lane per (zone, ledger channel): a task that takes up to ``max_batch`` records and
  stores them with ``Ledger.submit_records`` — ONE transaction per batch on the embedded
  ledger and on Fabric (``<contract>:create_batch``; several batches in flight share blocks)
  — and handles each record's outcome — created or already stored: removed from the outbox
  and confirmed (tx id, block); its transaction invalidated (MVCC): retried at once; ledger
  down or timeout: retried with exponential backoff (nothing is lost, the outbox keeps it);
  refused by the chaincode for good: moved to the outbox's failed table, the rest of its
  batch is stored;
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
import sqlite3
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import orjson

from services.bus import Bus, Envelope, Topic
from services.bus.base import Completion
from services.bus.messages import BaseMessage, LedgerRecord

from . import metrics
from .base import Invocation, Ledger, RecordResult, RecordWrite, record_result
from .channels import CONTRACT_OF, ledger_channel
from .errors import ChaincodeError, LedgerError, TransactionInvalidated
from .outbox import NewRecord, Outbox, OutboxEntry

log = logging.getLogger("hyperlora.ledger.writer")

GROUP = "ledger_writer"
OUTBOX_FILE = "ledger_writer.sqlite"
OUTBOX_RETRIES = 3  # a failed outbox commit is retried this often before the bus parks it

Route = Callable[[LedgerRecord], str]
# a received record waiting for the outbox write: its row, the future its handler awaits, and
# how many writes of it failed so far
_Staged = tuple[NewRecord, asyncio.Future[bool], int]


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
    max_in_flight: int = 1000  # records in flight per lane (>= 10 batches: full blocks)
    # records received from the bus within this window share one outbox transaction (their
    # bus completions finish at its commit); up to linger_s it adds no latency: a lane lingers
    # for a batch from its oldest record's arrival, not from the outbox write
    intake_window_s: float = 0.01


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
    # this lane's metric series (a labels() lookup per record costs more than the update)
    backlog_gauge: Any = None
    latency: Any = None
    created: Any = None
    existed: Any = None

    def __post_init__(self) -> None:
        self.backlog_gauge = metrics.BACKLOG.labels(self.zone, self.ledger_channel)
        self.latency = metrics.COMMIT_LATENCY.labels(self.zone)
        self.created = metrics.COMMITTED.labels(self.zone, self.ledger_channel, "created")
        self.existed = metrics.COMMITTED.labels(self.zone, self.ledger_channel, "exists")


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
        # (record channel, zone) -> (ledger channel, contract function)
        self._targets: dict[tuple[str, str], tuple[str, str]] = {}
        self._running = False
        self.counters = WriterCounters()
        # records received in this event-loop turn, written to the outbox by _flush
        self._staged: list[_Staged] = []
        self._flush_handle: asyncio.Handle | None = None
        self._flush_due = 0.0  # loop time the scheduled outbox write is due
        # records confirmed in this turn, moved to the outbox's committed table by _flush_done
        self._done: list[tuple[OutboxEntry, str, int]] = []
        self._done_handle: asyncio.Handle | None = None
        self._done_written: asyncio.Future[None] | None = None

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
        if self._flush_handle is not None:  # records staged in this turn go to the outbox
            self._flush_handle.cancel()
            self._flush()
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
        if self._done_handle is not None:
            self._done_handle.cancel()
            self._flush_done()
        if self._outbox is not None and self._outbox_path is not None:
            self._outbox.close()
            self._outbox = None

    # ------------------------------------------------------------------ intake
    async def _on_message(self, envelope: Envelope[BaseMessage]) -> Completion:
        """The ``ledger.tx`` handler: stages the record and returns its completion, which
        finishes when the record is committed to the outbox (so the bus acknowledges only
        durable records, and the records of one intake window share one SQLite commit). A
        failed outbox write is retried (OUTBOX_RETRIES, with backoff) before the completion
        fails and the bus parks the record."""
        message = envelope.message
        if not isinstance(message, LedgerRecord):  # pragma: no cover - topic model mismatch
            raise TypeError(f"ledger.tx carried {type(message).__name__}")
        staged = self._stage(self._row(message), self.config.intake_window_s)
        return cast(Completion, staged)

    async def handle(self, record: LedgerRecord) -> bool:
        """Persist one record to the outbox now (with whatever else is staged) and queue it;
        False for a known idempotency key. Written before returning, without yielding to the
        event loop (unless the write fails and is retried)."""
        future = self._stage(self._row(record), 0.0)
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        self._flush()
        return await future

    def accept(self, record: LedgerRecord) -> asyncio.Future[bool]:
        """Stage one record for the outbox, as the bus consumer does; the future says, once
        the record is committed to the outbox, whether it was new (True) or its idempotency
        key already known (False). Records staged within ``intake_window_s`` are written in
        one SQLite transaction."""
        return self._stage(self._row(record), self.config.intake_window_s)

    def _row(self, record: LedgerRecord) -> NewRecord:
        """The outbox row of a received record (routed to its zone now)."""
        self.counters.received += 1
        channel, origin, key, idem = record.channel, record.zone, record.key, record.idempotency_key
        zone = self.route(record)
        target = self._targets.get((channel, zone))
        if target is None:
            target = (ledger_channel(channel, zone), f"{CONTRACT_OF[channel]}:create")
            self._targets[(channel, zone)] = target
        payload: dict[str, Any] = dict(record.payload)
        if channel == "application":
            payload["origin_zone"] = origin
            payload["stored_zone"] = zone
        args = (record.kind, key, idem, _payload_json(payload))
        return NewRecord(idem, target[0], zone, origin, channel, key, target[1], args, self._now())

    def _stage(self, row: NewRecord, window_s: float) -> asyncio.Future[bool]:
        """Queue a row for the next outbox write, due at most ``window_s`` from now."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._staged.append((row, future, 0))
        self._schedule_flush(window_s)
        return future

    def _schedule_flush(self, window_s: float) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + max(0.0, window_s)
        if self._flush_handle is None or due < self._flush_due:
            if self._flush_handle is not None:
                self._flush_handle.cancel()
            self._flush_due = due
            if window_s > 0:
                self._flush_handle = loop.call_at(due, self._flush)
            else:
                self._flush_handle = loop.call_soon(self._flush)

    def _flush(self) -> None:
        """Write the staged records to the outbox (one transaction) and queue the new ones."""
        self._flush_handle = None
        staged, self._staged = self._staged, []
        if not staged:
            return
        try:
            entries = self.outbox.add_many([row for row, _, _ in staged])
        except Exception as exc:  # nothing of the group was written
            self._flush_failed(staged, exc)
            return
        for (row, future, _), entry in zip(staged, entries, strict=True):
            if entry is None:
                self.counters.duplicates += 1
                metrics.DUPLICATES.labels(row.zone).inc()
            else:
                self._enqueue(entry)
            if not future.done():
                future.set_result(entry is not None)

    def _flush_failed(self, staged: list[_Staged], exc: Exception) -> None:
        """Retry a failed outbox write (SQLite I/O error, locked, ...) with backoff; a record
        whose write failed OUTBOX_RETRIES + 1 times, or any other error, fails its future."""
        transient = isinstance(exc, sqlite3.Error | OSError)
        retry: list[_Staged] = []
        for row, future, failures in staged:
            if future.done():
                continue
            if transient and failures < OUTBOX_RETRIES:
                retry.append((row, future, failures + 1))
            else:
                future.set_exception(exc)
        if not retry:
            return
        delay = self.config.backoff_initial_s * 2 ** (max(n for _, _, n in retry) - 1)
        log.warning("outbox write failed, retrying in %.2f s: %s", delay, exc)

        def again() -> None:
            self._staged[:0] = retry  # before what arrived meanwhile: arrival order
            self._schedule_flush(0.0)

        asyncio.get_running_loop().call_later(delay, again)

    def _flush_done(self) -> None:
        """Move the records confirmed in this turn from the outbox to ``committed``."""
        self._done_handle = None
        done, self._done = self._done, []
        written, self._done_written = self._done_written, None
        try:
            if done:
                self.outbox.committed(done, self._now())
        except Exception:  # they stay pending in the outbox: a restart resubmits them
            log.exception("outbox: could not mark %d committed records", len(done))
        finally:
            if written is not None and not written.done():
                written.set_result(None)

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
        lane.backlog_gauge.set(len(lane.queue) + lane.in_flight)

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
                    # linger for a fuller batch, counted from the oldest record's arrival
                    waited = self._now() - lane.queue[0].enqueued_at
                    linger = min(self.config.linger_s, max(0.0, self.config.linger_s - waited))
                    if linger > 0:
                        await self._sleep(linger)
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
        results = await self._store(lane, batch)
        done: list[tuple[OutboxEntry, RecordResult]] = []
        retry_now: list[OutboxEntry] = []
        retry_later: list[OutboxEntry] = []
        for entry, result in zip(batch, results, strict=True):
            if isinstance(result, RecordResult):
                done.append((entry, result))
            elif isinstance(result, TransactionInvalidated):  # lost an MVCC race
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

    async def _store(
        self, lane: _Lane, batch: list[OutboxEntry]
    ) -> list[RecordResult | BaseException]:
        """One result per entry: the records of each ``<contract>:create`` go to the ledger
        with ``submit_records`` (one transaction per batch where the adapter supports it);
        anything else as single transactions."""
        groups: dict[str, list[int]] = {}
        for i, entry in enumerate(batch):
            groups.setdefault(entry.contract_fn, []).append(i)
        results: list[RecordResult | BaseException] = [
            LedgerError("no result (internal error)")
        ] * len(batch)
        for contract_fn, idx in groups.items():
            contract, _, function = contract_fn.partition(":")
            try:
                if function == "create" and all(len(batch[i].args) == 4 for i in idx):
                    part = await self._ledger.submit_records(
                        lane.ledger_channel, contract, [RecordWrite(*batch[i].args) for i in idx]
                    )
                else:
                    calls = [Invocation(contract_fn, batch[i].args) for i in idx]
                    raw = await self._ledger.submit_batch(lane.ledger_channel, calls)
                    part = [r if isinstance(r, BaseException) else record_result(r) for r in raw]
            except Exception as exc:  # the whole batch failed (adapter down, ...)
                part = [exc] * len(idx)
            for i, result in zip(idx, part, strict=True):
                results[i] = result
        return results

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

    async def _confirm(self, lane: _Lane, done: list[tuple[OutboxEntry, RecordResult]]) -> None:
        now = self._now()
        # the outbox moves them to ``committed`` once per event-loop turn (the batches of one
        # block finish in the same turn): one SQLite transaction instead of one per batch; a
        # crash before that write resubmits them, and the contracts answer "exists"
        self._done.extend((e, r.tx_id, r.block_number) for e, r in done)
        if self._done_handle is None:
            loop = asyncio.get_running_loop()
            self._done_written = loop.create_future()
            self._done_handle = loop.call_soon(self._flush_done)
        written = self._done_written
        existing = sum(1 for _, r in done if r.status == "exists")
        lane.committed += len(done)
        self.counters.existing += existing
        self.counters.committed += len(done) - existing
        if existing:
            lane.existed.inc(existing)
        if len(done) > existing:
            lane.created.inc(len(done) - existing)
        observe = lane.latency.observe
        for entry, _ in done:
            observe(max(0.0, now - entry.enqueued_at))
        if written is not None:
            await asyncio.shield(written)  # confirmations follow the outbox write
        if self._on_commit is None:
            return
        for entry, result in done:
            confirmation = Confirmation(
                idempotency_key=entry.idempotency_key,
                channel=entry.channel,
                ledger_channel=entry.ledger_channel,
                zone=entry.zone,
                origin_zone=entry.origin_zone,
                key=entry.record_key,
                tx_id=result.tx_id,
                block_number=result.block_number,
                result=result.status,
                latency_s=max(0.0, now - entry.enqueued_at),
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


def _payload_json(payload: dict[str, Any]) -> str:
    """A record's payload as JSON text (sorted keys; the chaincode parses it and stores its own
    canonical form, so only its content matters here)."""
    try:
        return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:  # what orjson does not take (integers beyond 64 bits, ...)
        return json.dumps(payload, sort_keys=True, separators=(",", ":"))
