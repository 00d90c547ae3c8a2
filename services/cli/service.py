"""``hyperlora service NAME``: one HyperLoRa service in the foreground (distributed mode).

Every setting comes from the environment: the service's own settings class
(``HYPERLORA_GATEWAY_BRIDGE_*``, ``HYPERLORA_NS_*``, ``HYPERLORA_JS_*``, ``HYPERLORA_APP_*``,
``HYPERLORA_API_*``, ``HYPERLORA_LEDGER_*``, ``HYPERLORA_DRCC_*``) plus the shared
``HYPERLORA_BUS_*`` (``HYPERLORA_BUS_BACKEND=kafka``,
``HYPERLORA_BUS_KAFKA__BOOTSTRAP_SERVERS=host:9092``) and ``HYPERLORA_STORAGE_*``
(``HYPERLORA_STORAGE_URL=postgresql+asyncpg://...``). Each service runs through its own
package's run function; SIGINT / SIGTERM stop it cleanly (in-flight records finish and their
offsets are committed, the consumer leaves its group so the partitions move at once).

Several instances of one service with the same consumer group (the default) share the
topics' partitions, and the survivors take over a dead instance's partitions (Kafka group
semantics) — run two ``hyperlora service network_server`` for a redundant network server.

``--metrics-port`` (or ``HYPERLORA_SERVICE_METRICS_PORT``) serves Prometheus ``/metrics`` on
127.0.0.1 for the process (the API serves its own on its HTTP port).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from services import eventloop
from services.lifecycle import signals_set

log = logging.getLogger("hyperlora.service")
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

GATEWAY_STATS_GROUP = "api"  # gw.stats consumer of the API process (topics.py: "api")


class ServiceName(StrEnum):
    gateway_bridge = "gateway_bridge"
    network_server = "network_server"
    join_server = "join_server"
    app_handler = "app_handler"
    api = "api"
    ledger_writer = "ledger_writer"
    drcc = "drcc"


Runner = Callable[[asyncio.Event], Awaitable[None]]


# ---------------------------------------------------------------------------- runners
# Each runner builds its settings from the environment (validation errors surface before any
# connection is made) and serves until ``stop`` is set. Signals are owned by ``_main``.


async def _gateway_bridge(stop: asyncio.Event) -> None:
    from services.bus.settings import BusSettings
    from services.gateway_bridge.app import run
    from services.gateway_bridge.settings import GatewayBridgeSettings

    await run(GatewayBridgeSettings(), BusSettings(), stop=stop, install_signal_handlers=False)


async def _network_server(stop: asyncio.Event) -> None:
    from services.bus.settings import BusSettings
    from services.network_server.app import run
    from services.network_server.settings import NetworkServerSettings
    from services.storage import StorageSettings

    await run(
        NetworkServerSettings(),
        BusSettings(),
        StorageSettings(),
        stop=stop,
        install_signal_handlers=False,
    )


async def _join_server(stop: asyncio.Event) -> None:
    from services.bus.settings import BusSettings
    from services.join_server.app import run
    from services.join_server.settings import JoinServerSettings
    from services.storage import StorageSettings

    await run(
        JoinServerSettings(),
        BusSettings(),
        StorageSettings(),
        stop=stop,
        install_signal_handlers=False,
    )


async def _app_handler(stop: asyncio.Event) -> None:
    # services/app_handler/app.py's run() with one difference: the events the handler emits
    # (MQTT, webhooks) also go on as.event, for the API process's GET /api/events.
    from services.api.bus_events import BusEventSink
    from services.app_handler.service import AppHandlerService
    from services.app_handler.settings import AppHandlerSettings
    from services.bus.settings import BusSettings
    from services.process import run_bus_service
    from services.storage import StorageSettings

    settings = AppHandlerSettings()
    await run_bus_service(
        "app_handler",
        lambda bus, storage: AppHandlerService(settings, bus, storage, event_hub=BusEventSink(bus)),
        bus_settings=BusSettings(),
        storage_settings=StorageSettings(),
        stop=stop,
        install_signal_handlers=False,
        metrics_port=settings.metrics_port,
        drain_bus_first=True,  # the bus drains first, then integrations flush
    )


async def _drcc(stop: asyncio.Event) -> None:
    from services.bus.settings import BusSettings
    from services.drcc.app import run
    from services.drcc.settings import DrccSettings
    from services.storage import StorageSettings

    await run(
        DrccSettings(),
        BusSettings(),
        StorageSettings(),
        stop=stop,
        install_signal_handlers=False,
    )


async def _ledger_writer(stop: asyncio.Event) -> None:
    # services/ledger/__main__.py's serve() owns its signals and has no stop event: the same
    # wiring here (subscribe before the bus starts; stop bus, writer, ledger in that order).
    from pathlib import Path

    from services.bus import make_bus
    from services.bus.settings import BusSettings
    from services.ledger.factory import make_ledger, make_writer
    from services.ledger.settings import LedgerSettings

    settings = LedgerSettings()
    if settings.backend == "embedded":
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    bus = make_bus(BusSettings())
    ledger = make_ledger(settings)
    writer = make_writer(ledger, bus, settings)
    await ledger.start()
    try:
        await writer.start()
        await bus.start()
        log.info("ledger_writer.started backend=%s", settings.backend)
        await stop.wait()
    finally:
        await bus.stop()
        await writer.stop()
        await ledger.stop()


async def _api(stop: asyncio.Event) -> None:
    # services/api/__main__.py's serve() starts the bus before anything subscribes; here the
    # API process also records gateway status reports (gw.stats, consumer "api" in topics.py),
    # as the embedded platform does, so GET /api/gateways shows last_seen_at.
    from services.api.bus_events import event_relay
    from services.api.service import ApiService
    from services.api.settings import ApiSettings
    from services.bus import Topic, make_bus
    from services.bus.settings import BusSettings
    from services.storage import StorageSettings, open_storage

    settings = ApiSettings()
    storage = await open_storage(StorageSettings())
    try:
        bus = make_bus(BusSettings())
        service = ApiService(settings, bus, storage)
        bus.subscribe(Topic.GW_STATS, GATEWAY_STATS_GROUP, _gateway_stats_recorder(storage), 1)
        # GET /api/events: the app handler's events arrive on as.event (every API instance
        # reads all of them: its own consumer group)
        bus.subscribe(
            Topic.AS_EVENT,
            settings.events_group or f"api-events-{socket.gethostname()}",
            event_relay(service.event_hub, max_age_s=settings.events_max_age_s),
            1,
        )
        await bus.start()
        try:
            await service.start()
            try:
                await stop.wait()
            finally:
                await service.stop()
        finally:
            await bus.stop()
    finally:
        await storage.close()


def _gateway_stats_recorder(storage: object) -> Callable[..., Awaitable[None]]:
    from services.bus.messages import GatewayStats
    from services.lorawan.errors import LoRaWANError
    from services.lorawan.types import EUI64
    from services.storage import Storage, StorageError

    assert isinstance(storage, Storage)

    async def record(env: object) -> None:
        msg = getattr(env, "message", None)
        if not isinstance(msg, GatewayStats):
            return
        try:
            await storage.gateways.record_seen(
                EUI64.from_hex(msg.gw_eui),
                seen_at=msg.received_at,
                stats=msg.model_dump(mode="json", exclude={"schema_version"}),
            )
        except (StorageError, LoRaWANError) as exc:
            log.warning("api.gateway_stats_failed gw_eui=%s error=%s", msg.gw_eui, exc)

    return record


RUNNERS: dict[ServiceName, Runner] = {
    ServiceName.gateway_bridge: _gateway_bridge,
    ServiceName.network_server: _network_server,
    ServiceName.join_server: _join_server,
    ServiceName.app_handler: _app_handler,
    ServiceName.api: _api,
    ServiceName.ledger_writer: _ledger_writer,
    ServiceName.drcc: _drcc,
}


async def _main(name: ServiceName, metrics_port: int | None) -> None:
    stop = asyncio.Event()

    def on_signal(sig: signal.Signals) -> None:
        log.info("service.signal service=%s signal=%s", name.value, sig.name)

    with signals_set(stop, on_signal=on_signal):
        if metrics_port is not None:
            from prometheus_client import start_http_server

            start_http_server(metrics_port, addr="127.0.0.1")
        log.info("service.starting service=%s metrics_port=%s", name.value, metrics_port)
        await RUNNERS[name](stop)
    log.info("service.stopped service=%s", name.value)


def _configure_logging(level: str, json_lines: bool) -> None:
    """The platform's one-line log format. services/platform/__init__.py imports the whole
    embedded platform (the API, every service); one service loads only its logs module."""
    import importlib.util
    from pathlib import Path

    import services

    path = Path(services.__file__).resolve().parent / "platform" / "logs.py"
    spec = importlib.util.spec_from_file_location("hyperlora_platform_logs", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.configure_logging(level, json_lines)


def service(
    name: Annotated[ServiceName, typer.Argument(help="the service to run", case_sensitive=False)],
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            envvar="HYPERLORA_SERVICE_METRICS_PORT",
            help="Prometheus /metrics on 127.0.0.1:PORT",
        ),
    ] = None,
    log_level: Annotated[
        str, typer.Option("--log-level", envvar="HYPERLORA_LOG_LEVEL", help="DEBUG..ERROR")
    ] = "INFO",
    log_json: Annotated[
        bool,
        typer.Option("--log-json/--log-text", envvar="HYPERLORA_LOG_JSON", help="log format"),
    ] = False,
) -> None:
    """Run ONE service in the foreground, settings from the environment (distributed mode)."""
    _configure_logging(log_level.upper(), log_json)
    # Lifecycle records stay visible at any level: the testbed's readiness check reads
    # "bus.kafka.assigned" (partition assignments) from the log.
    for name_ in ("hyperlora.service", "hyperlora.bus.kafka"):
        lg = logging.getLogger(name_)
        if lg.getEffectiveLevel() > logging.INFO:
            lg.setLevel(logging.INFO)
    try:
        eventloop.run(_main(name, metrics_port))
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            err_console.print(f"[red]error:[/red] {name.value}: {where}: {err['msg']}")
        raise typer.Exit(2) from exc
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except OSError as exc:  # port in use, broker/database unreachable at start
        err_console.print(f"[red]error:[/red] {name.value}: {exc}")
        raise typer.Exit(1) from exc
    except eventloop.EventLoopUnavailable as exc:
        err_console.print(f"[red]error:[/red] {name.value}: {exc}")
        raise typer.Exit(2) from exc


if __name__ == "__main__":  # python -m services.cli.service NAME (without the console script)
    typer.run(service)
