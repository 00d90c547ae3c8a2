"""The embedded platform as an operator meets it: ``hyperlora run`` in a subprocess (banner,
first-start admin key, SIGINT/SIGTERM), the generated admin key file, a configured key."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from services.platform import ADMIN_KEY_FILE, EmbeddedPlatform, PlatformSettings
from tests.e2e.support import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def _start_cli(data_dir: Path, http_port: int, udp_port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYPERLORA_")}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.cli.run",
            "--data-dir",
            str(data_dir),
            "--udp-port",
            str(udp_port),
            "--http-port",
            str(http_port),
            "--no-mqtt",
            "--log-json",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_health(port: int, proc: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"hyperlora run exited: {proc.stderr.read() if proc.stderr else ''}"
            )
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("hyperlora run did not answer /health")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_run_command_prints_endpoints_and_key_then_stops_on_signal(
    tmp_path: Path, sig: signal.Signals
) -> None:
    data_dir = tmp_path / "data"
    http_port, udp_port = free_port(), free_port()
    proc = _start_cli(data_dir, http_port, udp_port)
    try:
        _wait_health(http_port, proc)
        key_file = data_dir / ADMIN_KEY_FILE
        secret = key_file.read_text().strip()
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        r = httpx.get(
            f"http://127.0.0.1:{http_port}/api/tenants",
            headers={"Authorization": f"Bearer {secret}"},
        )
        assert r.status_code == 200
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-3000:]
    assert f"udp://127.0.0.1:{udp_port}" in out
    assert f"http://127.0.0.1:{http_port}/api" in out
    assert secret in out  # printed once, on the first start
    # one JSON object per log line, and the shutdown went through every component
    import json

    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    events = [x["event"] for x in lines]
    assert "platform.started" in events and events[-1] == "platform.stopped"
    stopped = next(x for x in lines if x["event"] == "platform.stopped")
    assert "dropped=0" in stopped["msg"]

    # a second start: the key exists, nothing is printed
    proc = _start_cli(data_dir, http_port, udp_port)
    try:
        _wait_health(http_port, proc)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert secret not in out and "Admin API key" not in out


async def test_configured_admin_key_is_used_and_none_generated(tmp_path: Path) -> None:
    key = "operator-chosen-admin-key-42"
    settings = PlatformSettings(
        data_dir=tmp_path, udp_port=0, http_port=0, mqtt_enabled=False, admin_api_key=key
    )
    async with EmbeddedPlatform(settings) as platform:
        assert platform.first_admin_key is None
        assert platform.endpoints is not None
        async with httpx.AsyncClient(base_url=platform.endpoints.api_url) as c:
            ok = await c.get("/api/tenants", headers={"Authorization": f"Bearer {key}"})
            assert ok.status_code == 200
            health = await c.get("/health")
            assert health.json()["bus"]["running"] is True
    assert not (tmp_path / ADMIN_KEY_FILE).exists()


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYPERLORA_UDP_PORT", "1701")
    monkeypatch.setenv("HYPERLORA_NET_ID", "00001a")
    monkeypatch.setenv("HYPERLORA_REGION", "us915")
    monkeypatch.setenv("HYPERLORA_MQTT_ENABLED", "false")
    monkeypatch.setenv("HYPERLORA_NS_DEDUP_WINDOW_MS", "150")
    p = EmbeddedPlatform(PlatformSettings())
    s = p.service_settings
    assert s.gateway_bridge.bind_port == 1701
    assert s.network_server.net_id == "00001A" and s.join_server.net_id == "00001A"
    assert s.network_server.region == "US915"
    assert s.network_server.dedup_window_ms == 150  # the service's own settings still apply
    assert s.app_handler.mqtt.enabled is False
    assert s.bus.backend == "memory"
    with pytest.raises(ValueError):
        PlatformSettings(net_id="xyz")
    with pytest.raises(ValueError):
        PlatformSettings(admin_api_key="short")


async def test_migration_runs_when_two_zones_are_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One zone (the default): no migration service. Two zones: the migration service runs
    beside the ledger writer and routes through its routing table."""
    settings = PlatformSettings(data_dir=tmp_path, udp_port=0, http_port=0, mqtt_enabled=False)
    async with EmbeddedPlatform(settings) as platform:
        assert platform.ledger_writer is not None and platform.migration is None
    monkeypatch.setenv("HYPERLORA_MIGRATION_ZONES", '["zone-a", "zone-b"]')
    monkeypatch.setenv("HYPERLORA_MIGRATION_POLICY", "predictive")
    async with EmbeddedPlatform(settings) as platform:
        assert platform.migration is not None
        assert platform.ledger_writer is not None
        assert platform.ledger_writer.route.__self__ is platform.migration.routing  # type: ignore[attr-defined]
