"""Which asyncio event loop the services run on: uvloop when it is installed, else asyncio's.

Every HyperLoRa process (``hyperlora run``, ``hyperlora service NAME``, the per-service
``python -m`` entry points) starts its loop through :func:`run`. uvloop (libuv, in Cython)
runs the same coroutines with less overhead per callback, socket read and task switch; on
the 2-core test machine the embedded platform delivered about 30 % more uplinks per CPU
second at saturation with it (bench/bench_embedded_uplink.py, docs/operating.md).

``HYPERLORA_EVENT_LOOP`` chooses: ``auto`` (the default: uvloop if importable), ``uvloop``
(fail if it is not installed) or ``asyncio`` (the standard loop, e.g. to rule uvloop out
when chasing a problem). Differences a reader may notice: uvloop's ``loop.time()`` advances
in whole milliseconds, and it is not available on Windows (the dependency is skipped there).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

ENV = "HYPERLORA_EVENT_LOOP"
CHOICES = ("auto", "uvloop", "asyncio")

log = logging.getLogger("hyperlora.eventloop")


class EventLoopUnavailable(RuntimeError):
    """HYPERLORA_EVENT_LOOP names a loop that cannot be used here."""


def loop_factory(choice: str | None = None) -> tuple[str, Callable[[], asyncio.AbstractEventLoop]]:
    """(name, factory) of the loop to run: ``choice``, else ``$HYPERLORA_EVENT_LOOP``, else auto."""
    wanted = (choice or os.environ.get(ENV) or "auto").strip().lower()
    if wanted not in CHOICES:
        raise EventLoopUnavailable(f"{ENV}={wanted!r}: expected one of {', '.join(CHOICES)}")
    if wanted in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError as exc:
            if wanted == "uvloop":
                raise EventLoopUnavailable(f"{ENV}=uvloop but uvloop is not installed") from exc
        else:
            return "uvloop", uvloop.new_event_loop
    return "asyncio", asyncio.new_event_loop


def run(main: Coroutine[Any, Any, T], *, choice: str | None = None) -> T:
    """``asyncio.run(main)`` on the chosen loop."""
    try:
        name, factory = loop_factory(choice)
    except EventLoopUnavailable:
        main.close()  # never awaited: no "coroutine was never awaited" warning
        raise
    log.info("eventloop.selected loop=%s", name)
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


def current() -> str:
    """The running loop's kind: "uvloop" or "asyncio" (for logs and /health)."""
    loop = asyncio.get_running_loop()
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
