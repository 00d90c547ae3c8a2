"""The two-process embedded mode (``HYPERLORA_PROCESSES=2`` / ``hyperlora run --processes 2``):
the radio side (gateway bridge, network server, join server) in a child process joined to the
main process by a socket. The same end-to-end behaviour as one process (over real UDP, frames
checked by lora-packet), one /metrics and /health for both processes, nothing accepted lost at
a clean stop, and a dead radio process stops the platform instead of leaving it deaf."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.lorawan.types import EUI64
from services.storage import StorageSettings, open_storage
from tests.e2e import test_embedded_otaa, test_embedded_uplink
from tests.e2e.conftest import Net, start_net, stop_net
from tests.e2e.support import Mosquitto, delta, eventually, free_port, scrape_metrics
from tests.e2e.test_embedded_uplink import abp_device
from tests.interop.lorapacket import LoraPacket

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def net2(tmp_path: Path, mqtt_broker: Mosquitto | None) -> AsyncIterator[Net]:
    n = await start_net(tmp_path / "data", mqtt_broker, processes=2)
    try:
        yield n
    finally:
        await stop_net(n)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped) counts as gone
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def test_the_radio_side_runs_in_its_own_process(net2: Net) -> None:
    platform = net2.platform
    assert platform.radio is not None and platform.radio.pid is not None
    assert platform.radio.pid != os.getpid() and _alive(platform.radio.pid)
    # nothing of the radio side in this process
    assert platform.gateway_bridge is None and platform.network_server is None
    assert platform.join_server is None
    async with httpx.AsyncClient(base_url=net2.base_url) as c:
        health = (await c.get("/health")).json()
    radio = health["processes"]["radio"]
    assert health["status"] == "ok"
    assert radio["ok"] and radio["pid"] == platform.radio.pid and radio["link"] == "up"


async def test_uplink_through_two_gateways_is_one_event_and_metrics_cover_both_processes(
    net2: Net, lora_packet: LoraPacket
) -> None:
    dev = await abp_device(net2)
    before = await scrape_metrics(net2.base_url)
    frame = dev.uplink(lora_packet, b"\x01two processes", f_port=5)
    await net2.gw1.push(frame, tmst=1_000_000, rssi=-90, lsnr=-2.0)
    await net2.gw2.push(frame, tmst=2_000_000, rssi=-60, lsnr=8.5)
    hooks = await eventually(lambda: _value(net2.webhook.events("up", dev.dev_eui)))
    (event,) = hooks
    assert base64.b64decode(event["data"]) == b"\x01two processes"
    assert sorted(r["gw_eui"] for r in event["rx"]) == [net2.gw1.eui_hex, net2.gw2.eui_hex]
    (record,) = await eventually(lambda: net2.api.uplinks(dev.dev_eui))
    assert record["f_cnt"] == 1
    if net2.mqtt is not None:
        mqtt = net2.mqtt
        ups = await eventually(lambda: _value(mqtt.events("up", dev.dev_eui)))
        assert len(ups) == 1

    after = await scrape_metrics(net2.base_url)
    radio = '{process="radio"}'
    assert delta(after, before, f"hyperlora_network_server_uplinks_total{radio}") == 1
    assert delta(after, before, f"hyperlora_network_server_duplicates_total{radio}") == 1
    assert after['hyperlora_peer_up{process="radio"}'] == 1

    # DRCC runs next to the network server and took the uplink's metadata into account
    async def drcc_counted() -> bool:
        now = await scrape_metrics(net2.base_url)
        return delta(now, before, f"hyperlora_drcc_uplinks_total{radio}") == 1

    await eventually(drcc_counted)
    # the app handler's own series come from this process
    assert any(k.startswith("hyperlora_bus_handled_messages_total{") and 'process="main"' in k
               for k in after)  # fmt: skip
    await asyncio.sleep(0.3)  # no second copy arrives later
    assert len(net2.webhook.events("up", dev.dev_eui)) == 1


async def test_otaa_join_then_uplink(net2: Net, lora_packet: LoraPacket) -> None:
    await test_embedded_otaa.test_otaa_join_then_uplink(net2, lora_packet)


async def test_confirmed_uplink_is_acked_in_rx1(net2: Net, lora_packet: LoraPacket) -> None:
    await test_embedded_uplink.test_confirmed_uplink_is_acked_in_rx1(net2, lora_packet)


async def test_queued_downlink_is_delivered_in_next_rx1(net2: Net, lora_packet: LoraPacket) -> None:
    # the API and app handler (this process) enqueue; the network server (the other) sends
    await test_embedded_uplink.test_queued_downlink_is_delivered_in_next_rx1(net2, lora_packet)


async def test_a_clean_stop_loses_nothing_that_was_acknowledged(
    tmp_path: Path, lora_packet: LoraPacket
) -> None:
    """Uplinks in flight when stop begins (in the radio process's dedup windows, on the
    socket, in this process's queues) all end in the uplink log."""
    net = await start_net(tmp_path / "data", None, processes=2)
    devices = [await abp_device(net, n) for n in range(1, 6)]
    sent = 0
    try:
        for f_cnt in range(1, 9):
            for dev in devices:
                frame = dev.uplink(lora_packet, bytes([f_cnt]), f_port=1)
                await net.gw1.push(frame, tmst=1_000_000 * f_cnt)
                sent += 1
    finally:
        await stop_net(net)  # at once: the last frames are still in their dedup windows
    assert net.platform.radio is not None and net.platform.radio.pid is not None
    assert not _alive(net.platform.radio.pid)
    storage = await open_storage(StorageSettings(data_dir=str(tmp_path / "data")), migrate=False)
    try:
        total = 0
        for dev in devices:
            page = await storage.uplinks.list_recent(
                EUI64.from_hex(dev.dev_eui), tenant_id=None, limit=100
            )
            assert sorted(r.f_cnt for r in page.items) == list(range(1, 9))
            total += len(page.items)
        assert total == sent == 40
    finally:
        await storage.close()


async def test_a_dead_radio_process_is_restarted_on_the_same_udp_port(
    tmp_path: Path, lora_packet: LoraPacket
) -> None:
    net = await start_net(tmp_path / "data", None, processes=2)
    platform = net.platform
    try:
        assert platform.radio is not None and platform.endpoints is not None
        dev = await abp_device(net)
        await net.gw1.push(dev.uplink(lora_packet, b"\x01", f_port=1), tmst=1_000_000)
        await eventually(lambda: net.api.uplinks(dev.dev_eui))
        first_pid = platform.radio.pid
        assert first_pid is not None
        os.kill(first_pid, signal.SIGKILL)

        async def restarted() -> dict[str, object] | None:
            async with httpx.AsyncClient(base_url=net.base_url) as c:
                radio = (await c.get("/health")).json()["processes"]["radio"]
            return radio if radio["pid"] != first_pid and radio["ok"] else None

        radio = await eventually(restarted, timeout=30)
        assert radio["restarts"] == 1 and platform.running and not platform.failed
        assert platform.radio.udp_address == (
            platform.endpoints.udp_host,
            platform.endpoints.udp_port,
        )
        # the same gateway socket, the same server port: the next uplink goes through
        await net.gw1.push(dev.uplink(lora_packet, b"\x02", f_port=1), tmst=2_000_000)

        async def both() -> list[dict[str, object]] | None:
            ups = await net.api.uplinks(dev.dev_eui)
            return ups if len(ups) == 2 else None

        ups = await eventually(both, timeout=15)
        assert sorted(int(str(u["f_cnt"])) for u in ups) == [1, 2]
    finally:
        await stop_net(net)


async def test_the_platform_stops_when_its_radio_process_dies_too_often(tmp_path: Path) -> None:
    net = await start_net(tmp_path / "data", None, processes=2, radio_max_restarts=0)
    platform = net.platform
    try:
        assert platform.radio is not None and platform.radio.pid is not None
        os.kill(platform.radio.pid, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while platform.running and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert not platform.running
        assert platform.failed
    finally:
        await stop_net(net)


def test_run_command_with_two_processes_stops_both_on_sigint_exits_1_if_radio_dies_and_no_orphan(
    tmp_path: Path,
) -> None:
    def start(**extra_env: str) -> tuple[subprocess.Popen[str], int]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HYPERLORA_")}
        env.update(extra_env)
        http_port = free_port()
        cmd = [
            sys.executable, "-m", "services.cli.run", "--data-dir", str(tmp_path / "data"),
            "--udp-port", "0", "--http-port", str(http_port), "--no-mqtt", "--log-json",
            "--processes", "2",
        ]  # fmt: skip
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                r = httpx.get(f"http://127.0.0.1:{http_port}/health", timeout=1)
                if r.status_code == 200:
                    return proc, int(r.json()["processes"]["radio"]["pid"])
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        proc.kill()
        raise AssertionError("hyperlora run --processes 2 did not answer /health")

    proc, radio_pid = start()
    try:
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends to the main process
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-3000:]
    assert f"radio side in process {radio_pid}" in out
    events = [json.loads(line) for line in err.splitlines() if line.strip()]
    names = [e["event"] for e in events]
    assert "radio.stopped" in names and names[-1] == "platform.stopped"
    by_process = {e["event"]: e.get("process") for e in events}
    assert by_process["radio.stopped"] == "radio"
    assert by_process["platform.stopped"] == "main"
    assert not _alive(radio_pid)

    proc, radio_pid = start(HYPERLORA_RADIO_MAX_RESTARTS="0")  # no restart: give up at once
    try:
        os.kill(radio_pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1
    assert "platform.radio_process_died" in err

    # the main process killed: the radio process notices the socket end, stops, and frees
    # the UDP port (no orphan left holding it)
    proc, radio_pid = start()
    try:
        proc.kill()
        proc.wait(timeout=10)
        deadline = time.monotonic() + 15
        while _alive(radio_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(radio_pid)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if _alive(radio_pid):
            os.kill(radio_pid, signal.SIGKILL)


async def _value(x: object) -> object:
    return x
