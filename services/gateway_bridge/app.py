"""Run the gateway bridge as a process: a bus from settings, the UDP server, until stopped."""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import start_http_server

from services.bus.factory import make_bus
from services.bus.settings import BusSettings
from services.lifecycle import signals_set

from .server import GatewayBridge
from .settings import GatewayBridgeSettings

log = logging.getLogger("hyperlora.gateway_bridge")


async def run(
    settings: GatewayBridgeSettings | None = None,
    bus_settings: BusSettings | None = None,
    stop: asyncio.Event | None = None,
    install_signal_handlers: bool = True,
) -> None:
    """Serve until ``stop`` is set (or SIGINT/SIGTERM), then stop the bridge, then the bus."""
    settings = settings or GatewayBridgeSettings()
    stop = stop or asyncio.Event()
    with signals_set(stop, install_signal_handlers):
        if settings.metrics_port is not None:
            start_http_server(settings.metrics_port, addr=settings.bind_host)
            log.info("gateway_bridge.metrics port=%d", settings.metrics_port)
        bus = make_bus(bus_settings)
        bridge = GatewayBridge(bus, settings)
        bridge.subscribe()
        await bus.start()
        try:
            await bridge.start()
            try:
                await stop.wait()
            finally:
                await bridge.stop()
        finally:
            await bus.stop()
