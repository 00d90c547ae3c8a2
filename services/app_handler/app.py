"""Run the application handler as a process: storage, a bus from settings, until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from prometheus_client import start_http_server

from services.bus.factory import make_bus
from services.bus.settings import BusSettings
from services.storage import StorageSettings, open_storage

from .service import AppHandlerService
from .settings import AppHandlerSettings

log = logging.getLogger("hyperlora.app_handler")


async def run(
    settings: AppHandlerSettings | None = None,
    bus_settings: BusSettings | None = None,
    storage_settings: StorageSettings | None = None,
    stop: asyncio.Event | None = None,
    install_signal_handlers: bool = True,
) -> None:
    """Serve until ``stop`` is set (or SIGINT/SIGTERM); then the bus, the service, storage."""
    settings = settings or AppHandlerSettings()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    if install_signal_handlers:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop.set)
                handled.append(sig)
    if settings.metrics_port is not None:
        start_http_server(settings.metrics_port, addr="127.0.0.1")
        log.info("app_handler.metrics port=%d", settings.metrics_port)
    storage = await open_storage(storage_settings)
    try:
        bus = make_bus(bus_settings)
        service = AppHandlerService(settings, bus, storage)
        await service.start()
        await bus.start()
        try:
            await stop.wait()
        finally:
            await bus.stop()
            await service.stop()
    finally:
        await storage.close()
        for sig in handled:
            loop.remove_signal_handler(sig)
