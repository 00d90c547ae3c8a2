"""``python -m services.ledger``: the ledger writer service on its own (distributed mode).

Bus and ledger adapters come from settings (HYPERLORA_BUS_*, HYPERLORA_LEDGER_*). The writer
subscribes before the bus starts, and stops before the bus and the ledger so its in-flight
batches finish (what is left stays in the outbox for the next start).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from services import eventloop
from services.bus import make_bus

from .factory import make_ledger, make_writer
from .settings import LedgerSettings


async def serve(settings: LedgerSettings | None = None) -> None:
    settings = settings or LedgerSettings()
    bus = make_bus()
    ledger = make_ledger(settings)
    writer = make_writer(ledger, bus, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await ledger.start()
    try:
        await writer.start()
        await bus.start()
        await stop.wait()
    finally:
        await bus.stop()
        await writer.stop()
        await ledger.stop()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    eventloop.run(serve())


if __name__ == "__main__":
    main()
