"""Run the join server as a process: bus and storage from settings, until stopped."""

from __future__ import annotations

import asyncio

from services.bus.settings import BusSettings
from services.process import run_bus_service
from services.storage import StorageSettings

from .service import JoinServerService
from .settings import JoinServerSettings


async def run(
    settings: JoinServerSettings | None = None,
    bus_settings: BusSettings | None = None,
    storage_settings: StorageSettings | None = None,
    stop: asyncio.Event | None = None,
    install_signal_handlers: bool = True,
) -> None:
    """Serve until ``stop`` is set (or SIGINT/SIGTERM); then the service, the bus, storage."""
    s = settings or JoinServerSettings()
    await run_bus_service(
        "join_server",
        lambda bus, storage: JoinServerService(s, bus, storage),
        bus_settings=bus_settings,
        storage_settings=storage_settings,
        stop=stop,
        install_signal_handlers=install_signal_handlers,
        metrics_port=s.metrics_port,
        drain_bus_first=False,
        started_message="",
    )
