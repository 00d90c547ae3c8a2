"""The Kafka adapter (aiokafka).

* start: creates missing topics (and their ``.dlq``) with the configured partition counts
  (AIOKafkaAdminClient), starts one idempotent producer (``acks=all``) and, per subscription,
  one AIOKafkaConsumer in the subscription's group with auto-commit off;
* publish: ``send_and_wait`` — returns once the record is replicated; the record key is the
  UTF-8 key, partitioned by aiokafka's murmur2 partitioner (the same as
  services.bus.keys.partition_for);
* consume: a fetch loop hands records to one worker per assigned partition (per-partition
  order; at most ``concurrency`` partitions of a subscription run at once). A partition whose
  backlog passes ``max_poll_records`` is paused until its worker catches up (backpressure).
  After a record is handled (or parked on the DLQ) its offset becomes committable; a commit
  loop commits, per partition, the offset after the last finished record, so offsets are
  committed in order and only after the handler finished (at-least-once);
* rebalance: revoked partitions finish their in-flight record, commit, and are dropped;
* stop: stops fetching, waits (up to ``drain_timeout_s``) for in-flight handlers, commits, leaves
  the group, then flushes and stops the producer. Records fetched but not started are not
  committed, so the next owner gets them;
* lag: ``hyperlora_bus_consumer_lag_messages`` per partition = high watermark − committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition  # type: ignore[import-untyped]
from aiokafka.abc import ConsumerRebalanceListener  # type: ignore[import-untyped]
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped]
from aiokafka.errors import KafkaError, TopicAlreadyExistsError  # type: ignore[import-untyped]

from . import codec, metrics
from .base import DEFAULT_CONCURRENCY, Bus, BusCounters, Handler, RetryPolicy, Subscription
from .dispatch import Record, deliver
from .errors import BusClosed, BusError
from .messages import BaseMessage, DeadLetter
from .settings import BusSettings
from .topics import all_topics, dlq_topic, is_dlq, model_for

log = logging.getLogger("hyperlora.bus.kafka")

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
        "heartbeat_interval_ms": k.heartbeat_interval_ms,
        "max_poll_interval_ms": k.max_poll_interval_ms,
        "request_timeout_ms": k.request_timeout_ms,
        "fetch_max_wait_ms": k.fetch_timeout_ms,
    }


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
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    done_next: int | None = None  # offset after the last finished record
    committed_next: int | None = None
    revoked: bool = False


class _GroupConsumer(ConsumerRebalanceListener):  # type: ignore[misc]
    """One subscription: a consumer in the group, its fetch loop, workers and commit loop."""

    def __init__(self, bus: KafkaBus, sub: Subscription) -> None:
        self._bus = bus
        self._sub = sub
        self._settings = bus.settings
        self._consumer = AIOKafkaConsumer(**consumer_config(bus.settings, sub.group))
        self._semaphore = asyncio.Semaphore(sub.concurrency)
        self._workers: dict[TopicPartition, _PartitionWorker] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._high = self._settings.kafka.max_poll_records

    async def start(self) -> None:
        self._consumer.subscribe([self._sub.topic], listener=self)
        await self._consumer.start()
        name = f"{self._sub.topic}:{self._sub.group}"
        self._tasks = [
            asyncio.create_task(self._fetch_loop(), name=f"kafka-fetch:{name}"),
            asyncio.create_task(self._commit_loop(), name=f"kafka-commit:{name}"),
            asyncio.create_task(self._lag_loop(), name=f"kafka-lag:{name}"),
        ]

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
        try:
            await asyncio.wait_for(
                asyncio.gather(*(w.idle.wait() for w in workers)), timeout=drain_timeout_s
            )
        except TimeoutError:
            log.warning("bus.kafka.drain_timeout group=%s", self._sub.group)
        for w in workers:
            if w.task is not None:
                w.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await w.task
        try:  # a last commit of what was handled; bounded when the broker is gone
            await asyncio.wait_for(self._commit(), timeout=drain_timeout_s)
        except (KafkaError, TimeoutError) as exc:
            log.warning("bus.kafka.final_commit_failed group=%s error=%r", self._sub.group, exc)
        try:
            await asyncio.wait_for(self._consumer.stop(), timeout=drain_timeout_s)
        except TimeoutError:
            log.warning("bus.kafka.consumer_stop_timeout group=%s", self._sub.group)
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
        try:
            await asyncio.wait_for(
                asyncio.gather(*(w.idle.wait() for w in gone)),
                timeout=self._settings.drain_timeout_s,
            )
        except TimeoutError:  # a stuck handler: its record is not committed, so redelivered
            log.warning("bus.kafka.revoke_timeout group=%s", self._sub.group)
        with contextlib.suppress(KafkaError):
            await self._commit(gone)
        for w in gone:
            if w.task is not None:
                w.task.cancel()
            self._workers.pop(w.tp, None)

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        log.info("bus.kafka.assigned group=%s partitions=%s", self._sub.group, list(assigned))

    # loops -------------------------------------------------------------------

    def _worker(self, tp: TopicPartition) -> _PartitionWorker:
        w = self._workers.get(tp)
        if w is None:
            w = self._workers[tp] = _PartitionWorker(tp)
            w.idle.set()
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
            if not w.backlog:
                if w.tp in self._consumer.paused() and not w.revoked:
                    self._consumer.resume(w.tp)
                w.wakeup.clear()
                await w.wakeup.wait()
                continue
            msg = w.backlog.popleft()
            w.busy = True
            w.idle.clear()
            try:
                record = to_record(msg)
                async with self._semaphore:
                    dead = await deliver(record, self._sub, self._bus.retry, self._bus.counters)
                if dead is not None and not is_dlq(record.topic):
                    await self._bus.publish_dead_letter(dead)
                w.done_next = msg.offset + 1
            finally:
                w.busy = False
                w.idle.set()
            if len(w.backlog) < self._high // 2 and w.tp in self._consumer.paused():
                self._consumer.resume(w.tp)

    async def _commit(self, workers: Sequence[_PartitionWorker] | None = None) -> None:
        chosen = workers if workers is not None else list(self._workers.values())
        offsets = {
            w.tp: w.done_next
            for w in chosen
            if w.done_next is not None and w.done_next != w.committed_next
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
                log.warning("bus.kafka.commit_failed group=%s error=%r", self._sub.group, exc)

    async def _lag_loop(self) -> None:
        while True:
            await asyncio.sleep(self._settings.kafka.lag_interval_s)
            for w in list(self._workers.values()):
                high = self._consumer.highwater(w.tp)
                if high is None:
                    continue
                base = w.committed_next if w.committed_next is not None else w.done_next or 0
                metrics.CONSUMER_LAG.labels(w.tp.topic, self._sub.group, str(w.tp.partition)).set(
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
                group = _GroupConsumer(self, sub)
                await group.start()
                self._groups.append(group)
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
        try:
            await asyncio.wait_for(
                self._producer.send_and_wait(
                    topic, value=raw, key=key.encode(), headers=encode_headers(headers)
                ),
                timeout=self.settings.kafka.request_timeout_ms / 1000,
            )
        except TimeoutError as exc:
            raise BusError(f"publish to {topic} not acknowledged in time") from exc
        metrics.publish_wait(topic).observe(loop.time() - started)
        self.counters.published += 1
        count, size = metrics.published(topic)
        count.inc()
        size.inc(len(raw))
