"""The asyncio side of deduplication: fire each window's end on the event loop.

Wraps the pure :class:`~services.network_server.core.dedup.Deduplicator` with loop timers.
The bus handler only calls :meth:`DedupRunner.add` (it never waits for the window, so one
partition is not held up for 200 ms per frame); the completed group is handed to the
``on_complete`` coroutine in its own task. A window closes at its end, or at once when the
deduplicator says the group is ready (adaptive early close).

Every copy added to a group gets the group's *completion*: a future that resolves when the
group has been handled (after the infrastructure-error retries below) and raises if it
finally failed. The bus handler returns it (services.bus.base, deferred completion), so the
gateway's record is finished only when its frame has been handled.

One device's groups are handled in the order their windows closed, each after the one before
has finished (including its retries): while the database restarts, a later frame's retry must
not overtake an earlier one, which would then be refused as a replay and lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from services.bus.messages import GatewayUplink

from .core.dedup import AddResult, DedupGroup, Deduplicator, device_of

log = logging.getLogger("hyperlora.network_server.dedup")

OnComplete = Callable[[DedupGroup], Coroutine[Any, Any, None]]

# A completed group whose handling fails on an infrastructure error (database restarting,
# bus unavailable) is retried with backoff: the gateways were already acknowledged, so giving
# up at once would lose the frame. Frame-level rejections never raise (they are counted).
RETRY_DELAYS_S = (0.1, 0.2, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0)


class DedupGroupFailed(Exception):
    """A dedup group's handling failed after every retry (its completion raises this)."""


def _retrieve(future: asyncio.Future[None]) -> None:
    """Mark a failed completion's exception as seen (nobody may await it, e.g. in tests)."""
    if not future.cancelled():
        future.exception()


class DedupRunner:
    def __init__(
        self,
        window_s: float,
        on_complete: OnComplete,
        retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S,
        *,
        early_close: bool = False,
        history_frames: int = 8,
    ) -> None:
        self._dedup = Deduplicator(window_s, early_close=early_close, history_frames=history_frames)
        self._on_complete = on_complete
        self._retry_delays_s = retry_delays_s
        self._timers: dict[bytes, asyncio.TimerHandle] = {}
        self._completions: dict[bytes, asyncio.Future[None]] = {}  # open windows
        self._tasks: set[asyncio.Task[None]] = set()
        self._device_tails: dict[bytes, asyncio.Task[None]] = {}  # device -> its last group
        self._idle = asyncio.Event()
        self._idle.set()
        self.early_closed = 0  # windows closed before their end

    @property
    def window_s(self) -> float:
        return self._dedup.window_s

    @property
    def dedup(self) -> Deduplicator:
        return self._dedup

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def add(self, msg: GatewayUplink) -> tuple[AddResult, asyncio.Future[None] | None]:
        """Add one copy: its result and the completion of its group (None for a LATE copy).
        A first copy arms the timer of its window; a group that became ready closes now."""
        loop = asyncio.get_running_loop()
        result, group = self._dedup.add(msg, loop.time())
        if group is None:
            return result, None
        key = group.key
        if result is AddResult.FIRST:
            self._idle.clear()
            completion: asyncio.Future[None] = loop.create_future()
            completion.add_done_callback(_retrieve)
            self._completions[key] = completion
            if not group.ready:
                self._timers[key] = loop.call_at(group.deadline, self._fire, key)
        else:
            completion = self._completions[key]
        if group.ready:
            handle = self._timers.pop(key, None)
            if handle is not None:
                handle.cancel()
            self.early_closed += 1
            self._fire(key)
        return result, completion

    def _fire(self, key: bytes) -> None:
        self._timers.pop(key, None)
        group = self._dedup.pop(key, self.now())
        completion = self._completions.pop(key, None)
        if group is not None and completion is not None:
            self._spawn(group, completion)
        self._check_idle()

    def _spawn(self, group: DedupGroup, completion: asyncio.Future[None]) -> None:
        device = device_of(group.phy_payload)
        before = None if device is None else self._device_tails.get(device)
        task = asyncio.create_task(
            self._handle(group, completion, before), name="ns:dedup-complete"
        )
        self._tasks.add(task)
        task.add_done_callback(self._done)
        if device is not None:
            self._device_tails[device] = task
            task.add_done_callback(lambda t: self._untail(device, t))

    def _untail(self, device: bytes, task: asyncio.Task[None]) -> None:
        if self._device_tails.get(device) is task:
            del self._device_tails[device]

    async def _handle(
        self,
        group: DedupGroup,
        completion: asyncio.Future[None],
        before: asyncio.Task[None] | None = None,
    ) -> None:
        try:
            if before is not None:  # the device's previous frame first, whatever its outcome
                await asyncio.wait([before])
            await self._handle_with_retries(group)
        except asyncio.CancelledError:
            completion.cancel()
            raise
        except Exception as exc:
            if not completion.done():
                failed = DedupGroupFailed(f"dedup group failed after retries: {exc!r}")
                failed.__cause__ = exc
                completion.set_exception(failed)
            raise
        if not completion.done():
            completion.set_result(None)

    async def _handle_with_retries(self, group: DedupGroup) -> None:
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
            completion = self._completions.pop(group.key, None)
            if completion is not None:
                self._spawn(group, completion)
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        self._check_idle()
