"""The Bus interface every service is written against.

Semantics (both adapters):

* ``publish(topic, key, message)`` — the key picks the partition (services.bus.keys); records
  of one key are delivered in publish order. Publishing may wait (backpressure).
* ``subscribe(topic, group, handler, concurrency)`` — register before ``start()``. Consumer
  groups: each record is handled by exactly one subscriber of a group; every group gets every
  record. Partitions are shared out between the subscribers of a group; records of one key
  are handled one at a time, in order. The in-process bus handles one record of a partition
  at a time; the Kafka adapter handles up to ``key_parallelism`` records of different keys of
  a partition at once. ``concurrency`` partitions of a subscriber run in parallel.
* at-least-once: a handler that raises is retried (``RetryPolicy``: bounded, exponential
  backoff), then the record is parked on ``<topic>.dlq`` as a DeadLetter with the error, and
  the partition moves on. A handler may raise PermanentFailure to skip the retries. Records
  that cannot be decoded go to the DLQ at once, are counted, and never stall the partition.
  Handlers must be idempotent: a crash or rebalance redelivers.
* deferred completion: a handler may return an awaitable (a *completion*) instead of None.
  The record then counts as taken and the partition moves on to its next record at once, but
  the record is finished only when the completion has finished: the Kafka adapter commits an
  offset only when every record up to it is finished, so a crash before that redelivers it
  (the network server returns the completion of a frame's deduplication group, so a gw.up
  record is not committed while its 200 ms window is open or its group is being handled).
  A completion that raises parks its record on the DLQ (its retries are the handler's own
  business); the memory adapter awaits completions in the background and counts failures.
* ``stop()`` is graceful: stops taking new records, lets in-flight handlers finish (bounded by
  the drain timeout), commits, then closes.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Generic, TypeVar

from .messages import BaseMessage

M_co = TypeVar("M_co", bound=BaseMessage, covariant=True)


@dataclass(frozen=True, slots=True)
class Envelope(Generic[M_co]):
    """One delivered record: where it came from, its decoded message and its raw bytes."""

    topic: str
    key: str
    partition: int
    offset: int
    headers: Mapping[str, bytes]
    message: M_co
    raw: bytes
    attempt: int = 1  # 1 on first delivery to this handler, 2.. on retries
    timestamp_ms: int | None = None


Completion = Awaitable[None]
"""What a handler may return to finish its record later (see the module docstring)."""

Handler = Callable[[Envelope[BaseMessage]], Awaitable[Completion | None]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries with exponential backoff: delays initial, initial*m, ... capped."""

    max_attempts: int = 4  # first try + 3 retries
    backoff_initial_s: float = 0.05
    backoff_multiplier: float = 2.0
    backoff_max_s: float = 2.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")

    def delay(self, failed_attempt: int) -> float:
        """Seconds to wait after the ``failed_attempt``-th attempt failed (1-based)."""
        raw = self.backoff_initial_s * self.backoff_multiplier ** (failed_attempt - 1)
        return float(min(self.backoff_max_s, raw))


@dataclass(slots=True)
class BusCounters:
    """Per-instance counters (the Prometheus metrics are process-wide; these are per bus)."""

    published: int = 0
    handled: int = 0
    failed_attempts: int = 0
    retried: int = 0
    dead_lettered: int = 0
    decode_errors: int = 0
    unrouted: int = 0  # memory bus: published to a topic nobody subscribes to
    by_topic_handled: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Subscription:
    topic: str
    group: str
    handler: Handler
    concurrency: int


DEFAULT_CONCURRENCY = 4


class Bus(abc.ABC):
    """Publish keyed messages; consume as consumer groups. See the module docstring."""

    counters: BusCounters

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None: ...

    @abc.abstractmethod
    async def publish(
        self,
        topic: str,
        key: str,
        message: BaseMessage,
        *,
        headers: Mapping[str, bytes] | None = None,
    ) -> None:
        """Publish ``message`` (the topic's model) under ``key``; returns once accepted."""

    @abc.abstractmethod
    async def publish_raw(
        self,
        topic: str,
        key: str,
        raw: bytes,
        *,
        headers: Mapping[str, bytes] | None = None,
    ) -> None:
        """Publish already-encoded bytes (relays, tools, tests); not validated here."""

    @abc.abstractmethod
    def subscribe(
        self,
        topic: str,
        group: str,
        handler: Handler,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        """Register ``handler`` for ``topic`` in consumer group ``group`` (before start)."""

    @property
    @abc.abstractmethod
    def running(self) -> bool: ...

    async def __aenter__(self) -> Bus:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
