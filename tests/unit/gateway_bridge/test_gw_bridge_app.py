"""The process entry (app.run) starts and stops cleanly; metrics carry the agreed names."""

from __future__ import annotations

import asyncio
import socket

from prometheus_client import REGISTRY

from services.bus.settings import BusSettings
from services.gateway_bridge.app import run
from services.gateway_bridge.semtech import PullAck, PullData, decode_packet
from services.gateway_bridge.server import GatewayBridge
from services.gateway_bridge.settings import GatewayBridgeSettings
from services.lorawan.types import EUI64


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_run_serves_until_stopped() -> None:
    port = _free_udp_port()
    stop = asyncio.Event()
    settings = GatewayBridgeSettings(bind_port=port)
    task = asyncio.create_task(
        run(settings, BusSettings(backend="memory"), stop, install_signal_handlers=False)
    )
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setblocking(False)
        await loop.sock_connect(s, ("127.0.0.1", port))
        answer = None
        for _ in range(50):  # until the server is up
            await loop.sock_sendall(s, PullData(token=3, gw_eui=EUI64(bytes(8))).to_bytes())
            try:
                answer = await asyncio.wait_for(loop.sock_recv(s, 64), 0.1)
                break
            except (TimeoutError, ConnectionRefusedError):
                continue
    assert answer is not None and decode_packet(answer) == PullAck(token=3)
    stop.set()
    await asyncio.wait_for(task, 5)


def _sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


async def test_prometheus_counters_named_hyperlora_gateway_bridge() -> None:
    from services.bus.memory import MemoryBus

    bus = MemoryBus()
    bridge = GatewayBridge(bus, GatewayBridgeSettings(bind_port=0))
    before = (
        _sample("hyperlora_gateway_bridge_malformed_datagrams_total", {"reason": "decode"}),
        _sample("hyperlora_gateway_bridge_datagrams_total", {"type": "PULL_DATA"}),
    )
    await bus.start()
    await bridge.start()
    try:
        bridge.handle_datagram(b"\x02\x00", ("127.0.0.1", 1))
        bridge.handle_datagram(
            PullData(token=1, gw_eui=EUI64(bytes(8))).to_bytes(), ("127.0.0.1", 1)
        )
    finally:
        await bridge.stop()
        await bus.stop()
    after = (
        _sample("hyperlora_gateway_bridge_malformed_datagrams_total", {"reason": "decode"}),
        _sample("hyperlora_gateway_bridge_datagrams_total", {"type": "PULL_DATA"}),
    )
    assert (after[0] - before[0], after[1] - before[1]) == (1.0, 1.0)
    names = {m.name for m in REGISTRY.collect() if m.name.startswith("hyperlora_gateway_bridge")}
    assert "hyperlora_gateway_bridge_uplinks" in names  # exposed as ..._uplinks_total
    assert all(m.type == "counter" for m in REGISTRY.collect() if m.name in names)
