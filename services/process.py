"""Running one bus-and-storage service as a process (the shared part of each service's app.py).

Storage is opened (migrated) first, the service subscribes, the bus starts; on ``stop`` (or
SIGINT/SIGTERM) the service and the bus stop in the order the service needs, then storage
closes. A Prometheus endpoint on 127.0.0.1 is started when a metrics port is given.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from prometheus_client import start_http_server

from services.bus import Bus
from services.bus.factory import make_bus
from services.bus.settings import BusSettings
from services.lifecycle import freeze_startup_heap, signals_set
from services.storage import Storage, StorageSettings, open_storage


class BusService(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


async def run_bus_service(
    name: str,
    build: Callable[[Bus, Storage], BusService],
    *,
    bus_settings: BusSettings | None = None,
    storage_settings: StorageSettings | None = None,
    stop: asyncio.Event | None = None,
    install_signal_handlers: bool = True,
    metrics_port: int | None = None,
    drain_bus_first: bool = False,
    started_message: str = "",
) -> None:
    """Serve ``build(bus, storage)`` until ``stop`` is set; ``drain_bus_first`` stops the bus
    before the service (for services that flush what the drained records produced)."""
    log = logging.getLogger(f"hyperlora.{name}")
    stop = stop or asyncio.Event()
    with signals_set(stop, install_signal_handlers):
        if metrics_port is not None:
            start_http_server(metrics_port, addr="127.0.0.1")
            log.info("%s.metrics port=%d", name, metrics_port)
        storage = await open_storage(storage_settings)
        try:
            bus = make_bus(bus_settings)
            service = build(bus, storage)
            await service.start()
            await bus.start()
            freeze_startup_heap()
            log.info("%s.started %s", name, started_message)
            try:
                await stop.wait()
            finally:
                if drain_bus_first:
                    await bus.stop()
                    await service.stop()
                else:
                    await service.stop()
                    await bus.stop()
        finally:
            await storage.close()
