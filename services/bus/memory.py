"""The in-process bus: Kafka's semantics inside one asyncio event loop.

* every topic has N virtual partitions; a key always maps to the same partition
  (services.bus.keys.partition_for, the same as Kafka's);
* every consumer group has one bounded queue and one worker task per partition, so records of
  a partition are handled one at a time, in order, and partitions run in parallel; the
  partitions are shared out round-robin between the subscribers of the group, and each
  subscriber runs at most ``concurrency`` of its partitions at once;
* ``publish`` encodes the message (the raw bytes every envelope carries, and a check that the
  message is serialisable) and waits while a group's queue for that partition is full
  (backpressure); the decoded object itself is handed to the handlers (messages are frozen);
* retries, backoff and dead letters as in services.bus.dispatch; dead letters are published to
  ``<topic>.dlq`` and the last ``dlq_keep`` are also kept in ``dead_letters``;
* deferred completion (services.bus.base): a handler may return an awaitable; the partition
  moves on at once and the completion is awaited in the background. One that raises is
  counted (``completion_failures``), logged and its record parked on ``<topic>.dlq`` like a
  handler failure (no retry: retrying is the handler's own business);
* ``stop()`` drains: it waits (up to ``drain_timeout_s``) until every queue is empty, no
  handler runs and no completion is pending, including records published by handlers while
  draining, then cancels the workers. Nothing survives the process: records still queued
  after the timeout are lost (counted in ``dropped_on_stop``).

A handler must not publish into its own full partition queue (it would wait for itself);
size ``queue_size`` for the burst a handler may publish downstream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from . import codec, metrics
from .base import (
    DEFAULT_CONCURRENCY,
    Bus,
    BusCounters,
    Completion,
    Envelope,
    Handler,
    RetryPolicy,
    Subscription,
)
from .dispatch import Record, Sleep, deliver
from .errors import BusClosed, BusError
from .keys import partition_for
from .messages import BaseMessage, DeadLetter
from .topics import dlq_topic, is_dlq, model_for

log = logging.getLogger("hyperlora.bus.memory")

PARTITION_CACHE_SIZE = 100_000


@dataclass(slots=True)
class _Group:
    topic: str
    name: str
    queues: list[asyncio.Queue[Record]]
    subs: list[Subscription] = field(default_factory=list)


class MemoryBus(Bus):
    def __init__(
        self,
        partitions: int = 8,
        queue_size: int = 1000,
        retry: RetryPolicy | None = None,
        drain_timeout_s: float = 10.0,
        partitions_per_topic: Mapping[str, int] | None = None,
        dlq_keep: int = 1000,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if partitions < 1 or queue_size < 1:
            raise ValueError("partitions and queue_size must be >= 1")
        self._partitions = partitions
        self._partitions_per_topic = dict(partitions_per_topic or {})
        self._queue_size = queue_size
        self._retry = retry or RetryPolicy()
        self._drain_timeout_s = drain_timeout_s
        self._sleep = sleep
        self._groups: dict[str, dict[str, _Group]] = {}  # topic -> group -> state
        self._offsets: dict[tuple[str, int], int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._state = "new"  # new -> running -> stopping -> stopped
        self.counters = BusCounters()
        self.dead_letters: deque[DeadLetter] = deque(maxlen=dlq_keep)
        self.dropped_on_stop = 0
        self._pending = 0  # records queued, being handled or awaiting completion
        self.completion_failures = 0
        self.completions_pending = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._partition_cache: dict[tuple[str, int], int] = {}

    # ------------------------------------------------------------------ interface

    @property
    def running(self) -> bool:
        return self._state == "running"

    def partitions_of(self, topic: str) -> int:
        return self._partitions_per_topic.get(topic, self._partitions)

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
        model_for(topic)  # UnknownTopic early
        topic = str(topic)
        groups = self._groups.setdefault(topic, {})
        state = groups.get(group)
        if state is None:
            n = self.partitions_of(topic)
            queues: list[asyncio.Queue[Record]] = [
                asyncio.Queue(maxsize=self._queue_size) for _ in range(n)
            ]
            state = groups[group] = _Group(topic, group, queues)
        state.subs.append(Subscription(topic, group, self._tracking(group, handler), concurrency))

    async def start(self) -> None:
        if self._state != "new":
            raise BusClosed(f"cannot start a bus that is {self._state}")
        self._state = "running"
        for groups in self._groups.values():
            for state in groups.values():
                semaphores = [asyncio.Semaphore(s.concurrency) for s in state.subs]
                for p, queue in enumerate(state.queues):
                    i = p % len(state.subs)
                    task = asyncio.create_task(
                        self._worker(state.subs[i], semaphores[i], queue),
                        name=f"bus:{state.topic}:{state.name}:{p}",
                    )
                    self._tasks.append(task)
        log.info("bus.memory.started workers=%d", len(self._tasks))

    async def stop(self) -> None:
        if self._state in ("stopping", "stopped"):
            return
        if self._state == "new":
            self._state = "stopped"
            return
        self._state = "stopping"
        try:
            await asyncio.wait_for(self._drain(), timeout=self._drain_timeout_s)
        except TimeoutError:
            log.warning("bus.memory.drain_timeout timeout_s=%s", self._drain_timeout_s)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for groups in self._groups.values():
            for state in groups.values():
                for queue in state.queues:
                    self.dropped_on_stop += queue.qsize()
        self._state = "stopped"
        log.info("bus.memory.stopped dropped=%d", self.dropped_on_stop)

    async def publish(
        self,
        topic: str,
        key: str,
        message: BaseMessage,
        *,
        headers: Mapping[str, bytes] | None = None,
    ) -> None:
        raw = codec.encode(topic, message)
        await self._route(topic, key, raw, codec.merge_headers(message, headers), message)

    async def publish_raw(
        self,
        topic: str,
        key: str,
        raw: bytes,
        *,
        headers: Mapping[str, bytes] | None = None,
    ) -> None:
        model_for(topic)
        await self._route(topic, key, bytes(raw), dict(headers or {}), None)

    # ------------------------------------------------------------------ internals

    def _partition(self, key: str, n: int) -> int:
        """partition_for, memoised: murmur2 in pure Python costs more than the rest of a
        publish, and keys (DevEUIs, DevAddrs, gateway EUIs) repeat."""
        cached = self._partition_cache.get((key, n))
        if cached is None:
            if len(self._partition_cache) >= PARTITION_CACHE_SIZE:
                self._partition_cache.clear()
            cached = self._partition_cache[(key, n)] = partition_for(key, n)
        return cached

    def queue_depth(self, topic: str, group: str) -> int:
        state = self._groups.get(topic, {}).get(group)
        return 0 if state is None else sum(q.qsize() for q in state.queues)

    async def _route(
        self,
        topic: str,
        key: str,
        raw: bytes,
        headers: Mapping[str, bytes],
        message: BaseMessage | None,
    ) -> None:
        if self._state in ("new", "stopped"):
            raise BusClosed(f"publish() on a bus that is {self._state} (start it first)")
        topic = str(topic)
        record = self._record(topic, key, raw, headers, message, time.time_ns() // 1_000_000)
        self.counters.published += 1
        count, size = metrics.published(topic)
        count.inc()
        size.inc(len(raw))
        forwarded = await self._forward(record)
        groups = self._groups.get(topic)
        if not groups:
            if not forwarded:
                self.counters.unrouted += 1
                metrics.UNROUTED.labels(topic).inc()
            return
        await self._enqueue(record, groups)

    def _record(
        self,
        topic: str,
        key: str,
        raw: bytes,
        headers: Mapping[str, bytes],
        message: BaseMessage | None,
        timestamp_ms: int | None,
    ) -> Record:
        """The record at the next offset of the key's partition."""
        partition = self._partition(key, self.partitions_of(topic))
        offset = self._offsets.get((topic, partition), 0)
        self._offsets[(topic, partition)] = offset + 1
        return Record(
            topic=topic,
            key=key,
            partition=partition,
            offset=offset,
            headers=headers,
            raw=raw,
            message=message,
            timestamp_ms=timestamp_ms,
        )

    async def _forward(self, record: Record) -> bool:
        """Hand ``record`` to consumers outside this bus; True if any took it (the linked
        bus, services.bus.link, sends it to the other process). None here."""
        return False

    async def _enqueue(self, record: Record, groups: Mapping[str, _Group]) -> None:
        """Queue ``record`` for every local consumer group (waits while a queue is full)."""
        topic = record.topic
        partition = record.partition
        started = time.perf_counter()
        for state in groups.values():
            queue = state.queues[partition]
            if queue.full():
                await queue.put(record)  # backpressure
            else:
                queue.put_nowait(record)
            self._pending += 1
            self._idle.clear()
            metrics.queue_depth(topic, state.name).inc()
        metrics.publish_wait(topic).observe(time.perf_counter() - started)

    def _tracking(self, group: str, handler: Handler) -> Handler:
        """``handler`` whose returned completion (if any) is awaited in the background."""

        async def tracked(env: Envelope[BaseMessage]) -> Completion | None:
            completion = await handler(env)
            if completion is not None:
                self._watch(completion, env, group)
            return None

        return tracked

    def _watch(self, completion: Completion, env: Envelope[BaseMessage], group: str) -> None:
        future = asyncio.ensure_future(completion)
        self._pending += 1
        self.completions_pending += 1
        self._idle.clear()

        def done(f: asyncio.Future[None]) -> None:
            self.completions_pending -= 1
            exc = None if f.cancelled() else f.exception()
            if f.cancelled() or exc is not None:
                self._completion_failed(env, group, exc or asyncio.CancelledError())
            else:
                self._finished()

        future.add_done_callback(done)

    def _completion_failed(
        self, env: Envelope[BaseMessage], group: str, exc: BaseException
    ) -> None:
        self.completion_failures += 1
        self.counters.dead_lettered += 1
        log.error(
            "bus.memory.completion_failed topic=%s key=%s offset=%d group=%s error=%r",
            env.topic, env.key, env.offset, group, exc,
        )  # fmt: skip
        dead = DeadLetter(
            topic=env.topic,
            key=env.key,
            partition=env.partition,
            offset=env.offset,
            group=group,
            reason="handler",
            error_type=type(exc).__name__,
            error=str(exc)[:4000],
            attempts=env.attempt,
            raw=env.raw,
            headers=dict(env.headers),
        )
        self.dead_letters.append(dead)
        if is_dlq(env.topic) or self._state not in ("running", "stopping"):
            self._finished()
            return
        task = asyncio.ensure_future(self._park(dead))
        task.add_done_callback(lambda _: self._finished())

    async def _park(self, dead: DeadLetter) -> None:
        try:
            await self.publish(dlq_topic(dead.topic), dead.key, dead)
        except BusError as exc:
            log.error("bus.memory.dlq_publish_failed topic=%s error=%r", dead.topic, exc)

    def _finished(self) -> None:
        self._pending -= 1
        if self._pending == 0:
            self._idle.set()

    async def _worker(
        self, sub: Subscription, semaphore: asyncio.Semaphore, queue: asyncio.Queue[Record]
    ) -> None:
        depth = metrics.queue_depth(sub.topic, sub.group)
        while True:
            record = await queue.get()
            depth.dec()
            try:
                async with semaphore:
                    dead = await deliver(record, sub, self._retry, self.counters, self._sleep)
                if dead is not None:
                    self.dead_letters.append(dead)
                    if not is_dlq(record.topic):
                        await self.publish(dlq_topic(record.topic), record.key, dead)
            except BusError as exc:  # the DLQ publish failed (bus stopped): keep the worker
                log.error("bus.memory.dlq_publish_failed topic=%s error=%r", record.topic, exc)
            finally:
                queue.task_done()
                self._finished()

    async def _drain(self) -> None:
        """Wait until no record is queued or being handled (including ones handlers publish)."""
        while self._pending:
            await self._idle.wait()
