"""``hyperlora run``: the whole network server in this process, until Ctrl-C / SIGTERM.

Options override the environment (HYPERLORA_DATA_DIR, HYPERLORA_UDP_PORT, ...; see
services/platform/settings.py); what is not given comes from the environment or the defaults.
On the first start (no admin API key configured and none in the database) an admin key is
generated and printed once; it is also written to <data dir>/admin-api-key (mode 0600).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from services import eventloop
from services.platform import EmbeddedPlatform, PlatformSettings, configure_logging

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def run(
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="database and state [./var/data]")
    ] = None,
    host: Annotated[
        str | None,
        typer.Option("--host", help="bind address of both UDP and HTTP (0.0.0.0: all hosts)"),
    ] = None,
    udp_host: Annotated[str | None, typer.Option("--udp-host", help="UDP bind address")] = None,
    udp_port: Annotated[
        int | None, typer.Option("--udp-port", help="Semtech UDP port [1700]")
    ] = None,
    http_host: Annotated[str | None, typer.Option("--http-host", help="HTTP bind address")] = None,
    http_port: Annotated[
        int | None, typer.Option("--http-port", help="REST API port [8080]")
    ] = None,
    net_id: Annotated[str | None, typer.Option("--net-id", help="NetID, 6 hex digits")] = None,
    region: Annotated[str | None, typer.Option("--region", help="EU868, US915, ...")] = None,
    mqtt: Annotated[
        bool | None, typer.Option("--mqtt/--no-mqtt", help="MQTT integration on/off")
    ] = None,
    mqtt_host: Annotated[str | None, typer.Option("--mqtt-host", help="MQTT broker host")] = None,
    mqtt_port: Annotated[int | None, typer.Option("--mqtt-port", help="MQTT broker port")] = None,
    log_level: Annotated[
        str | None, typer.Option("--log-level", help="DEBUG, INFO, WARNING, ERROR")
    ] = None,
    log_json: Annotated[
        bool | None, typer.Option("--log-json/--log-text", help="JSON lines or text lines")
    ] = None,
    processes: Annotated[
        int | None,
        typer.Option(
            "--processes",
            help="1: everything in this process [1]; 2: the gateway bridge, network and join "
            "servers in a second process, so two cores share the work",
        ),
    ] = None,
) -> None:
    """Run the network server (gateway bridge, network, join and application servers, API)."""
    given: dict[str, Any] = {
        "data_dir": data_dir,
        "udp_host": udp_host or host,
        "udp_port": udp_port,
        "http_host": http_host or host,
        "http_port": http_port,
        "net_id": net_id,
        "region": region,
        "mqtt_enabled": mqtt,
        "mqtt_host": mqtt_host,
        "mqtt_port": mqtt_port,
        "log_level": log_level,
        "log_json": log_json,
        "processes": processes,
    }
    try:
        settings = PlatformSettings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            err_console.print(f"[red]error:[/red] {where}: {err['msg']}")
        raise typer.Exit(2) from exc
    configure_logging(
        settings.log_level,
        settings.log_json,
        process="main" if settings.processes > 1 else None,
    )
    try:
        failed = eventloop.run(_serve(settings))
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        raise typer.Exit(130) from None
    except OSError as exc:  # port in use, data dir not writable, ...
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    except eventloop.EventLoopUnavailable as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    if failed:
        err_console.print("[red]error:[/red] the radio process died; stopped (see the log)")
        raise typer.Exit(1)


async def _serve(settings: PlatformSettings) -> bool:
    """Serve until stopped; True if the platform stopped because a process of it died."""

    platform = EmbeddedPlatform(settings)
    stop = asyncio.Event()

    async def announce() -> None:
        while not platform.running:
            await asyncio.sleep(0.05)
        _print_banner(platform)

    banner = asyncio.create_task(announce())
    try:
        await platform.run(stop)
    finally:
        banner.cancel()
    return platform.failed


def _print_banner(platform: EmbeddedPlatform) -> None:
    ep = platform.endpoints
    assert ep is not None
    s = platform.settings
    lines = [
        "HyperLoRa is running (Ctrl-C to stop)",
        f"  packet forwarders  udp://{ep.udp_host}:{ep.udp_port}  (Semtech UDP)",
        f"  REST API           {ep.api_url}/api   docs: {ep.api_url}/api/docs",
        f"  health / metrics   {ep.api_url}/health   {ep.api_url}/metrics",
        f"  NetID {s.net_id}, region {s.region}, data in {s.data_dir}"
        + (f", radio side in process {platform.radio.pid}" if platform.radio is not None else ""),
        "  MQTT               "
        + (
            f"{s.mqtt_host}:{s.mqtt_port} (application/<id>/device/<dev_eui>/event/up)"
            if s.mqtt_enabled
            else "off"
        ),
    ]
    first = platform.first_admin_key
    if first is not None:
        lines += [
            "",
            "  Admin API key (shown once; only its hash is stored):",
            f"    {first.secret}",
        ]
        if first.path is not None:
            lines.append(f"  also written to {first.path} (mode 0600): store it, then delete it")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":  # python -m services.cli.run (before `hyperlora run` is registered)
    typer.run(run)
