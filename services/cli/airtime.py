"""``hyperlora airtime``: LoRa time on air in milliseconds."""

from __future__ import annotations

import typer

from services.lorawan.airtime import time_on_air
from services.lorawan.errors import LoRaWANError


def airtime(
    sf: int = typer.Option(..., "--sf", help="spreading factor, 5..12"),
    bw: int = typer.Option(125, "--bw", help="bandwidth in kHz (125, 250, 500)"),
    payload: int = typer.Option(..., "--payload", help="PHY payload length in bytes"),
    cr: int = typer.Option(1, "--cr", help="coding rate index: 1=4/5 .. 4=4/8"),
    preamble: int = typer.Option(8, "--preamble", help="preamble symbols"),
    no_crc: bool = typer.Option(False, "--no-crc", help="no payload CRC (LoRaWAN downlinks)"),
    implicit_header: bool = typer.Option(False, "--implicit-header", help="implicit header mode"),
    ldro: bool | None = typer.Option(
        None, "--ldro/--no-ldro", help="force low-data-rate optimisation on or off (default: auto)"
    ),
) -> None:
    """Print the time on air of one LoRa frame, in milliseconds."""
    try:
        seconds = time_on_air(
            payload,
            sf,
            bw * 1000,
            cr=cr,
            preamble=preamble,
            crc=not no_crc,
            implicit_header=implicit_header,
            low_dr_optimize=ldro,
        )
    except LoRaWANError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"{seconds * 1000:.3f}")
