"""``hyperlora testbed up|down|status``: the native distributed testbed (deploy/testbed/).

A thin front for deploy/testbed/testbed.sh: Kafka, PostgreSQL and Mosquitto, then every service
as its own process (two network-server instances). Ports and the state directory come from
the environment the script documents (UDP_PORT, API_PORT, KAFKA_PORT, PG_PORT, MQTT_PORT,
HYPERLORA_STATE_DIR, ...); the script's exit status becomes this command's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import typer

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "testbed" / "testbed.sh"

app = typer.Typer(
    name="testbed",
    help="The native distributed testbed: engines and every service as processes.",
    no_args_is_help=True,
)


def _run(*args: str) -> None:
    if not SCRIPT.is_file():
        typer.echo(f"error: {SCRIPT} not found (the testbed needs a source checkout)", err=True)
        raise typer.Exit(2)
    env = dict(os.environ)
    env.setdefault("HYPERLORA_PYTHON", sys.executable)
    proc = subprocess.run(["bash", str(SCRIPT), *args], env=env, check=False)
    if proc.returncode != 0:
        raise typer.Exit(proc.returncode)


@app.command()
def up() -> None:
    """Start Kafka, PostgreSQL, Mosquitto, migrate, start every service; print the endpoints."""
    _run("up")


@app.command()
def down() -> None:
    """Stop every service (reverse start order), then the engines."""
    _run("down")


@app.command()
def status() -> None:
    """Each process alive/dead with its ports; exit status 3 when something is not running."""
    _run("status")
