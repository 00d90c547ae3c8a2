"""Process lifecycle helpers shared by every service entry point (standard library only, so
the gateway bridge and the CLI can use them without loading storage)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator

log = logging.getLogger("hyperlora.lifecycle")


@contextlib.contextmanager
def signals_set(
    stop: asyncio.Event,
    install: bool = True,
    on_signal: Callable[[signal.Signals], None] | None = None,
) -> Iterator[None]:
    """SIGINT/SIGTERM set ``stop`` while inside (where the loop supports signal handlers),
    after calling ``on_signal`` with the signal (to log it)."""
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []

    def handle(sig: signal.Signals) -> None:
        if on_signal is not None:
            on_signal(sig)
        stop.set()

    if install:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, handle, sig)
                handled.append(sig)
    try:
        yield
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)


def freeze_startup_heap() -> None:
    """Move everything alive after start-up (modules, region tables, compiled schemas, models,
    warmed caches) out of the cyclic garbage collector's sight. Otherwise every full
    collection scans them all again: on the embedded benchmark that was a 100-116 ms pause of
    the event loop every few seconds, the whole p99 at 400 uplinks/s. Reference counting
    still frees frozen objects; only cyclic garbage among them would stay (start-up objects
    live as long as the process anyway). From then on collections are timed (GcPauses)."""
    gc.collect()
    gc.freeze()
    GC_PAUSES.install()


class GcPauses:
    """Times every collection of the cyclic garbage collector and keeps full collections
    short. ``install()`` once per process (freeze_startup_heap does).

    The event loop stands still during a collection. Long-lived state that grows with the
    number of devices (session caches, DRCC histories, device directories) sits in the
    oldest generation, and each full collection scans all of it again, although it finds
    nothing to free: on the embedded benchmark with 1,000 devices the full collections grew
    from 15 to 55 ms within 30 s (about every 6 s, collecting 0 objects), a visible part of
    the p99 latency, and they grow with the device count. So, by default
    (``HYPERLORA_GC_FREEZE_SURVIVORS=true``), what survives a full collection is frozen
    (``gc.freeze``): later full collections scan only what arrived since. Frozen objects are
    still freed by reference counting; only cycles among them wait, until every
    ``HYPERLORA_GC_FULL_EVERY_S`` seconds (3,600 by default) one full collection sees
    everything again.

    ``hyperlora_gc_pause_seconds{generation}`` (a histogram, when prometheus_client is
    importable) and a warning for any pause over ``warn_s``.
    """

    def __init__(self, warn_s: float = 0.05) -> None:
        self.warn_s = warn_s
        self.count = [0, 0, 0]
        self.total_s = [0.0, 0.0, 0.0]
        self.max_s = [0.0, 0.0, 0.0]
        self.freeze_survivors = True
        self.full_every_s = 3600.0
        self.freezes = 0
        self.thaws = 0
        self._started = 0.0
        self._last_thaw = time.monotonic()
        self._hist: list[object] | None = None

    def install(self) -> GcPauses:
        if self._callback in gc.callbacks:
            return self
        self.freeze_survivors = _env_bool("HYPERLORA_GC_FREEZE_SURVIVORS", True)
        self.warn_s = float(os.environ.get("HYPERLORA_GC_WARN_MS", self.warn_s * 1000)) / 1000
        self.full_every_s = float(os.environ.get("HYPERLORA_GC_FULL_EVERY_S", "3600"))
        self._last_thaw = time.monotonic()
        try:
            from prometheus_client import Histogram

            hist = Histogram(
                "hyperlora_gc_pause_seconds",
                "Cyclic garbage collections: time the process stood still",
                ["generation"],
                buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
            )
            self._hist = [hist.labels(str(g)) for g in range(3)]
        except (ImportError, ValueError):  # no prometheus_client / registered already
            self._hist = None
        gc.callbacks.append(self._callback)
        return self

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        elapsed = time.perf_counter() - self._started
        g = info.get("generation", 2)
        self.count[g] += 1
        self.total_s[g] += elapsed
        self.max_s[g] = max(self.max_s[g], elapsed)
        if self._hist is not None:
            self._hist[g].observe(elapsed)  # type: ignore[attr-defined]
        if elapsed > self.warn_s:
            log.warning(
                "gc.long_pause generation=%d ms=%.1f collected=%d",
                g, elapsed * 1000, info.get("collected", 0),
            )  # fmt: skip
        if g == 2 and self.freeze_survivors:
            # the collection is over (the "stop" callback): moving lists is safe here
            if time.monotonic() - self._last_thaw >= self.full_every_s:
                self._last_thaw = time.monotonic()
                self.thaws += 1
                gc.unfreeze()  # the next full collection sees every object again
            else:
                self.freezes += 1
                gc.freeze()


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


GC_PAUSES = GcPauses()
