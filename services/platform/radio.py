"""The radio process of the two-process embedded mode (``HYPERLORA_PROCESSES=2``).

``hyperlora run`` with two processes keeps the application side (application handler, API,
ledger writer and ledger, gateway status) in its own process and starts this one for the
radio side: the gateway bridge (it owns the UDP port), the network server, the join server
and DRCC rate control (it reads the network server's uplink metadata and answers it).
The two share the SQLite database (WAL: one writer at a time, each waits for the other) and
are joined by a stream socket carrying the bus (services.bus.link.LinkedBus). One uplink's
work is then split between two interpreters, so between two cores.

The main process starts it with ``python -m services.platform.radio --fd N``, where N is its
end of a socket pair, and first writes on that socket the settings it derived (a pickle, read
before anything else; the socket is private to the two processes). The conversation:

* this process opens the storage (already migrated by the main process), subscribes its
  services, exchanges HELLO with the main process's bus, starts the gateway bridge and sends
  ``{"type": "ready", "udp": [host, port], "pid": ...}``;
* on ``{"type": "stop"}`` (or SIGTERM) it stops like the one-process platform does: the UDP
  socket closes (what was acknowledged goes onto the bus), the network server closes its open
  dedup windows, the bus drains (records for the main process are written to the socket), then
  the socket closes;
* if the main process goes away (the socket ends), it stops the same way and exits.

It runs in its own session (the main process starts it so), so a terminal's Ctrl-C reaches
the main process only, which then stops it in order. If it dies, the main process starts a
new one on the same UDP address (services.platform.platform, ``_radio_watch``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
import time
from typing import Any

from prometheus_client import REGISTRY, generate_latest

from services import eventloop
from services.bus import Topic
from services.bus.factory import memory_options
from services.bus.link import LinkedBus
from services.drcc.service import DrccService
from services.drcc.settings import DrccSettings
from services.gateway_bridge.server import GatewayBridge
from services.join_server.service import JoinServerService
from services.lifecycle import freeze_startup_heap
from services.network_server.service import NetworkServerService
from services.storage import open_storage

from .child import read_config
from .logs import configure_logging
from .settings import ServiceSettings

log = logging.getLogger("hyperlora.platform.radio")

DRAIN_POLL_S = 0.01


class RadioProcess:
    """Gateway bridge, network server, join server and DRCC on a LinkedBus."""

    def __init__(self, sock: socket.socket, services: ServiceSettings) -> None:
        self.sock = sock
        self.s = services
        self.stop_requested = asyncio.Event()
        self._replies: set[asyncio.Future[bool]] = set()
        self.bus = LinkedBus(
            sock, name="radio", on_control=self._on_control, **memory_options(services.bus)
        )

    def _on_control(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "stop":
            log.info("radio.stop_requested")
            self.stop_requested.set()
        elif kind == "metrics":
            text = generate_latest(REGISTRY).decode()
            reply = {"type": "reply", "id": message.get("id"), "text": text}
            task = asyncio.ensure_future(self.bus.send_control(reply))
            self._replies.add(task)
            task.add_done_callback(self._replies.discard)
        else:
            log.warning("radio.unknown_control message=%r", message)

    async def serve(self) -> None:
        s = self.s
        started = time.perf_counter()
        storage = await open_storage(s.storage, migrate=False)
        ns = NetworkServerService(s.network_server, self.bus, storage)
        js = JoinServerService(s.join_server, self.bus, storage)
        drcc = DrccService(DrccSettings(), self.bus, storage)
        bridge = GatewayBridge(self.bus, s.gateway_bridge)
        await ns.start()
        await js.start()
        await drcc.start()
        bridge.subscribe()
        try:
            await self.bus.start()
            await bridge.start()
            host, port = bridge.address
            freeze_startup_heap()
            await self.bus.send_control({"type": "ready", "udp": [host, port], "pid": os.getpid()})
            log.info(
                "radio.started udp=%s:%d startup_ms=%.0f",
                host, port, (time.perf_counter() - started) * 1000,
            )  # fmt: skip
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGTERM, self.stop_requested.set)
            gone = asyncio.ensure_future(self.bus.peer_gone.wait())
            asked = asyncio.ensure_future(self.stop_requested.wait())
            await asyncio.wait((gone, asked), return_when=asyncio.FIRST_COMPLETED)
            gone.cancel()
            asked.cancel()
            if self.bus.peer_gone.is_set() and not self.stop_requested.is_set():
                log.warning("radio.main_process_gone stopping")
        finally:
            await self._shutdown(bridge, ns, js, drcc, storage)

    async def _shutdown(self, bridge: Any, ns: Any, js: Any, drcc: Any, storage: Any) -> None:
        started = time.perf_counter()
        await _step("gateway_bridge", bridge.stop())
        await _step("network_server", self._quiesce(ns))
        await _step("bus", self.bus.stop())
        await _step("join_server", js.stop())
        await _step("drcc", drcc.stop())
        await _step("storage", storage.close())
        log.info(
            "radio.stopped dropped=%d sent=%d received=%d shutdown_ms=%.0f",
            self.bus.dropped_on_stop + self.bus.link_counters.dropped,
            self.bus.link_counters.sent,
            self.bus.link_counters.received,
            (time.perf_counter() - started) * 1000,
        )

    async def _quiesce(self, ns: NetworkServerService) -> None:
        group = ns.settings.consumer_group
        deadline = time.monotonic() + self.s.bus.drain_timeout_s
        while self.bus.queue_depth(Topic.GW_UP, group) and time.monotonic() < deadline:
            await asyncio.sleep(DRAIN_POLL_S)
        await asyncio.sleep(0)
        await ns.stop()


async def _step(name: str, aw: Any) -> None:
    try:
        await aw
    except Exception:
        log.error("radio.stop_failed component=%s", name, exc_info=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.platform.radio")
    parser.add_argument("--fd", type=int, required=True, help="this end of the socket pair")
    args = parser.parse_args(argv)
    sock = socket.socket(fileno=args.fd)
    platform, services = read_config(sock)
    configure_logging(platform.log_level, platform.log_json, process="radio")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process stops us in order
    radio = RadioProcess(sock, services)
    try:
        eventloop.run(radio.serve())
    except Exception:
        log.error("radio.failed", exc_info=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
