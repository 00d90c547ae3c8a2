"""Run the network server as a process: bus and storage from settings, until stopped."""

from __future__ import annotations

import asyncio

from services.bus.settings import BusSettings
from services.process import run_bus_service
from services.storage import StorageSettings

from .service import NetworkServerService
from .settings import NetworkServerSettings


async def run(
    settings: NetworkServerSettings | None = None,
    bus_settings: BusSettings | None = None,
    storage_settings: StorageSettings | None = None,
    stop: asyncio.Event | None = None,
    install_signal_handlers: bool = True,
) -> None:
    """Serve until ``stop`` is set (or SIGINT/SIGTERM); then the service, the bus, storage."""
    s = settings or NetworkServerSettings()
    await run_bus_service(
        "network_server",
        lambda bus, storage: NetworkServerService(s, bus, storage),
        bus_settings=bus_settings,
        storage_settings=storage_settings,
        stop=stop,
        install_signal_handlers=install_signal_handlers,
        metrics_port=None,
        drain_bus_first=False,
        started_message=f"region={s.region} net_id={s.net_id}",
    )
