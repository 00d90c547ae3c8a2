"""Real engines for the integration tier, started through the deploy/ scripts a user runs.

Each engine is a session fixture: started once on free (non-default) ports in a scratch state
dir, waited for, and stopped at the end of the session, also when tests fail or the start
itself fails half-way. The jar / package caches are shared with the developer's
(``HYPERLORA_CACHE_DIR``), so only the first run downloads anything.

``HYPERLORA_IT_KEEP_STATE=1`` keeps the scratch state dir (logs) after the session.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"

# Cold runs download the Kafka jars (Maven) or the PostgreSQL package (apt).
INSTALL_TIMEOUT_S = 600
START_TIMEOUT_S = 180
STOP_TIMEOUT_S = 90


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel's pick, so never a default one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(n: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < n:
        ports.add(free_port())
    return sorted(ports)


@dataclass(frozen=True)
class EngineScript:
    """One deploy script with the environment of this test session."""

    script: Path
    env: dict[str, str]

    def run(self, *args: str, timeout: float) -> str:
        proc = subprocess.run(
            ["bash", str(self.script), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"{self.script.name} {' '.join(args)} failed ({proc.returncode}):\n"
                f"{proc.stderr[-4000:]}{proc.stdout[-2000:]}"
            )
        return proc.stdout

    def stop(self) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired, RuntimeError):
            self.run("stop", timeout=STOP_TIMEOUT_S)


@pytest.fixture(scope="session")
def engine_state_dir() -> Iterator[Path]:
    """A scratch HYPERLORA_STATE_DIR under /tmp, readable by the postgres server account."""
    path = Path(tempfile.mkdtemp(prefix="hyperlora-it-"))
    path.chmod(0o755)
    yield path
    if os.environ.get("HYPERLORA_IT_KEEP_STATE") != "1":
        shutil.rmtree(path, ignore_errors=True)


def _base_env(state_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["HYPERLORA_STATE_DIR"] = str(state_dir)
    return env


@dataclass(frozen=True)
class KafkaBroker:
    bootstrap_servers: str
    port: int
    controller_port: int
    startup_s: float
    log_file: Path
    script: EngineScript

    def restart(self) -> None:
        """Stop the broker and start it again on the same ports and data (blocking)."""
        self.script.run("stop", timeout=STOP_TIMEOUT_S)
        self.script.run("start", timeout=START_TIMEOUT_S)
        self.script.run("wait", timeout=START_TIMEOUT_S)


@pytest.fixture(scope="session")
def kafka_broker(engine_state_dir: Path) -> Iterator[KafkaBroker]:
    port, controller = free_ports(2)
    env = _base_env(engine_state_dir)
    env.update(KAFKA_PORT=str(port), KAFKA_CONTROLLER_PORT=str(controller))
    script = EngineScript(DEPLOY / "kafka" / "kafka.sh", env)
    try:
        script.run("install", timeout=INSTALL_TIMEOUT_S)
        started = time.monotonic()
        script.run("start", timeout=START_TIMEOUT_S)
        script.run("wait", timeout=START_TIMEOUT_S)
        broker = KafkaBroker(
            bootstrap_servers=f"127.0.0.1:{port}",
            port=port,
            controller_port=controller,
            startup_s=time.monotonic() - started,
            log_file=engine_state_dir / "kafka" / "kafka.log",
            script=script,
        )
        yield broker
    finally:
        script.stop()


@dataclass(frozen=True)
class PostgresServer:
    url: str  # postgresql+asyncpg://hyperlora:...@127.0.0.1:<port>/hyperlora
    port: int
    startup_s: float


@pytest.fixture(scope="session")
def postgres_server(engine_state_dir: Path) -> Iterator[PostgresServer]:
    port = free_port()
    env = _base_env(engine_state_dir)
    env["PG_PORT"] = str(port)
    script = EngineScript(DEPLOY / "postgres" / "postgres.sh", env)
    try:
        started = time.monotonic()
        script.run("install", timeout=INSTALL_TIMEOUT_S)
        script.run("start", timeout=START_TIMEOUT_S)
        url = script.run("url", timeout=30).strip()
        yield PostgresServer(url=url, port=port, startup_s=time.monotonic() - started)
    finally:
        script.stop()


@dataclass(frozen=True)
class MqttBroker:
    host: str
    port: int


@pytest.fixture(scope="session")
def mqtt_broker(engine_state_dir: Path) -> Iterator[MqttBroker]:
    """Mosquitto (deploy/mosquitto/mosquitto.sh) on a free port, anonymous, 127.0.0.1."""
    port = free_port()
    env = _base_env(engine_state_dir)
    env["MQTT_PORT"] = str(port)
    script = EngineScript(DEPLOY / "mosquitto" / "mosquitto.sh", env)
    try:
        script.run("install", timeout=INSTALL_TIMEOUT_S)
        script.run("start", timeout=START_TIMEOUT_S)
        yield MqttBroker(host="127.0.0.1", port=port)
    finally:
        script.stop()
