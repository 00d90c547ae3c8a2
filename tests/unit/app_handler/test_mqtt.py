"""The MQTT integration against a real Mosquitto broker started on a free 127.0.0.1 port.

Mosquitto comes from the Debian package (the CI bootstrap installs it). Without it these tests
fail under CI=true and are skipped elsewhere, saying why.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiomqtt
import pytest

from services.app_handler.errors import InvalidCommand
from services.app_handler.integrations.mqtt import MqttIntegration, parse_command
from services.app_handler.settings import AppHandlerSettings, MqttSettings, WebhookSettings
from services.bus.topics import Topic
from services.storage import Storage

from .conftest import DEV_EUI, OTHER_EUI, World, eventually
from .test_service import (
    KEK,
    LPP,
    Harness,
    decrypt_down,
    joined,
    start_harness,
    uplink,
)


def _mosquitto() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    def __init__(self, binary: str, workdir: Path, port: int) -> None:
        self.binary = binary
        self.port = port
        self.conf = workdir / f"mosquitto-{port}.conf"
        self.conf.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        )
        self.log = workdir / f"mosquitto-{port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [self.binary, "-c", str(self.conf)], stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    binary = _mosquitto()
    if binary is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("mosquitto is not installed (apt-get install -y mosquitto)")
        pytest.skip("mosquitto is not installed (apt-get install -y mosquitto); CI fails here")
    b = Broker(binary, tmp_path, _free_port())
    b.start()
    try:
        yield b
    finally:
        b.stop()


def mqtt_settings(port: int) -> MqttSettings:
    return MqttSettings(
        enabled=True, port=port, reconnect_initial_s=0.05, reconnect_max_s=0.2, queue_size=50
    )


@pytest.fixture
async def mqtt_harness(storage: Storage, world: World, broker: Broker) -> AsyncIterator[Harness]:
    cfg = AppHandlerSettings(
        kek_label="kek1",
        kek=KEK.hex(),
        mqtt=mqtt_settings(broker.port),
        webhook=WebhookSettings(backoff_initial_s=0.01),
    )
    h = await start_harness(storage, cfg)
    try:
        assert h.service.mqtt is not None
        await asyncio.wait_for(h.service.mqtt.connected.wait(), timeout=10)
        yield h
    finally:
        await h.bus.stop()
        await h.service.stop()


async def test_uplink_event_published_on_its_topic(
    mqtt_harness: Harness, storage: Storage, world: World, broker: Broker
) -> None:
    h = mqtt_harness
    await joined(h, storage)
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:
        await client.subscribe("application/+/device/+/event/#")
        await h.publish(Topic.NS_UP, uplink(42))
        message = await asyncio.wait_for(anext(aiter(client.messages)), timeout=10)
    assert message.topic.value == f"application/{world.app.id}/device/{DEV_EUI}/event/up"
    assert isinstance(message.payload, bytes)
    body = json.loads(message.payload)
    assert body["event"] == "up" and body["f_cnt"] == 42
    assert base64.b64decode(body["data"]) == LPP
    assert body["object"]["measurements"][1]["value"] == 25.5


async def test_command_down_becomes_a_downlink_request(
    mqtt_harness: Harness, storage: Storage, world: World, broker: Broker
) -> None:
    h = mqtt_harness
    await joined(h, storage)
    topic = f"application/{world.app.id}/device/{str(DEV_EUI).lower()}/command/down"
    command = {"f_port": 12, "data": base64.b64encode(b"\x01\x02\x03").decode(), "confirmed": True}
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:
        await client.publish(topic, b"{not json")  # logged and counted, never fatal
        wrong_app = f"application/{world.other_app.id}/device/{DEV_EUI}/command/down"
        await client.publish(wrong_app, json.dumps(command))  # device not in that app
        await client.publish(topic, json.dumps(command))
        lpp = {
            "f_port": 5,
            "object": {"measurements": [{"channel": 1, "type": "digital_output", "value": 1}]},
        }
        await client.publish(topic, json.dumps(lpp))  # encoded with the app's codec
    await eventually(lambda: len(h.submits) == 2, timeout=10, what="as.down.submit")
    sub = h.submits[0]
    assert (sub.dev_eui, sub.f_port, sub.frm_payload, sub.confirmed) == (
        str(DEV_EUI),
        12,
        b"\x01\x02\x03",
        True,
    )
    assert sub.encrypted is False
    assert h.submits[1].frm_payload == bytes.fromhex("010101")
    await eventually(lambda: len(h.requests) == 2, what="as.down.request")
    assert decrypt_down(h.requests[0]) == b"\x01\x02\x03"
    mqtt = h.service.mqtt
    assert mqtt is not None
    assert mqtt.counters.commands == 2 and mqtt.counters.commands_rejected == 2
    assert any("not JSON" in r for r in mqtt.counters.rejected_reasons)
    assert any("not in application" in r for r in mqtt.counters.rejected_reasons)


async def test_other_application_device_gets_no_event_on_a_foreign_topic(
    mqtt_harness: Harness, storage: Storage, world: World, broker: Broker
) -> None:
    # a command naming the right application but an unknown device is refused too
    h = mqtt_harness
    assert h.service.mqtt is not None
    ok = await h.service.mqtt.handle_command(
        f"application/{world.other_app.id}/device/{OTHER_EUI}/command/down",
        json.dumps({"f_port": 1, "data": ""}).encode(),
    )
    assert ok  # OTHER_EUI belongs to other_app
    refused = await h.service.mqtt.handle_command(
        f"application/{world.other_app.id}/device/FFFFFFFFFFFFFFFF/command/down",
        json.dumps({"f_port": 1, "data": ""}).encode(),
    )
    assert not refused


async def test_reconnects_and_delivers_what_was_queued(tmp_path: Path, broker: Broker) -> None:
    gate = asyncio.Event()  # holds the reconnection until the test subscriber is ready
    gate.set()

    async def gated_sleep(delay: float) -> None:
        await asyncio.sleep(delay)
        await gate.wait()

    integration = MqttIntegration(mqtt_settings(broker.port), sleep=gated_sleep)
    await integration.start()
    try:
        await asyncio.wait_for(integration.connected.wait(), timeout=10)
        gate.clear()
        broker.stop()
        await eventually(lambda: not integration.connected.is_set(), what="disconnect")
        # broker down: publishing neither blocks nor raises; beyond the queue bound, drops
        for i in range(60):
            integration.publish("app", "0102030405060701", {"event": "up", "i": i})
        assert integration.counters.dropped == 10
        broker.start()
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            await client.subscribe("application/app/device/0102030405060701/event/up")
            gate.set()  # now the integration may reconnect (with its backoff)
            await asyncio.wait_for(integration.connected.wait(), timeout=10)
            got = []
            async with asyncio.timeout(10):
                async for message in client.messages:
                    assert isinstance(message.payload, bytes)
                    got.append(json.loads(message.payload)["i"])
                    if len(got) == 50:
                        break
        assert got == list(range(50))
        assert integration.counters.connections >= 2
    finally:
        gate.set()
        await integration.stop()


async def test_broker_down_does_not_block(tmp_path: Path) -> None:
    integration = MqttIntegration(mqtt_settings(_free_port()))  # nothing listens there
    await integration.start()
    try:
        started = time.monotonic()
        for i in range(100):
            integration.publish("app", "0102030405060701", {"event": "up", "i": i})
        assert time.monotonic() - started < 0.5
        assert integration.counters.dropped == 50
        await eventually(lambda: integration.counters.connection_failures >= 2)
    finally:
        await integration.stop()


@pytest.mark.parametrize(
    ("topic", "payload", "message"),
    [
        ("application/x/device/0102030405060701/command/down", b"{}", "UUID"),
        (
            "application/00000000-0000-4000-8000-000000000001/device/01/command/down",
            b"{}",
            "16 hex",
        ),
        (
            "application/00000000-0000-4000-8000-000000000001/device/0102030405060701/command/up",
            b"{}",
            "topic",
        ),
        (
            "application/00000000-0000-4000-8000-000000000001/device/0102030405060701/command/down",
            b"[1]",
            "object",
        ),
        (
            "application/00000000-0000-4000-8000-000000000001/device/0102030405060701/command/down",
            b'{"f_port": 0, "data": ""}',
            "f_port",
        ),
        (
            "application/00000000-0000-4000-8000-000000000001/device/0102030405060701/command/down",
            b'{"f_port": 1, "data": "!!"}',
            "base64",
        ),
        (
            "application/00000000-0000-4000-8000-000000000001/device/0102030405060701/command/down",
            b'{"f_port": 1}',
            "data",
        ),
        (
            "application/00000000-0000-4000-8000-000000000001/device/0102030405060701/command/down",
            b'{"f_port": 1, "data": "", "confirmed": 1}',
            "confirmed",
        ),
        (
            "application/00000000-0000-4000-8000-000000000001/device/0102030405060701/command/down",
            b"\xff",
            "JSON",
        ),
    ],
)
def test_parse_command_errors(topic: str, payload: bytes, message: str) -> None:
    with pytest.raises(InvalidCommand, match=message):
        parse_command("application", topic, payload)
