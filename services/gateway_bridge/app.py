"""Run the gateway bridge as a process: a bus from settings, the UDP server, until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from prometheus_client import start_http_server

from services.bus.factory import make_bus
from services.bus.settings import BusSettings

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
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    if install_signal_handlers:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop.set)
                handled.append(sig)
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
        for sig in handled:
            loop.remove_signal_handler(sig)
