"""``GET /api/events`` in distributed mode: the app handler's events travel over the bus.

Embedded, the application handler hands each event straight to the API's in-process
:class:`~services.api.events.EventHub`. When the app handler runs in its own process
(``hyperlora service app_handler``), :class:`BusEventSink` stands in for the hub there and
publishes every event on ``as.event`` (key: DevEUI); the API process subscribes with
:func:`event_relay`, which feeds them into its hub, so the stream is the same in both modes.

The stream is live only: the sink never blocks the app handler (at most ``max_in_flight``
publishes pending; beyond that an event is dropped and counted), and the relay skips events
older than ``max_age_s`` (a backlog replayed after the API was down, or a new consumer group
reading the topic from the start), so a subscriber never gets a burst of stale events.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from services.bus.base import Bus, Envelope, Handler
from services.bus.messages import ApplicationEvent, BaseMessage
from services.bus.topics import Topic

from .events import EventHub

log = logging.getLogger("hyperlora.api.events")


class BusEventSink:
    """The app handler's event sink in distributed mode: each event becomes an ``as.event``
    record. ``publish`` never blocks nor raises (fire and forget, bounded)."""

    def __init__(
        self,
        bus: Bus,
        *,
        max_in_flight: int = 1000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._bus = bus
        self._max = max_in_flight
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        self.published = 0
        self.dropped = 0
        self.failed = 0

    def publish(self, event: Mapping[str, Any]) -> None:
        if len(self._tasks) >= self._max:
            self.dropped += 1
            log.warning("api.events.sink_full dropped=%d", self.dropped)
            return
        dev_eui = str(event.get("dev_eui") or "")
        message = ApplicationEvent(dev_eui=dev_eui, event=dict(event), emitted_at=self._clock())
        task = asyncio.get_running_loop().create_task(self._send(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, message: ApplicationEvent) -> None:
        try:
            await self._bus.publish(Topic.AS_EVENT, message.dev_eui or "-", message)
        except Exception as exc:  # the adapter edge: a live event is best effort
            self.failed += 1
            log.warning("api.events.publish_failed dev_eui=%s error=%r", message.dev_eui, exc)
        else:
            self.published += 1

    async def flush(self, timeout_s: float = 5.0) -> None:
        """Wait (bounded) for the publishes in flight."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)


def event_relay(
    hub: EventHub, *, max_age_s: float = 30.0, clock: Callable[[], float] = time.time
) -> Handler:
    """A bus handler for ``as.event`` that feeds each (fresh) event into ``hub``."""

    async def relay(env: Envelope[BaseMessage]) -> None:
        msg = env.message
        if not isinstance(msg, ApplicationEvent):
            return
        age = clock() - msg.emitted_at.timestamp()
        if age > max_age_s:
            log.debug("api.events.stale dev_eui=%s age_s=%.1f", msg.dev_eui, age)
            return
        hub.publish(msg.event)

    return relay
