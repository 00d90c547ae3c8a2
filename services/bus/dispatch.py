"""Delivery of one record to one handler: decode, retry with backoff, or dead-letter.

Shared by the in-process and Kafka adapters so both behave the same.

* ``deliver_deferred`` runs the handler (with retries) and returns what it returned: a
  *completion* (an awaitable that finishes the record later, see services.bus.base) or None;
* ``settle`` awaits a completion and turns its failure into the DeadLetter to park;
* ``deliver`` is both in one call (the completion, if any, is awaited inline).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from . import codec, metrics
from .base import BusCounters, Completion, Envelope, RetryPolicy, Subscription
from .errors import DecodeError, PermanentFailure
from .messages import BaseMessage, DeadLetter

log = logging.getLogger("hyperlora.bus")

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Record:
    """A record as read from a partition, before decoding."""

    topic: str
    key: str
    partition: int
    offset: int
    headers: Mapping[str, bytes]
    raw: bytes
    message: BaseMessage | None = None  # already decoded (in-process bus, published objects)
    timestamp_ms: int | None = None


def _dead_letter(
    record: Record, group: str, reason: str, exc: BaseException, attempts: int
) -> DeadLetter:
    return DeadLetter(
        topic=record.topic,
        key=record.key,
        partition=record.partition,
        offset=record.offset,
        group=group,
        reason="decode" if reason == "decode" else "handler",
        error_type=type(exc).__name__,
        error=str(exc)[:4000],
        attempts=attempts,
        raw=record.raw,
        headers=dict(record.headers),
    )


async def deliver(
    record: Record,
    sub: Subscription,
    policy: RetryPolicy,
    counters: BusCounters,
    sleep: Sleep = asyncio.sleep,
) -> DeadLetter | None:
    """Run ``sub.handler`` on ``record`` (and await its completion, if it returns one);
    return the DeadLetter to park, or None if handled."""
    dead, completion = await deliver_deferred(record, sub, policy, counters, sleep)
    if completion is not None:
        return await settle(record, sub, completion, counters)
    return dead


async def settle(
    record: Record, sub: Subscription, completion: Completion, counters: BusCounters
) -> DeadLetter | None:
    """Await the completion a handler returned for ``record``; a failure is counted, logged
    with the record's context and returned as the DeadLetter to park (no retries: those are
    the completion's own business). A shared future is shielded: cancelling the caller (a
    stop, a revoke) never cancels the handler's own work."""
    try:
        if asyncio.isfuture(completion):
            await asyncio.shield(completion)
        else:
            await completion
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the adapter edge: a failed completion is parked
        counters.failed_attempts += 1
        counters.dead_lettered += 1
        metrics.FAILED.labels(record.topic, sub.group).inc()
        metrics.DLQ.labels(record.topic, sub.group, "handler").inc()
        log.error(
            "bus.completion_failed topic=%s key=%s partition=%d offset=%d group=%s error=%r",
            record.topic,
            record.key,
            record.partition,
            record.offset,
            sub.group,
            exc,
        )
        return _dead_letter(record, sub.group, "handler", exc, 1)
    return None


async def deliver_deferred(
    record: Record,
    sub: Subscription,
    policy: RetryPolicy,
    counters: BusCounters,
    sleep: Sleep = asyncio.sleep,
) -> tuple[DeadLetter | None, Completion | None]:
    """Run ``sub.handler`` on ``record`` with retries; return (the DeadLetter to park, None)
    on failure, else (None, the completion the handler returned or None). The record is
    counted as handled when the handler returned."""
    message = record.message
    if message is None:
        try:
            message = codec.decode(record.topic, record.raw)
        except DecodeError as exc:
            counters.decode_errors += 1
            counters.dead_lettered += 1
            metrics.DLQ.labels(record.topic, sub.group, "decode").inc()
            log.warning(
                "bus.decode_failed topic=%s partition=%d offset=%d group=%s error=%s",
                record.topic,
                record.partition,
                record.offset,
                sub.group,
                exc,
            )
            return _dead_letter(record, sub.group, "decode", exc, 0), None

    latency = metrics.handle_latency(record.topic, sub.group)
    for attempt in range(1, policy.max_attempts + 1):
        envelope = Envelope(
            topic=record.topic,
            key=record.key,
            partition=record.partition,
            offset=record.offset,
            headers=record.headers,
            message=message,
            raw=record.raw,
            attempt=attempt,
            timestamp_ms=record.timestamp_ms,
        )
        started = time.perf_counter()
        try:
            completion = await sub.handler(envelope)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the adapter edge: any handler error is retried or parked
            latency.observe(time.perf_counter() - started)
            counters.failed_attempts += 1
            metrics.FAILED.labels(record.topic, sub.group).inc()
            permanent = isinstance(exc, PermanentFailure)
            if permanent or attempt == policy.max_attempts:
                counters.dead_lettered += 1
                metrics.DLQ.labels(record.topic, sub.group, "handler").inc()
                log.error(
                    "bus.dead_letter topic=%s key=%s partition=%d offset=%d group=%s "
                    "attempts=%d error=%r",
                    record.topic,
                    record.key,
                    record.partition,
                    record.offset,
                    sub.group,
                    attempt,
                    exc,
                )
                return _dead_letter(record, sub.group, "handler", exc, attempt), None
            log.warning(
                "bus.handler_failed topic=%s key=%s offset=%d group=%s attempt=%d error=%r",
                record.topic,
                record.key,
                record.offset,
                sub.group,
                attempt,
                exc,
            )
            counters.retried += 1
            await sleep(policy.delay(attempt))
        else:
            latency.observe(time.perf_counter() - started)
            counters.handled += 1
            counters.by_topic_handled[record.topic] = (
                counters.by_topic_handled.get(record.topic, 0) + 1
            )
            metrics.handled(record.topic, sub.group).inc()
            return None, completion
    raise AssertionError("unreachable")  # pragma: no cover
