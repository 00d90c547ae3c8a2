"""The in-process event hub behind ``GET /api/events`` (server-sent events).

Producers (the application handler: uplink, join, ack events) call :meth:`EventHub.publish`
with a plain dict; it never blocks and never raises for a slow consumer. Every subscriber has a
bounded queue: when it is full the oldest event is dropped (counted), so one stalled browser
cannot hold memory or slow the producer.

Event contract (what producers put in the dict): ``type`` ("uplink", "join", "ack",
"tx_ack", "activation", ...), ``tenant_id``, ``application_id``, ``dev_eui`` (upper-case hex),
then the event's own fields (``f_cnt``, ``f_port``, ``data``, ``request_id``...). Values must be
JSON-encodable; UUIDs and datetimes are turned into strings and bytes into base64 by the stream.

Tenant isolation: an event carries ``tenant_id`` (UUID or its string). A tenant subscriber
receives only its tenant's events; an event without ``tenant_id`` goes to admin subscribers
only. Optional filters: ``dev_eui`` (hex, any case) and ``application_id``.

The hub belongs to one event loop: call ``publish`` from that loop's thread (use
``loop.call_soon_threadsafe(hub.publish, event)`` from another thread).
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from . import metrics

Event = Mapping[str, Any]
_CLOSED = object()


class HubFull(Exception):
    """Too many live subscribers."""


class HubClosed(Exception):
    """The hub was closed (shutting down)."""


def _norm_eui(value: Any) -> str | None:
    if value is None:
        return None
    return str(value).replace(":", "").replace("-", "").upper()


def _norm_id(value: Any) -> str | None:
    return None if value is None else str(value).lower()


class Subscription:
    """One subscriber: a bounded queue of ``(sequence, event)`` and its filters."""

    def __init__(
        self,
        *,
        tenant_id: uuid.UUID | None,
        dev_eui: str | None,
        application_id: uuid.UUID | str | None,
        maxsize: int,
    ) -> None:
        self.tenant_id = _norm_id(tenant_id)
        self.dev_eui = _norm_eui(dev_eui)
        self.application_id = _norm_id(application_id)
        self.dropped = 0
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=maxsize)
        self._closed = False

    def matches(self, event: Event) -> bool:
        if self.tenant_id is not None and _norm_id(event.get("tenant_id")) != self.tenant_id:
            return False
        if self.dev_eui is not None and _norm_eui(event.get("dev_eui")) != self.dev_eui:
            return False
        return not (
            self.application_id is not None
            and _norm_id(event.get("application_id")) != self.application_id
        )

    def offer(self, item: Any) -> bool:
        """Queue ``item``; when full, drop the oldest first. False if one was dropped."""
        if self._closed:
            return True
        dropped = False
        while True:
            try:
                self._queue.put_nowait(item)
                return not dropped
            except asyncio.QueueFull:
                self._queue.get_nowait()
                self.dropped += 1
                dropped = True

    def close(self) -> None:
        if not self._closed:
            self.offer(_CLOSED)
            self._closed = True

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    async def get(self) -> tuple[int, dict[str, Any]] | None:
        """The next ``(sequence, event)``, or None once the hub closed this subscription."""
        item = await self._queue.get()
        if item is _CLOSED:
            self.offer(_CLOSED)  # stay closed for later callers
            return None
        seq, event = item
        return seq, event

    def __aiter__(self) -> AsyncIterator[tuple[int, dict[str, Any]]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[tuple[int, dict[str, Any]]]:
        while True:
            item = await self.get()
            if item is None:
                return
            yield item


class EventHub:
    """Fan-out of events to live subscribers, with per-subscriber bounded queues."""

    def __init__(self, queue_size: int = 256, max_subscribers: int = 100) -> None:
        if queue_size < 1 or max_subscribers < 1:
            raise ValueError("queue_size and max_subscribers must be >= 1")
        self.queue_size = queue_size
        self.max_subscribers = max_subscribers
        self._subscribers: set[Subscription] = set()
        self._seq = itertools.count(1)
        self._closed = False
        self.published = 0
        self.dropped = 0

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def publish(self, event: Event) -> int:
        """Deliver ``event`` to every matching subscriber; return how many got it."""
        if self._closed:
            return 0
        item = (next(self._seq), dict(event))
        self.published += 1
        metrics.EVENTS_PUBLISHED.inc()
        delivered = 0
        for sub in list(self._subscribers):
            if not sub.matches(item[1]):
                continue
            delivered += 1
            if not sub.offer(item):
                self.dropped += 1
                metrics.EVENTS_DROPPED.inc()
        return delivered

    def open(
        self,
        *,
        tenant_id: uuid.UUID | None,
        dev_eui: str | None = None,
        application_id: uuid.UUID | str | None = None,
    ) -> Subscription:
        """Register a subscriber (``tenant_id`` None: admin, every event); close() it after."""
        if self._closed:
            raise HubClosed("event hub is closed")
        if len(self._subscribers) >= self.max_subscribers:
            raise HubFull(f"too many event subscribers (max {self.max_subscribers})")
        sub = Subscription(
            tenant_id=tenant_id,
            dev_eui=dev_eui,
            application_id=application_id,
            maxsize=self.queue_size,
        )
        self._subscribers.add(sub)
        metrics.EVENT_SUBSCRIBERS.inc()
        return sub

    def release(self, sub: Subscription) -> None:
        if sub in self._subscribers:
            self._subscribers.discard(sub)
            metrics.EVENT_SUBSCRIBERS.dec()
        sub.close()

    @contextmanager
    def subscribe(
        self,
        *,
        tenant_id: uuid.UUID | None,
        dev_eui: str | None = None,
        application_id: uuid.UUID | str | None = None,
    ) -> Iterator[Subscription]:
        sub = self.open(tenant_id=tenant_id, dev_eui=dev_eui, application_id=application_id)
        try:
            yield sub
        finally:
            self.release(sub)

    def close(self) -> None:
        """End every subscription (their iterators stop) and refuse new ones."""
        self._closed = True
        for sub in list(self._subscribers):
            self.release(sub)
