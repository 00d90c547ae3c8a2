"""Process lifecycle helpers shared by every service entry point (standard library only, so
the gateway bridge and the CLI can use them without loading storage)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import Callable, Iterator


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
    live as long as the process anyway)."""
    gc.collect()
    gc.freeze()
