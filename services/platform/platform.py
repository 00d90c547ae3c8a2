"""EmbeddedPlatform: the whole network server in one process (the embedded composition root).

One event loop holds: the storage (SQLite in the data directory, migrated at start), the
in-process bus, and every service written against them — gateway bridge (Semtech UDP), network
server, join server, application handler (MQTT, webhooks, event hub), DRCC / ADR rate control
(policy per device profile), the ledger writer with
the embedded ledger (device, network and per-zone application channels, hash-chained blocks),
the REST API (uvicorn in the same loop), and a small recorder of gateway status reports.

Start order: storage -> services subscribe -> bus -> API (HTTP) -> gateway bridge (UDP): the
inputs open last, once everything behind them runs. Stop order is the reverse, so nothing
accepted is lost: the UDP socket closes first and the bridge hands what it acknowledged to the
bus; the API stops taking requests; the network server closes its open dedup windows once the
bus has handed it every gw.up record; the bus drains (every record handled, including the ones
handlers publish while draining); then the application handler flushes its integrations and
the storage closes.

    async with EmbeddedPlatform(PlatformSettings(udp_port=0, http_port=0)) as platform:
        print(platform.endpoints)
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.api.events import EventHub
from services.api.service import ApiService
from services.api.settings import ApiSettings
from services.app_handler.service import AppHandlerService
from services.app_handler.settings import AppHandlerSettings
from services.bus import Bus, Envelope, Topic, make_bus
from services.bus.memory import MemoryBus
from services.bus.messages import BaseMessage, GatewayStats
from services.bus.settings import BusSettings
from services.drcc.service import DrccService
from services.drcc.settings import DrccSettings
from services.gateway_bridge.server import GatewayBridge
from services.gateway_bridge.settings import GatewayBridgeSettings
from services.join_server.service import JoinServerService
from services.join_server.settings import JoinServerSettings
from services.ledger.base import Ledger
from services.ledger.factory import make_ledger, make_writer
from services.ledger.settings import LedgerSettings
from services.ledger.writer import LedgerWriter
from services.lifecycle import freeze_startup_heap, signals_set
from services.lorawan.errors import LoRaWANError
from services.lorawan.types import EUI64
from services.migration import MigrationService, MigrationSettings, RoutingTable, WriterStatsSource
from services.network_server.service import NetworkServerService
from services.network_server.settings import NetworkServerSettings
from services.storage import Storage, StorageError, open_storage

from .admin_key import FirstAdminKey, ensure_first_admin_key
from .child import RadioChild
from .logs import adopt_third_party_loggers
from .settings import PlatformSettings, ServiceSettings, derive_settings

log = logging.getLogger("hyperlora.platform")

GATEWAY_STATS_GROUP = "platform"
DRAIN_POLL_S = 0.01
RADIO_RESTART_WINDOW_S = 60.0


@dataclass(frozen=True, slots=True)
class Endpoints:
    udp_host: str
    udp_port: int
    http_host: str
    http_port: int

    @property
    def api_url(self) -> str:
        return f"http://{self.http_host}:{self.http_port}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "udp": f"{self.udp_host}:{self.udp_port}",
            "api": f"{self.api_url}/api",
            "docs": f"{self.api_url}/api/docs",
            "health": f"{self.api_url}/health",
            "metrics": f"{self.api_url}/metrics",
        }


class EmbeddedPlatform:
    """Every HyperLoRa service in this process. ``start()`` / ``stop()``, or ``run()`` until a
    signal, or ``async with``."""

    def __init__(
        self,
        settings: PlatformSettings | None = None,
        *,
        network_server: NetworkServerSettings | None = None,
        join_server: JoinServerSettings | None = None,
        app_handler: AppHandlerSettings | None = None,
        api: ApiSettings | None = None,
        bus: BusSettings | None = None,
        gateway_bridge: GatewayBridgeSettings | None = None,
        ledger: LedgerSettings | None = None,
    ) -> None:
        self.settings = settings or PlatformSettings()
        self.service_settings: ServiceSettings = derive_settings(
            self.settings,
            network_server=network_server,
            join_server=join_server,
            app_handler=app_handler,
            api=api,
            bus=bus,
            gateway_bridge=gateway_bridge,
            ledger=ledger,
        )
        self.storage: Storage | None = None
        self.bus: Bus | None = None
        self.event_hub: EventHub | None = None
        self.gateway_bridge: GatewayBridge | None = None
        self.network_server: NetworkServerService | None = None
        self.join_server: JoinServerService | None = None
        self.app_handler: AppHandlerService | None = None
        self.api: ApiService | None = None
        self.ledger: Ledger | None = None
        self.ledger_writer: LedgerWriter | None = None
        self.migration: MigrationService | None = None
        self.drcc: DrccService | None = None
        self.first_admin_key: FirstAdminKey | None = None
        self.endpoints: Endpoints | None = None
        self.radio: RadioChild | None = None  # the radio process (processes=2)
        self.failed = False  # the radio process died under a running platform
        self._watch_radio: asyncio.Task[None] | None = None
        self._run_stop: asyncio.Event | None = None
        self._stopping: asyncio.Future[None] | None = None
        self._state = "new"  # new -> starting -> running -> stopping -> stopped
        self._stopped = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        return self._state == "running"

    async def start(self) -> None:
        if self._state != "new":
            raise RuntimeError(f"cannot start a platform that is {self._state}")
        self._state = "starting"
        started = time.perf_counter()
        s = self.service_settings
        try:
            self.storage = await open_storage(s.storage)
            log.info("platform.storage.ready url=%s", _redacted(s.storage.database_url))
            if self.settings.processes == 2:
                self.radio = RadioChild(self.settings, s)
                self.bus = await self.radio.spawn()
            else:
                self.bus = make_bus(s.bus)
            self.event_hub = EventHub(s.api.event_queue_size, s.api.max_event_subscribers)
            if self.radio is None:
                self.network_server = NetworkServerService(s.network_server, self.bus, self.storage)
                self.join_server = JoinServerService(s.join_server, self.bus, self.storage)
                self.gateway_bridge = GatewayBridge(self.bus, s.gateway_bridge)
            self.app_handler = AppHandlerService(
                s.app_handler, self.bus, self.storage, event_hub=self.event_hub
            )
            self.api = ApiService(s.api, self.bus, self.storage, event_hub=self.event_hub)
            if self.radio is not None:
                self.api.attach_peer(self.radio)
            if self.radio is None:  # else in the radio process, next to the network server
                self.drcc = DrccService(DrccSettings(), self.bus, self.storage)
            Path(s.ledger.data_dir).mkdir(parents=True, exist_ok=True)
            self.ledger = make_ledger(s.ledger)
            await self.ledger.start()
            self.ledger_writer = self._make_ledger_writer(self.ledger)
            self.api.attach_ledger(self.ledger, self.ledger_writer, self.migration)

            # every subscription before the bus starts
            if self.network_server is not None and self.join_server is not None:
                await self.network_server.start()
                await self.join_server.start()
            await self.app_handler.start()
            if self.drcc is not None:
                await self.drcc.start()
            await self.ledger_writer.start()
            if self.migration is not None:
                await self.migration.start()
            if self.gateway_bridge is not None:
                self.gateway_bridge.subscribe()
            self.bus.subscribe(Topic.GW_STATS, GATEWAY_STATS_GROUP, self._on_gateway_stats, 1)
            if self.radio is not None:
                await self.radio.start_bus()
            else:
                await self.bus.start()

            if self.settings.admin_api_key is None:
                self.first_admin_key = await ensure_first_admin_key(
                    self.storage, Path(self.settings.data_dir)
                )
            await self.api.start()
            adopt_third_party_loggers()
            if self.gateway_bridge is not None:
                await self.gateway_bridge.start()
                udp_host, udp_port = self.gateway_bridge.address
            else:
                assert self.radio is not None
                udp_host, udp_port = await self.radio.wait_ready()
                self._watch_radio = asyncio.create_task(self._radio_watch(), name="radio-watch")
        except BaseException:
            log.error("platform.start_failed", exc_info=True)
            await self._shutdown()
            raise
        http_port = self.api.bound_port or s.api.port
        self.endpoints = Endpoints(udp_host, udp_port, s.api.host, http_port)
        freeze_startup_heap()
        self._state = "running"
        log.info(
            "platform.started udp=%s:%d http=%s:%d net_id=%s region=%s data_dir=%s mqtt=%s "
            "processes=%d startup_ms=%.0f",
            udp_host,
            udp_port,
            s.api.host,
            http_port,
            self.settings.net_id,
            self.settings.region,
            self.settings.data_dir,
            f"{self.settings.mqtt_host}:{self.settings.mqtt_port}"
            if self.settings.mqtt_enabled
            else "off",
            self.settings.processes,
            (time.perf_counter() - started) * 1000,
        )

    async def stop(self) -> None:
        if self._state in ("stopping", "stopped", "new"):
            if self._state == "new":
                self._state = "stopped"
                self._stopped.set()
            else:
                await self._stopped.wait()
            return
        self._state = "stopping"
        await self._shutdown()

    async def _shutdown(self) -> None:
        self._state = "stopping"
        started = time.perf_counter()
        # 1. inputs: no new datagrams (what was acknowledged goes onto the bus), no new requests
        if self.gateway_bridge is not None:
            await _step("gateway_bridge", self.gateway_bridge.stop())
        if self._watch_radio is not None:
            self._watch_radio.cancel()
        if self.radio is not None:
            # the radio process stops as this one would (UDP, network server, its bus), and
            # what it sent is read before this bus drains
            await _step("radio", self.radio.stop())
        if self.api is not None:
            await _step("api", self.api.stop())
        # 2. the network server: every gw.up record handed over, then its open windows closed
        if self.network_server is not None and self.bus is not None:
            await _step("network_server", self._quiesce_network_server())
        # 3. the bus: every queued record handled, including what handlers publish meanwhile
        dropped = 0
        if self.bus is not None:
            await _step("bus", self.bus.stop())
            dropped = getattr(self.bus, "dropped_on_stop", 0)
        # 4. what sits behind the bus: integrations flushed, storage closed
        if self.app_handler is not None:
            await _step("app_handler", self.app_handler.stop())
        if self.join_server is not None:
            await _step("join_server", self.join_server.stop())
        if self.drcc is not None:
            await _step("drcc", self.drcc.stop())
        if self.migration is not None:
            await _step("migration", self.migration.stop())
        if self.ledger_writer is not None:
            await _step("ledger_writer", self.ledger_writer.stop())
        if self.ledger is not None:
            await _step("ledger", self.ledger.stop())
        if self.storage is not None:
            await _step("storage", self.storage.close())
        self._state = "stopped"
        self._stopped.set()
        log.info(
            "platform.stopped dropped=%d shutdown_ms=%.0f",
            dropped,
            (time.perf_counter() - started) * 1000,
        )

    async def _quiesce_network_server(self) -> None:
        assert self.network_server is not None and self.bus is not None
        group = self.network_server.settings.consumer_group
        if isinstance(self.bus, MemoryBus):
            deadline = time.monotonic() + self.service_settings.bus.drain_timeout_s
            while self.bus.queue_depth(Topic.GW_UP, group) and time.monotonic() < deadline:
                await asyncio.sleep(DRAIN_POLL_S)
            await asyncio.sleep(0)  # let the handler of the last record run
        await self.network_server.stop()

    async def _radio_watch(self) -> None:
        """The radio process must not die under a running platform. If it does, a new one is
        started on the same UDP address (``radio_max_restarts`` within a minute; datagrams
        sent meanwhile are lost, as UDP loses them, and records for the radio side are
        counted as dropped). Beyond that, or if the restart fails, this process stops too
        (an exit a supervisor sees), rather than serve without UDP."""
        assert self.radio is not None
        recent: list[float] = []
        while True:
            code = await self.radio.wait_exit()
            if self._state != "running":
                return
            now = time.monotonic()
            recent = [t for t in recent if now - t < RADIO_RESTART_WINDOW_S]
            if len(recent) < self.settings.radio_max_restarts:
                recent.append(now)
                log.error("platform.radio_process_died exit_code=%s restarting", code)
                try:
                    host, port = await self.radio.respawn()
                except Exception:
                    log.error("platform.radio_restart_failed", exc_info=True)
                else:
                    log.info(
                        "platform.radio_process_restarted pid=%s udp=%s:%d restarts=%d",
                        self.radio.pid, host, port, self.radio.restarts,
                    )  # fmt: skip
                    continue
            else:
                log.error(
                    "platform.radio_process_died exit_code=%s restarts_in_last_minute=%d "
                    "stopping", code, len(recent),
                )  # fmt: skip
            self.failed = True
            if self._run_stop is not None:
                self._run_stop.set()
            else:
                self._stopping = asyncio.ensure_future(self.stop())
            return

    async def run(
        self, stop: asyncio.Event | None = None, *, install_signal_handlers: bool = True
    ) -> None:
        """Start, serve until ``stop`` is set or SIGINT/SIGTERM arrives, then stop."""
        stop = stop or asyncio.Event()
        self._run_stop = stop
        with signals_set(stop, install_signal_handlers, on_signal=_on_signal):
            try:
                await self.start()
                await stop.wait()
            finally:
                await self.stop()

    async def __aenter__(self) -> EmbeddedPlatform:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ ledger
    def _make_ledger_writer(self, ledger: Ledger) -> LedgerWriter:
        """The ledger writer; with two or more zones configured (HYPERLORA_MIGRATION_ZONES),
        the migration service routes application records from busy zones to idle ones."""
        s = self.service_settings
        m = MigrationSettings(data_dir=s.ledger.data_dir)
        if not (m.enabled and len(m.zones) >= 2):
            return make_writer(ledger, self.bus, s.ledger)
        routing = RoutingTable()
        stats = WriterStatsSource(None, routing, m.zones, m.params(), ledger)
        writer = make_writer(
            ledger, self.bus, s.ledger, route=routing.route, on_commit=stats.on_commit
        )
        stats.writer = writer
        self.migration = MigrationService(m, stats, routing)
        return writer

    # ------------------------------------------------------------------ gateway status

    async def _on_gateway_stats(self, env: Envelope[BaseMessage]) -> None:
        """gw.stats -> the gateway's last_seen_at and last_stats (creates unclaimed ones)."""
        msg = env.message
        if not isinstance(msg, GatewayStats) or self.storage is None:
            return
        try:
            await self.storage.gateways.record_seen(
                EUI64.from_hex(msg.gw_eui),
                seen_at=msg.received_at,
                stats=msg.model_dump(mode="json", exclude={"schema_version"}),
            )
        except (StorageError, LoRaWANError) as exc:
            log.warning("platform.gateway_stats_failed gw_eui=%s error=%s", msg.gw_eui, exc)


def _on_signal(sig: signal.Signals) -> None:
    log.info("platform.signal signal=%s", sig.name)


async def _step(name: str, aw: Any) -> None:
    """Run one shutdown step; a failure is logged and the shutdown goes on."""
    started = time.perf_counter()
    try:
        await aw
    except Exception:
        log.error("platform.stop_failed component=%s", name, exc_info=True)
        return
    log.info(
        "platform.component_stopped component=%s ms=%.0f",
        name,
        (time.perf_counter() - started) * 1000,
    )


def _redacted(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
