"""The Kafka adapter (aiokafka).

* start: creates missing topics (and their ``.dlq``) with the configured partition counts
  (AIOKafkaAdminClient), starts one idempotent producer (``acks=all``) and, per consumer
  group, ONE AIOKafkaConsumer over the topics this process subscribes in that group
  (auto-commit off; range assignor, so partition p of every topic of the group goes to the
  same member: records with one key on several topics meet in one process);
* publish: enqueues the record in the producer in call order (records of one key keep their
  order; concurrent publishers share batches). Made on behalf of a consumed record (in its
  handler or a task the handler started: a context variable says so), it returns once
  enqueued and the acknowledgement joins the record's completion; otherwise it returns once
  the broker acknowledged the record. The record key is the UTF-8 key, partitioned by
  aiokafka's murmur2 partitioner (the same as services.bus.keys.partition_for);
* consume: a fetch loop hands records to one worker per assigned partition. With
  ``key_parallelism`` 1 the worker handles its records one at a time; above 1 it starts up to
  that many records at once, each after the handler of the previous record with the same key
  returned (per-key order; records of other keys sharing the partition go ahead). At most
  ``concurrency`` x ``key_parallelism`` handlers of a subscription run at once. A partition whose
  backlog passes ``max_poll_records`` is paused until its worker catches up (backpressure).
  A handler may return a completion (services.bus.base): the worker takes the next record at
  once and the record is finished when its completion is (one that raises parks the record
  on the DLQ); more than ``max_pending_completions`` unfinished records hold the worker.
  A record is finished when its handler returned without a completion, when its completion
  finished, or when it was parked on the DLQ. A commit loop commits, per partition, the
  lowest unfinished offset (or the one after the last record taken), so offsets are
  committed in order and only for finished records (at-least-once);
* rebalance: revoked partitions finish their in-flight record and wait for their pending
  completions, then commit what is finished — all within half the rebalance timeout, so a
  slow handler never makes this member miss the rebalance (which would start another); what
  is unfinished is redelivered to the next owner;
* stop: stops fetching, waits (up to ``drain_timeout_s``) for in-flight handlers and pending
  completions, commits, leaves the group, then flushes and stops the producer. Records fetched
  but not started, and records whose completion did not finish, are not committed, so the
  next owner gets them;
* lag: ``hyperlora_bus_consumer_lag_messages`` per partition = high watermark − committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition  # type: ignore[import-untyped]
from aiokafka import errors as kafka_errors
from aiokafka.abc import ConsumerRebalanceListener  # type: ignore[import-untyped]
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped]
from aiokafka.coordinator.assignors.range import (  # type: ignore[import-untyped]
    RangePartitionAssignor,
)
from aiokafka.errors import KafkaError, TopicAlreadyExistsError  # type: ignore[import-untyped]

from . import codec, metrics
from .base import (
    DEFAULT_CONCURRENCY,
    Bus,
    BusCounters,
    Completion,
    Handler,
    RetryPolicy,
    Subscription,
)
from .dispatch import Record, deliver_deferred, settle
from .errors import BusClosed, BusError
from .messages import BaseMessage, DeadLetter
from .settings import BusSettings
from .topics import all_topics, dlq_topic, is_dlq, model_for

log = logging.getLogger("hyperlora.bus.kafka")

#: delivery errors after which the idempotent producer cannot send again (see _check_delivery)
FATAL_PRODUCER_ERRORS: tuple[type[BaseException], ...] = tuple(
    getattr(kafka_errors, name)
    for name in (
        "OutOfOrderSequenceNumber",
        "UnknownProducerIdError",
        "InvalidProducerEpoch",
        "ProducerFenced",
    )
    if isinstance(getattr(kafka_errors, name, None), type)
)


@dataclass(slots=True)
class _Deliveries:
    """The acknowledgements still owed for what one consumed record's handling published.
    While ``open``, a publish made on behalf of the record (in its handler, or in a task the
    handler started) returns once enqueued and its acknowledgement joins the record's
    completion; once closed, publishes wait for their own acknowledgement again."""

    futures: list[asyncio.Future[Any]] = field(default_factory=list)
    open: bool = True


_DELIVERIES: ContextVar[_Deliveries | None] = ContextVar("hyperlora_bus_deliveries", default=None)

_TOPIC_ALREADY_EXISTS = 36  # Kafka protocol error code


# ---------------------------------------------------------------------- pure helpers


def producer_config(settings: BusSettings) -> dict[str, Any]:
    k = settings.kafka
    return {
        "bootstrap_servers": k.bootstrap_servers,
        "client_id": f"{k.client_id}-producer",
        "security_protocol": k.security_protocol,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": k.linger_ms,
        "max_batch_size": k.max_batch_size,
        "compression_type": k.compression_type,
        "request_timeout_ms": k.request_timeout_ms,
    }


def consumer_config(settings: BusSettings, group: str) -> dict[str, Any]:
    k = settings.kafka
    return {
        "bootstrap_servers": k.bootstrap_servers,
        "client_id": f"{k.client_id}-{group}",
        "security_protocol": k.security_protocol,
        "group_id": group,
        "enable_auto_commit": False,
        "auto_offset_reset": k.auto_offset_reset,
        "max_poll_records": k.max_poll_records,
        "session_timeout_ms": k.session_timeout_ms,
        "rebalance_timeout_ms": k.rebalance_timeout_ms,
        # co-partitioning: with one member per process and group, the range assignor gives
        # partition p of every topic of the group to the same member, so records with the
        # same key on different topics (a join request on gw.up and its js.join.accept, both
        # keyed by DevEUI) meet in the same process
        "partition_assignment_strategy": (RangePartitionAssignor,),
        "heartbeat_interval_ms": k.heartbeat_interval_ms,
        "max_poll_interval_ms": k.max_poll_interval_ms,
        "request_timeout_ms": k.request_timeout_ms,
        "fetch_max_wait_ms": k.fetch_timeout_ms,
    }


def revoke_budget_s(settings: BusSettings) -> float:
    """Seconds a revoke may take (drain + commit): half the rebalance timeout."""
    return settings.kafka.rebalance_timeout_ms / 1000 / 2


def topics_to_create(
    settings: BusSettings, existing: Sequence[str], wanted: Sequence[str] | None = None
) -> list[NewTopic]:
    """NewTopic for every wanted topic (default: all, with DLQs) not in ``existing``."""
    have = set(existing)
    names = list(wanted) if wanted is not None else all_topics(include_dlq=True)
    return [
        NewTopic(
            name=name,
            num_partitions=settings.partitions_of(name),
            replication_factor=settings.kafka.replication_factor,
        )
        for name in names
        if name not in have
    ]


def encode_headers(headers: Mapping[str, bytes]) -> list[tuple[str, bytes]]:
    return [(k, bytes(v)) for k, v in headers.items()]


def to_record(msg: ConsumerRecord[bytes, bytes]) -> Record:
    """A Kafka ConsumerRecord as a bus Record (nothing decoded yet; a null value is b"")."""
    key = msg.key.decode("utf-8", errors="replace") if msg.key is not None else ""
    return Record(
        topic=msg.topic,
        key=key,
        partition=msg.partition,
        offset=msg.offset,
        headers={k: bytes(v) for k, v in (msg.headers or ())},
        raw=msg.value if msg.value is not None else b"",
        message=None,
        timestamp_ms=msg.timestamp,
    )


# ---------------------------------------------------------------------- consumer side


@dataclass(slots=True)
class _PartitionWorker:
    tp: TopicPartition
    backlog: deque[ConsumerRecord[bytes, bytes]] = field(default_factory=deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    busy: bool = False
    idle: asyncio.Event = field(default_factory=asyncio.Event)  # no handler running
    taken_next: int | None = None  # offset after the last record taken (handler returned)
    first_taken: int | None = None  # offset of the first record taken (nothing to commit yet)
    committed_next: int | None = None
    revoked: bool = False
    # records taken whose completion has not finished, by offset (ascending: taken in order)
    pending: dict[int, asyncio.Task[None]] = field(default_factory=dict)
    settled: asyncio.Event = field(default_factory=asyncio.Event)  # ``pending`` is empty
    room: asyncio.Event = field(default_factory=asyncio.Event)  # ``pending`` below its cap
    # key parallelism: handlers running in this partition, and per key the future that the
    # key's last record's handler returned (the next record of that key starts after it)
    handlers: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))
    last_of_key: dict[str, asyncio.Future[None]] = field(default_factory=dict)

    def committable(self) -> int | None:
        """The offset to commit: the lowest unfinished record, else the one after the last
        taken (every record below it is finished); None while nothing was finished."""
        for offset in self.pending:
            return None if offset == self.first_taken else offset
        return self.taken_next


async def _all_done(completion: Completion | None, deliveries: _Deliveries) -> None:
    """A record's completion: the handler's own, then the acknowledgement of everything
    published on the record's behalf (raises if one failed: the record is parked)."""
    try:
        if completion is not None:
            if asyncio.isfuture(completion):
                await asyncio.shield(completion)
            else:
                await completion
        i = 0
        while i < len(deliveries.futures):  # more may be added while we wait
            await deliveries.futures[i]
            i += 1
    finally:
        deliveries.open = False


