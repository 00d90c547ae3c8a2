"""Run the network server as a process: bus and storage from settings, until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from services.bus.factory import make_bus
from services.bus.settings import BusSettings
from services.storage import StorageSettings, open_storage

from .service import NetworkServerService
from .settings import NetworkServerSettings

log = logging.getLogger("hyperlora.network_server")


async def run(
    settings: NetworkServerSettings | None = None,
    bus_settings: BusSettings | None = None,
    storage_settings: StorageSettings | None = None,
    stop: asyncio.Event | None = None,
    install_signal_handlers: bool = True,
) -> None:
    """Serve until ``stop`` is set (or SIGINT/SIGTERM); then the service, the bus, storage."""
    settings = settings or NetworkServerSettings()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    if install_signal_handlers:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop.set)
                handled.append(sig)
    storage = await open_storage(storage_settings)
    bus = make_bus(bus_settings)
    service = NetworkServerService(settings, bus, storage)
    await service.start()
    await bus.start()
    log.info("network_server.started region=%s net_id=%s", settings.region, settings.net_id)
    try:
        await stop.wait()
    finally:
        await service.stop()
        await bus.stop()
        await storage.close()
        for sig in handled:
            loop.remove_signal_handler(sig)
