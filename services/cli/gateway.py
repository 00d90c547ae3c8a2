"""``hyperlora gateway-bridge``: run the Semtech UDP gateway bridge."""

from __future__ import annotations

import logging

import typer

from services import eventloop


def gateway_bridge(
    host: str = typer.Option("127.0.0.1", "--host", help="address to bind (0.0.0.0: all)"),
    port: int = typer.Option(1700, "--port", help="UDP port of the packet forwarders"),
    refuse_unknown: bool = typer.Option(
        False, "--refuse-unknown", help="drop datagrams of gateways that are not registered"
    ),
    metrics_port: int | None = typer.Option(None, "--metrics-port", help="Prometheus port"),
    zone: str | None = typer.Option(None, "--zone", help="zone stamped on uplinks and stats"),
) -> None:
    """Serve Semtech UDP (PUSH_DATA/PULL_DATA/TX_ACK) until Ctrl-C; bus from HYPERLORA_BUS_*."""
    from services.gateway_bridge.app import run
    from services.gateway_bridge.settings import GatewayBridgeSettings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = GatewayBridgeSettings(
        bind_host=host,
        bind_port=port,
        allow_unknown_gateways=not refuse_unknown,
        metrics_port=metrics_port,
        zone=zone,
    )
    eventloop.run(run(settings))
