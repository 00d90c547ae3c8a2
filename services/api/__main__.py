"""``python -m services.api``: the management API on its own (storage + bus from settings).

The embedded network server runs the API inside its single process instead; this entry point
serves operators who only need the management API over an existing database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from services import eventloop
from services.bus import make_bus
from services.storage import open_storage

from .service import ApiService
from .settings import ApiSettings


async def serve(settings: ApiSettings | None = None) -> None:
    settings = settings or ApiSettings()
    storage = await open_storage()
    bus = make_bus()
    service = ApiService(settings, bus, storage)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await bus.start()
        await service.start()
        await stop.wait()
    finally:
        await service.stop()
        await bus.stop()
        await storage.close()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    eventloop.run(serve())


if __name__ == "__main__":
    main()
