"""Run the DRCC service as a process: bus and storage from settings, until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from services.bus.factory import make_bus
from services.bus.settings import BusSettings
from services.storage import StorageSettings, open_storage

from .service import DrccService
from .settings import DrccSettings

log = logging.getLogger("hyperlora.drcc")


async def run(
    settings: DrccSettings | None = None,
    bus_settings: BusSettings | None = None,
    storage_settings: StorageSettings | None = None,
    stop: asyncio.Event | None = None,
    install_signal_handlers: bool = True,
) -> None:
    """Serve until ``stop`` is set (or SIGINT/SIGTERM); then the service, the bus, storage."""
    settings = settings or DrccSettings()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    if install_signal_handlers:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop.set)
                handled.append(sig)
    if settings.metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(settings.metrics_port, addr="127.0.0.1")
    storage = await open_storage(storage_settings)
    bus = make_bus(bus_settings)
    service = DrccService(settings, bus, storage)
    await service.start()
    await bus.start()
    log.info("drcc.started region=%s default_policy=%s", settings.region, settings.default_policy)
    try:
        await stop.wait()
    finally:
        await service.stop()
        await bus.stop()
        await storage.close()
        for sig in handled:
            loop.remove_signal_handler(sig)
