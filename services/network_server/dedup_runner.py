"""The asyncio side of deduplication: fire each window's end on the event loop.

Wraps the pure :class:`~services.network_server.core.dedup.Deduplicator` with loop timers.
The bus handler only calls :meth:`DedupRunner.add` (it never waits for the window, so one
partition is not held up for 200 ms per frame); the completed group is handed to the
``on_complete`` coroutine in its own task.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from services.bus.messages import GatewayUplink

from .core.dedup import AddResult, DedupGroup, Deduplicator

log = logging.getLogger("hyperlora.network_server.dedup")

OnComplete = Callable[[DedupGroup], Coroutine[Any, Any, None]]

# A completed group whose handling fails on an infrastructure error (database restarting,
# bus unavailable) is retried with backoff: the gateways were already acknowledged, so giving
# up at once would lose the frame. Frame-level rejections never raise (they are counted).
RETRY_DELAYS_S = (0.1, 0.2, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0)


class DedupRunner:
    def __init__(
        self,
        window_s: float,
        on_complete: OnComplete,
        retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S,
    ) -> None:
        self._dedup = Deduplicator(window_s)
        self._on_complete = on_complete
        self._retry_delays_s = retry_delays_s
        self._timers: dict[bytes, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def window_s(self) -> float:
        return self._dedup.window_s

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def add(self, msg: GatewayUplink) -> AddResult:
        """Add one copy; a first copy arms the timer of its window."""
        loop = asyncio.get_running_loop()
        result, group = self._dedup.add(msg, loop.time())
        if result is AddResult.FIRST and group is not None:
            self._idle.clear()
            self._timers[group.key] = loop.call_at(group.deadline, self._fire, group.key)
        return result

    def _fire(self, key: bytes) -> None:
        self._timers.pop(key, None)
        group = self._dedup.pop(key, self.now())
        if group is not None:
            self._spawn(group)
        self._check_idle()

    def _spawn(self, group: DedupGroup) -> None:
        task = asyncio.create_task(self._handle(group), name="ns:dedup-complete")
        self._tasks.add(task)
        task.add_done_callback(self._done)

    async def _handle(self, group: DedupGroup) -> None:
        for attempt, delay in enumerate((*self._retry_delays_s, None), start=1):
            try:
                await self._on_complete(group)
                return
            except Exception as exc:
                if delay is None:
                    raise
                log.warning(
                    "ns.dedup.handler_retry attempt=%d delay_s=%.1f error=%r", attempt, delay, exc
                )
                await asyncio.sleep(delay)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("ns.dedup.handler_failed", exc_info=task.exception())
        self._check_idle()

    def _check_idle(self) -> None:
        if not self._tasks and not self._timers:
            self._idle.set()

    async def wait_idle(self) -> None:
        """Until no window is open and no completed group is being processed."""
        while self._tasks or self._timers:
            self._idle.clear()
            await self._idle.wait()

    async def flush(self) -> None:
        """Close every open window now and wait for their processing (on shutdown)."""
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for group in self._dedup.pop_all(self.now()):
            self._spawn(group)
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        self._check_idle()
