"""``hyperlora service NAME`` (services/cli/service.py) and ``hyperlora testbed``
(services/cli/testbed.py) without engines: argument and settings errors, the topology table.
The services running for real on Kafka and PostgreSQL are in test_distributed_testbed.py."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import testbed as testbed_cli

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def run_service(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli.service", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )


def test_unknown_service_is_refused() -> None:
    proc = run_service("billing")
    assert proc.returncode == 2
    assert "network_server" in proc.stderr  # the choices are listed


@pytest.mark.parametrize(
    ("name", "env"),
    [
        ("network_server", {"HYPERLORA_NS_DEDUP_WINDOW_MS": "-1"}),
        ("api", {"HYPERLORA_API_ADMIN_API_KEY": "short"}),
        ("gateway_bridge", {"HYPERLORA_BUS_BACKEND": "rabbitmq"}),
    ],
)
def test_invalid_settings_exit_2_before_connecting(name: str, env: dict[str, str]) -> None:
    proc = run_service(name, **env)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"error: {name}:" in proc.stderr


def test_a_service_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    """The join server on the in-process bus and SQLite: SIGTERM -> exit 0, 'service.stopped'."""
    env = {
        **os.environ,
        "HYPERLORA_STORAGE_DATA_DIR": str(tmp_path),
        "HYPERLORA_BUS_BACKEND": "memory",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli.service", "join_server"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "service.starting" in line:
            break
    time.sleep(2.0)
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, "".join(lines) + out
    assert "service.stopped service=join_server" in out


def test_testbed_cli_reports_the_script_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HYPERLORA_STATE_DIR", str(tmp_path))
    result = CliRunner().invoke(testbed_cli.app, ["status"])
    assert result.exit_code == 3  # nothing runs in an empty state dir
    with pytest.raises(SystemExit):
        testbed_cli.app(["bogus"])