class _GroupConsumer(ConsumerRebalanceListener):  # type: ignore[misc]
    """The subscriptions of one consumer group in this process: ONE consumer (one group
    member, so one rebalance per process start or stop, not one per topic) over their topics,
    its fetch loop, one worker per partition and the commit loop."""

    def __init__(self, bus: KafkaBus, group: str) -> None:
        self._bus = bus
        self._group = group
        self._subs: dict[str, Subscription] = {}
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._settings = bus.settings
        self._consumer = AIOKafkaConsumer(**consumer_config(bus.settings, group))
        self._workers: dict[TopicPartition, _PartitionWorker] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._high = self._settings.kafka.max_poll_records
        self._max_pending = self._settings.kafka.max_pending_completions
        self._key_parallelism = self._settings.kafka.key_parallelism

    @property
    def group(self) -> str:
        return self._group

    def add(self, sub: Subscription) -> bool:
        """Take ``sub`` (same group); False when this consumer already has its topic."""
        if sub.topic in self._subs:
            return False
        self._subs[sub.topic] = sub
        # ``concurrency`` partitions at once, each with up to key_parallelism handlers
        self._semaphores[sub.topic] = asyncio.Semaphore(sub.concurrency * self._key_parallelism)
        return True

    async def start(self) -> None:
        self._consumer.subscribe(list(self._subs), listener=self)
        await self._consumer.start()
        name = f"{','.join(self._subs)}:{self._group}"
        self._tasks = [
            asyncio.create_task(self._fetch_loop(), name=f"kafka-fetch:{name}"),
            asyncio.create_task(self._commit_loop(), name=f"kafka-commit:{name}"),
            asyncio.create_task(self._lag_loop(), name=f"kafka-lag:{name}"),
        ]

    async def _drain(self, workers: Sequence[_PartitionWorker], timeout_s: float, why: str) -> None:
        """Wait (bounded) until no handler runs and every completion of ``workers`` finished;
        what is still unfinished then stays uncommitted, so the next owner gets it again."""
        waits = [w.idle.wait() for w in workers] + [w.settled.wait() for w in workers]
        try:
            await asyncio.wait_for(asyncio.gather(*waits), timeout=timeout_s)
        except TimeoutError:
            log.warning(
                "bus.kafka.%s_timeout group=%s topic=%s unfinished=%d busy=%d timeout_s=%.1f",
                why,
                self._group,
                ",".join(sorted({w.tp.topic for w in workers})),
                sum(len(w.pending) for w in workers),
                sum(1 for w in workers if w.busy),
                timeout_s,
            )

    @staticmethod
    async def _cancel(w: _PartitionWorker) -> None:
        tasks = [t for t in (w.task, *w.pending.values()) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    async def stop(self, drain_timeout_s: float) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        workers = list(self._workers.values())
        for w in workers:
            w.backlog.clear()  # not started: left uncommitted for the next owner
            w.revoked = True
            w.wakeup.set()
        await self._drain(workers, drain_timeout_s, "drain")
        try:  # a last commit of what was finished; bounded when the broker is gone
            await asyncio.wait_for(self._commit(), timeout=drain_timeout_s)
        except (KafkaError, TimeoutError) as exc:
            log.warning("bus.kafka.final_commit_failed group=%s error=%r", self._group, exc)
        for w in workers:
            await self._cancel(w)
        try:
            await asyncio.wait_for(self._consumer.stop(), timeout=drain_timeout_s)
        except TimeoutError:
            log.warning("bus.kafka.consumer_stop_timeout group=%s", self._group)
        except asyncio.CancelledError:
            # aiokafka 0.14 leaks the CancelledError of its own fetch tasks from stop();
            # re-raise only when this task is really being cancelled.
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise

    # rebalance listener -------------------------------------------------------

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        gone = [self._workers[tp] for tp in revoked if tp in self._workers]
        for w in gone:
            w.revoked = True
            w.backlog.clear()
            w.wakeup.set()
        budget = revoke_budget_s(self._settings)
        started = asyncio.get_running_loop().time()
        await self._drain(gone, min(self._settings.drain_timeout_s, budget * 2 / 3), "revoke")
        left = max(1.0, budget - (asyncio.get_running_loop().time() - started))
        try:
            await asyncio.wait_for(self._commit(gone), timeout=left)
        except (KafkaError, TimeoutError) as exc:  # the next owner starts from the last commit
            log.warning("bus.kafka.revoke_commit_failed group=%s error=%r", self._group, exc)
        for w in gone:
            self._workers.pop(w.tp, None)
            await self._cancel(w)

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        log.info("bus.kafka.assigned group=%s partitions=%s", self._group, list(assigned))

    # loops -------------------------------------------------------------------

    def _worker(self, tp: TopicPartition) -> _PartitionWorker:
        w = self._workers.get(tp)
        if w is None:
            w = self._workers[tp] = _PartitionWorker(tp)
            w.handlers = asyncio.Semaphore(self._key_parallelism)
            w.idle.set()
            w.settled.set()
            w.room.set()
            w.task = asyncio.create_task(self._run_partition(w), name=f"kafka-part:{tp}")
        return w

    async def _fetch_loop(self) -> None:
        timeout_ms = self._settings.kafka.fetch_timeout_ms
        while not self._stopping:
            batches = await self._consumer.getmany(
                timeout_ms=timeout_ms, max_records=self._settings.kafka.max_poll_records
            )
            assigned = self._consumer.assignment()
            for tp, msgs in batches.items():
                if tp not in assigned:  # revoked while this batch was in flight
                    continue
                w = self._worker(tp)
                w.backlog.extend(msgs)
                w.wakeup.set()
                if len(w.backlog) >= self._high and tp not in self._consumer.paused():
                    self._consumer.pause(tp)

    async def _run_partition(self, w: _PartitionWorker) -> None:
        while True:
            if w.revoked:
                return
            if not w.backlog:
                if w.tp in self._consumer.paused():
                    self._consumer.resume(w.tp)
                w.wakeup.clear()
                await w.wakeup.wait()
                continue
            if self._key_parallelism > 1:
                await self._start_keyed(w)
            else:
                await self._handle_in_turn(w)
            if len(w.backlog) < self._high // 2 and w.tp in self._consumer.paused():
                self._consumer.resume(w.tp)
            if len(w.pending) >= self._max_pending:  # backpressure: too much unfinished
                w.room.clear()
                await w.room.wait()

    async def _handle_in_turn(self, w: _PartitionWorker) -> None:
        """key_parallelism 1: the partition's next record, handled in this task."""
        msg = w.backlog.popleft()
        w.busy = True
        w.idle.clear()
        try:
            record = to_record(msg)
            dead, completion, deliveries = await self._deliver(w, record)
            if dead is not None and not is_dlq(record.topic):
                await self._bus.publish_dead_letter(dead)
            if completion is not None or deliveries.futures:
                self._track(w, record, _all_done(completion, deliveries))
            else:
                deliveries.open = False
            w.taken_next = msg.offset + 1
        finally:
            w.busy = False
            w.idle.set()

    async def _deliver(
        self, w: _PartitionWorker, record: Record
    ) -> tuple[DeadLetter | None, Completion | None, _Deliveries]:
        deliveries = _Deliveries()
        token = _DELIVERIES.set(deliveries)
        try:
            async with self._semaphores[w.tp.topic]:
                dead, completion = await deliver_deferred(
                    record, self._subs[w.tp.topic], self._bus.retry, self._bus.counters
                )
        finally:
            _DELIVERIES.reset(token)
        return dead, completion, deliveries

    async def _start_keyed(self, w: _PartitionWorker) -> None:
        """key_parallelism > 1: start the partition's next record in a task of its own once
        a handler slot is free; it waits for the handler of the previous record with its key
        (per-key order), so records of different keys are handled side by side. The record
        is pending (uncommitted) from its start until its handler and completion finished:
        the committed offset stays the lowest unfinished one."""
        await w.handlers.acquire()
        if w.revoked or not w.backlog:
            w.handlers.release()
            return
        msg = w.backlog.popleft()
        if w.first_taken is None:
            w.first_taken = msg.offset
        record = to_record(msg)
        handled: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        before = w.last_of_key.get(record.key)
        w.last_of_key[record.key] = handled
        w.pending[record.offset] = asyncio.create_task(
            self._handle_keyed(w, record, before, handled),
            name=f"kafka-record:{w.tp}:{record.offset}",
        )
        w.settled.clear()
        w.taken_next = msg.offset + 1

    async def _handle_keyed(
        self,
        w: _PartitionWorker,
        record: Record,
        before: asyncio.Future[None] | None,
        handled: asyncio.Future[None],
    ) -> None:
        try:
            try:
                if before is not None and not before.done():
                    await asyncio.shield(before)
                dead, completion, deliveries = await self._deliver(w, record)
            finally:
                w.handlers.release()
                if not handled.done():
                    handled.set_result(None)
                if w.last_of_key.get(record.key) is handled:
                    del w.last_of_key[record.key]
            if dead is not None and not is_dlq(record.topic):
                await self._bus.publish_dead_letter(dead)
            if completion is not None or deliveries.futures:
                dead = await settle(
                    record,
                    self._subs[w.tp.topic],
                    _all_done(completion, deliveries),
                    self._bus.counters,
                )
                if dead is not None and not is_dlq(record.topic):
                    await self._bus.publish_dead_letter(dead)
            else:
                deliveries.open = False
        finally:
            w.pending.pop(record.offset, None)
            if not w.pending:
                w.settled.set()
            if len(w.pending) < self._max_pending:
                w.room.set()

    def _track(self, w: _PartitionWorker, record: Record, completion: Completion) -> None:
        w.pending[record.offset] = asyncio.create_task(
            self._finish(w, record, completion), name=f"kafka-completion:{w.tp}:{record.offset}"
        )
        w.settled.clear()

    async def _finish(self, w: _PartitionWorker, record: Record, completion: Completion) -> None:
        """Await one record's completion; park it on the DLQ if it failed; then it is finished
        (its offset committable once every record before it is finished too)."""
        dead = await settle(record, self._subs[w.tp.topic], completion, self._bus.counters)
        if dead is not None and not is_dlq(record.topic):
            await self._bus.publish_dead_letter(dead)
        w.pending.pop(record.offset, None)
        if not w.pending:
            w.settled.set()
        if len(w.pending) < self._max_pending:
            w.room.set()

    async def _commit(self, workers: Sequence[_PartitionWorker] | None = None) -> None:
        chosen = workers if workers is not None else list(self._workers.values())
        offsets = {
            w.tp: offset
            for w in chosen
            if (offset := w.committable()) is not None and offset != w.committed_next
        }
        if not offsets:
            return
        await self._consumer.commit(offsets)
        for w in chosen:
            if w.tp in offsets:
                w.committed_next = offsets[w.tp]

    async def _commit_loop(self) -> None:
        while True:
            await asyncio.sleep(self._settings.kafka.commit_interval_s)
            try:
                await self._commit()
            except KafkaError as exc:  # rebalance in progress, broker away: next round
                log.warning("bus.kafka.commit_failed group=%s error=%r", self._group, exc)

    async def _lag_loop(self) -> None:
        while True:
            await asyncio.sleep(self._settings.kafka.lag_interval_s)
            for w in list(self._workers.values()):
                high = self._consumer.highwater(w.tp)
                if high is None:
                    continue
                base = w.committed_next if w.committed_next is not None else 0
                metrics.CONSUMER_LAG.labels(w.tp.topic, self._group, str(w.tp.partition)).set(
                    max(0, high - base)
                )


# ---------------------------------------------------------------------- the bus


class KafkaBus(Bus):
    def __init__(self, settings: BusSettings) -> None:
        self.settings = settings
        self.retry: RetryPolicy = settings.retry_policy()
        self.counters = BusCounters()
        self._subs: list[Subscription] = []
        self._groups: list[_GroupConsumer] = []
        self._producer: AIOKafkaProducer | None = None
        self._enqueue_lock = asyncio.Lock()
        self._producer_reset: asyncio.Task[None] | None = None
        self.producer_resets = 0
        self._state = "new"

    @property
    def running(self) -> bool:
        return self._state == "running"

    def subscribe(
        self,
        topic: str,
        group: str,
        handler: Handler,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        if self._state != "new":
            raise BusClosed("subscribe() must be called before start()")
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        model_for(topic)
        self._subs.append(Subscription(str(topic), group, handler, concurrency))

    async def ensure_topics(self, wanted: Sequence[str] | None = None) -> list[str]:
        """Create the missing topics; returns the names created."""
        k = self.settings.kafka
        admin = AIOKafkaAdminClient(
            bootstrap_servers=k.bootstrap_servers,
            client_id=f"{k.client_id}-admin",
            security_protocol=k.security_protocol,
            request_timeout_ms=k.request_timeout_ms,
        )
        await admin.start()
        try:
            new = topics_to_create(self.settings, await admin.list_topics(), wanted)
            if not new:
                return []
            try:
                response = await admin.create_topics(new)
            except TopicAlreadyExistsError:
                return []
            for entry in getattr(response, "topic_errors", ()):
                name, code = entry[0], entry[1]
                if code not in (0, _TOPIC_ALREADY_EXISTS):
                    raise BusError(f"creating topic {name} failed: error code {code}")
            return [t.name for t in new]
        finally:
            await admin.close()

    async def start(self) -> None:
        if self._state != "new":
            raise BusClosed(f"cannot start a bus that is {self._state}")
        if self.settings.kafka.create_topics:
            created = await self.ensure_topics()
            if created:
                log.info("bus.kafka.topics_created topics=%s", created)
        self._producer = AIOKafkaProducer(**producer_config(self.settings))
        await self._producer.start()
        self._state = "running"
        try:
            for sub in self._subs:
                if not any(g.group == sub.group and g.add(sub) for g in self._groups):
                    group = _GroupConsumer(self, sub.group)
                    group.add(sub)
                    self._groups.append(group)
            for group in self._groups:
                await group.start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        if self._state in ("stopping", "stopped"):
            return
        if self._state == "new":
            self._state = "stopped"
            return
        self._state = "stopping"  # handlers still draining may publish
        for group in self._groups:
            try:
                await group.stop(self.settings.drain_timeout_s)
            except KafkaError as exc:
                log.error("bus.kafka.consumer_stop_failed error=%r", exc)
        self._groups.clear()
        if self._producer is not None:
            try:  # flushes pending batches; bounded when the broker is gone
                await asyncio.wait_for(self._producer.stop(), timeout=self.settings.drain_timeout_s)
            except TimeoutError:
                log.error("bus.kafka.producer_stop_timeout unsent records dropped")
            self._producer = None
        self._state = "stopped"

    async def publish(
        self,
        topic: str,
        key: str,
        message: BaseMessage,
        *,
        headers: Mapping[str, bytes] | None = None,
    ) -> None:
        raw = codec.encode(topic, message)
        await self._send(str(topic), key, raw, codec.merge_headers(message, headers))

    async def publish_raw(
        self,
        topic: str,
        key: str,
        raw: bytes,
        *,
        headers: Mapping[str, bytes] | None = None,
    ) -> None:
        model_for(topic)
        await self._send(str(topic), key, bytes(raw), dict(headers or {}))

    def _check_delivery(self, delivery: asyncio.Future[Any]) -> None:
        """A delivery failed with an error that breaks the idempotent producer for good (its
        sequence numbers no longer match the broker's, e.g. after a broker restart lost the
        producer's state): every later send would fail the same way, so a new producer (a
        new producer id, sequences from 0) replaces it. The failed publish still raises;
        its caller retries it on the new producer."""
        if delivery.cancelled():
            return
        exc = delivery.exception()
        resetting = self._producer_reset is not None and not self._producer_reset.done()
        if isinstance(exc, FATAL_PRODUCER_ERRORS) and self._state == "running" and not resetting:
            log.error("bus.kafka.producer_broken error=%r replacing the producer", exc)
            self._producer_reset = asyncio.ensure_future(self._replace_producer())

    async def _replace_producer(self) -> None:
        old = self._producer
        new = AIOKafkaProducer(**producer_config(self.settings))
        try:
            await new.start()
        except KafkaError as exc:
            log.error("bus.kafka.producer_replace_failed error=%r", exc)
            return
        if self._state != "running":
            await new.stop()
            return
        self._producer = new
        self.producer_resets += 1
        log.info("bus.kafka.producer_replaced resets=%d", self.producer_resets)
        if old is not None:
            with contextlib.suppress(KafkaError, TimeoutError):
                await asyncio.wait_for(old.stop(), timeout=self.settings.drain_timeout_s)

    async def publish_dead_letter(self, dead: DeadLetter) -> None:
        """Park ``dead`` on its DLQ, retrying (with the policy's backoff) until it is stored."""
        attempt = 1
        while True:
            try:
                await self.publish(dlq_topic(dead.topic), dead.key, dead)
                return
            except (KafkaError, BusClosed) as exc:
                if self._producer is None:
                    raise BusClosed("producer stopped before the dead letter was stored") from exc
                log.error("bus.kafka.dlq_publish_failed topic=%s error=%r", dead.topic, exc)
                await asyncio.sleep(self.retry.delay(attempt))
                attempt += 1

    async def _send(self, topic: str, key: str, raw: bytes, headers: Mapping[str, bytes]) -> None:
        if self._producer is None or self._state not in ("running", "stopping"):
            raise BusClosed("publish() needs a started bus")
        loop = asyncio.get_running_loop()
        started = loop.time()
        timeout = self.settings.kafka.request_timeout_ms / 1000
        try:
            async with asyncio.timeout(timeout):
                # enqueue in call order (the lock is FIFO), then wait for the broker's ack
                # outside the lock: concurrent publishers share the producer's batches
                async with self._enqueue_lock:
                    delivery = await self._producer.send(
                        topic, value=raw, key=key.encode(), headers=encode_headers(headers)
                    )
                delivery.add_done_callback(self._check_delivery)
                owed = _DELIVERIES.get()
                if owed is not None and owed.open:
                    # on behalf of a consumed record: its completion awaits the ack, so its
                    # offset is committed only once this record is stored
                    owed.futures.append(delivery)
                else:
                    await delivery
        except TimeoutError as exc:
            raise BusError(f"publish to {topic} not acknowledged in time") from exc
        metrics.publish_wait(topic).observe(loop.time() - started)
        self.counters.published += 1
        count, size = metrics.published(topic)
        count.inc()
        size.inc(len(raw))
