"""End-to-end (live mode): the simulator drives the embedded HyperLoRa over real Semtech UDP.

The platform runs in this process on free ports in tmp_path with an admin key; the simulator
provisions itself through the REST API (tenant, application, device profile, gateways,
devices with their root keys), its gateways connect as packet forwarders, the devices join
over the air and send real LoRaWAN frames at 20 times real time. Every uplink the simulator
counts as delivered (at least one simulated gateway received it and forwarded it over UDP)
must be one the application received: the per-device totals of
GET /api/devices/{dev_eui}/uplinks equal the simulator's counts.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
import yaml  # type: ignore[import-untyped]
from pydantic import SecretStr
from typer.testing import CliRunner

from services.cli.simulate import simulate
from services.platform import EmbeddedPlatform, PlatformSettings
from simulator.live import ApiTarget, LiveOptions, run_live
from simulator.scenario import Scenario

pytestmark = pytest.mark.e2e

ADMIN_KEY = "e2e-live-admin-key-0123456789abcdef"


def _scenario(devices: int, gateways: int, duration_s: float, **extra: Any) -> dict[str, Any]:
    """A small dense cell: devices within 150 m of the gateways (SF7/SF8), no duty-cycle limit
    so the joins' downlinks are not refused by the gateways, one uplink a minute."""
    return {
        "name": "live-e2e",
        "duration_s": duration_s,
        "seed": 21,
        "area": {"radius_m": 150},
        "devices": {
            "count": devices,
            "sf_assignment": "min_airtime",
            "otaa": True,
            "join_spread_s": 60,
            "traffic": {"period_s": 60, "jitter_s": 5, "payload_bytes": 10},
        },
        "gateways": {"count": gateways, "placement": "random"},
        "duty_cycle": False,
        **extra,
    }


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[EmbeddedPlatform]:
    p = EmbeddedPlatform(
        PlatformSettings(
            data_dir=tmp_path / "data",
            udp_port=0,
            http_port=0,
            admin_api_key=SecretStr(ADMIN_KEY),
            mqtt_enabled=False,
            log_level="WARNING",
        )
    )
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


async def _totals(api_url: str, dev_euis: list[str]) -> dict[str, int]:
    out = {}
    async with httpx.AsyncClient(
        base_url=api_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10
    ) as c:
        for eui in dev_euis:
            r = await c.get(f"/api/devices/{eui}/uplinks", params={"limit": 1})
            assert r.status_code == 200, r.text
            out[eui] = int(r.json()["total"])
    return out


async def _settled(api_url: str, want: dict[str, int], timeout: float = 15.0) -> dict[str, int]:
    """The application's per-device totals once they stop changing (or reach ``want``)."""
    deadline = time.monotonic() + timeout
    got = await _totals(api_url, list(want))
    while got != want and time.monotonic() < deadline:
        await asyncio.sleep(0.3)
        got = await _totals(api_url, list(want))
    return got


async def test_fifty_devices_join_and_every_delivered_uplink_reaches_the_application(
    platform: EmbeddedPlatform,
) -> None:
    ep = platform.endpoints
    assert ep is not None
    sc = Scenario.model_validate(_scenario(devices=50, gateways=2, duration_s=600))
    t0 = time.monotonic()
    res = await asyncio.to_thread(
        run_live,
        sc,
        (ep.udp_host, ep.udp_port),
        LiveOptions(speed=20.0),
        ApiTarget(ep.api_url, ADMIN_KEY),
    )
    wall = time.monotonic() - t0
    st = res.live
    assert res.provisioned is not None
    assert res.provisioned.devices_created == 50 and res.provisioned.gateways_created == 2
    assert st.joined == 50, st.to_dict()
    assert st.join_accepts_received == 50
    assert st.uplinks_forwarded >= 300  # about 9 frames per device, a few lost on the air
    assert st.rxpk_forwarded > st.uplinks_forwarded  # two gateways hear many frames
    for g in res.gateways.values():
        assert g["push_acks"] == g["push_data"] and g["pull_acks"] != 0
        assert g["malformed"] == 0 and g["unexpected"] == 0
    assert st.downlinks_wrong_params == 0

    want = {eui: st.forwarded_per_device.get(eui, 0) for eui in res.dev_euis}
    got = await _settled(ep.api_url, want)
    assert sum(got.values()) == st.uplinks_forwarded
    assert got == want
    assert wall < 90, f"live run took {wall:.1f} s"


async def test_cli_live_mode_provisions_joins_and_reports(
    platform: EmbeddedPlatform, tmp_path: Path
) -> None:
    ep = platform.endpoints
    assert ep is not None
    path = tmp_path / "cell.yaml"
    path.write_text(yaml.safe_dump(_scenario(devices=6, gateways=1, duration_s=120)))
    app = typer.Typer()
    app.command()(simulate)
    args = [
        str(path),
        "--live",
        f"{ep.udp_host}:{ep.udp_port}",
        "--api-url",
        ep.api_url,
        "--api-key",
        ADMIN_KEY,
        "--speed",
        "20",
        "--json",
    ]
    result = await asyncio.to_thread(CliRunner().invoke, app, args)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout[result.stdout.index("{") :])
    live = body["live"]
    assert live["joined"] == 6 and live["provisioned"]["devices_created"] == 6
    want = {k.upper(): v for k, v in live["forwarded_per_device"].items()}
    got = await _settled(ep.api_url, {eui: want.get(eui, 0) for eui in want})
    assert sum(got.values()) == live["uplinks_forwarded"] > 0

    # the same command again, with a key of the simulator's tenant: provisioning finds
    # everything in that tenant, and the devices join again (fresh DevNonces)
    async with httpx.AsyncClient(
        base_url=ep.api_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10
    ) as c:
        r = await c.post(
            "/api/api-keys",
            json={"name": "sim", "tenant_id": live["provisioned"]["tenant_id"]},
        )
        assert r.status_code == 201, r.text
        tenant_key = r.json()["secret"]
    args[args.index(ADMIN_KEY)] = tenant_key
    again = await asyncio.to_thread(CliRunner().invoke, app, args)
    assert again.exit_code == 0, again.output
    body2 = json.loads(again.stdout[again.stdout.index("{") :])
    assert body2["live"]["provisioned"]["devices_created"] == 0
    assert body2["live"]["provisioned"]["devices_updated"] == 6
    assert body2["live"]["provisioned"]["tenant_id"] == live["provisioned"]["tenant_id"]
    assert body2["live"]["provisioned"]["application_id"] == live["provisioned"]["application_id"]
    assert body2["live"]["joined"] == 6


def test_cli_live_mode_without_a_server_fails_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "cell.yaml"
    path.write_text(yaml.safe_dump(_scenario(devices=2, gateways=1, duration_s=60)))
    app = typer.Typer()
    app.command()(simulate)
    result = CliRunner().invoke(app, [str(path), "--live", "127.0.0.1:9", "--speed", "50"])
    assert result.exit_code == 1
    assert "no PULL_ACK" in result.output
