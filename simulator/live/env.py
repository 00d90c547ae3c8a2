"""The real-time SimPy environment of live mode: simulated time runs ``speed`` times faster
than the wall clock, network I/O is polled between events, and the clock can wait for the
server at a receive window.

Two additions to :class:`simpy.rt.RealtimeEnvironment`:

- while it waits for the next event it polls the gateways' sockets (``pump``) instead of
  sleeping blind, and before handling what arrived it moves ``now`` up to the simulated time
  the wall clock has reached (never past the next event), so a downlink is scheduled against
  the simulated present;
- **holds**: an uplink that certainly expects an answer (a JoinRequest, a confirmed frame)
  registers a hold at the opening of its first receive window. The clock does not pass that
  point until the answer arrived or ``deadline`` (wall clock) expired; the pause is then
  taken out of the real-time schedule (simulated time stands still, it does not race to
  catch up). At high speed factors the server's wall-clock latency (its deduplication window,
  200 ms by default) is longer than a one-second RX1 delay in simulated time; holds keep the
  class A timing exact for the frames that need it. Other downlinks (a LinkADRReq after an
  unconfirmed frame) are accepted by their ``tmst`` whenever they arrive.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from time import monotonic

import simpy
from simpy.core import EmptySchedule, Infinity

#: poll the sockets at least this often (wall seconds) while events run back to back
POLL_EVERY_S = 0.002
#: longest blind wait between two polls (wall seconds)
MAX_WAIT_S = 0.02


@dataclass(slots=True)
class Hold:
    key: object
    sim_limit: float
    deadline: float  # wall clock (monotonic)
    resolved: bool = False


class LiveEnvironment(simpy.rt.RealtimeEnvironment):
    def __init__(self, speed: float, pump: Callable[[float], None] | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        super().__init__(initial_time=0.0, factor=1.0 / speed, strict=False)
        self.speed = speed
        self.pump: Callable[[float], None] = pump or (lambda _timeout: None)
        self._holds: list[tuple[float, int, Hold]] = []
        self._by_key: dict[object, Hold] = {}
        self._seq = itertools.count()
        self._last_poll = 0.0
        self.paused_s = 0.0
        self.holds_total = 0
        self.holds_expired = 0

    # ------------------------------------------------------------------ holds

    def hold(self, key: object, sim_limit: float, wall_timeout_s: float) -> None:
        h = Hold(key, sim_limit, monotonic() + wall_timeout_s)
        old = self._by_key.get(key)
        if old is not None:
            old.resolved = True
        self._by_key[key] = h
        heapq.heappush(self._holds, (sim_limit, next(self._seq), h))
        self.holds_total += 1

    def release(self, key: object) -> None:
        h = self._by_key.pop(key, None)
        if h is not None:
            h.resolved = True

    def _blocking_hold(self, t_next: float) -> Hold | None:
        while self._holds:
            limit, _, h = self._holds[0]
            if h.resolved:
                heapq.heappop(self._holds)
                continue
            if limit > t_next:
                return None
            if monotonic() >= h.deadline:
                heapq.heappop(self._holds)
                h.resolved = True
                self._by_key.pop(h.key, None)
                self.holds_expired += 1
                continue
            return h
        return None

    # ------------------------------------------------------------------ clock

    def sim_now_by_wall(self) -> float:
        return self.env_start + (monotonic() - self.real_start) / self.factor

    def _poll(self, timeout: float, t_next: float) -> None:
        # bring ``now`` up to the simulated present (not past the next event), then read
        target = min(self.sim_now_by_wall(), t_next)
        if target > self._now:
            self._now = target
        self.pump(timeout)
        self._last_poll = monotonic()

    def step(self) -> None:
        t_next = self.peek()
        if t_next is Infinity:
            raise EmptySchedule()
        h = self._blocking_hold(t_next)
        while h is not None:
            start = monotonic()
            self._poll(min(MAX_WAIT_S, max(0.0, h.deadline - start)), min(t_next, h.sim_limit))
            t_next = self.peek()  # the answer may have scheduled an earlier event
            self.real_start += monotonic() - start  # simulated time stood still
            self.paused_s += monotonic() - start
            h = self._blocking_hold(t_next)
        real_time = self.real_start + (t_next - self.env_start) * self.factor
        while True:
            delta = real_time - monotonic()
            if delta <= 0:
                if monotonic() - self._last_poll >= POLL_EVERY_S:
                    self._poll(0.0, t_next)
                    if self.peek() < t_next:
                        return  # something earlier was scheduled: run it first
                break
            self._poll(min(delta, MAX_WAIT_S), t_next)
            if self.peek() < t_next:
                return
        simpy.Environment.step(self)
