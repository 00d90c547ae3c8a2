"""Fixtures of the end-to-end tests of the embedded platform.

* ``lora_packet``: the independent LoRaWAN implementation (skips only when Node.js is absent,
  fails when tests/interop/node_modules is missing), as in tests/interop/conftest.py;
* ``mqtt_broker``: a Mosquitto of our own on a free port (None when the binary is missing;
  missing with CI=true is a failure: install it with ``deploy/bootstrap.sh --mosquitto``);
* ``net``: an EmbeddedPlatform on free ports in tmp_path, provisioned through its REST API
  (tenant, application with a webhook, device profile, two gateways), two simulated Semtech
  gateways connected to it, an MQTT subscriber and a webhook receiver.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.platform import EmbeddedPlatform, PlatformSettings
from tests.e2e.semtech_gateway import SimGateway
from tests.e2e.support import Api, Mosquitto, MqttSubscriber, WebhookReceiver, find_mosquitto
from tests.interop.conftest import lora_packet  # noqa: F401  (fixture re-exported)

ADMIN_KEY = "e2e-admin-key-0123456789abcdef"
GW1 = bytes.fromhex("AA555A0000000001")
GW2 = bytes.fromhex("AA555A0000000002")


@pytest.fixture(scope="session")
def mqtt_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto | None]:
    binary = find_mosquitto()
    if binary is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(
                "mosquitto is not installed (CI=true): run deploy/bootstrap.sh --mosquitto",
                pytrace=False,
            )
        yield None
        return
    broker = Mosquitto(binary, tmp_path_factory.mktemp("mosquitto"))
    try:
        yield broker
    finally:
        broker.stop()


@dataclass(slots=True)
class Net:
    platform: EmbeddedPlatform
    api: Api
    base_url: str
    gw1: SimGateway
    gw2: SimGateway
    mqtt: MqttSubscriber | None
    webhook: WebhookReceiver
    tenant_id: str
    application_id: str
    profile_id: str  # OTAA, LoRaWAN 1.0.3
    abp_profile_id: str  # ABP, LoRaWAN 1.0.3
    data_dir: Path

    def require_mqtt(self) -> MqttSubscriber:
        if self.mqtt is None:
            pytest.skip("mosquitto is not installed (deploy/bootstrap.sh --mosquitto)")
        return self.mqtt


async def start_net(data_dir: Path, broker: Mosquitto | None, **overrides: object) -> Net:
    settings = PlatformSettings(
        data_dir=data_dir,
        udp_port=0,
        http_port=0,
        admin_api_key=ADMIN_KEY,
        mqtt_enabled=broker is not None,
        mqtt_port=broker.port if broker is not None else 1883,
        **overrides,  # type: ignore[arg-type]
    )
    platform = EmbeddedPlatform(settings)
    await platform.start()
    assert platform.endpoints is not None
    base_url = platform.endpoints.api_url
    api = Api(base_url, ADMIN_KEY)
    webhook = WebhookReceiver()
    await webhook.start()
    mqtt = None
    if broker is not None:
        mqtt = MqttSubscriber(broker.port)
        await mqtt.start()
    tenant_id = await api.tenant("acme")
    application_id = await api.application(tenant_id, "meters", webhook=webhook.url)
    profile_id = await api.profile(tenant_id)
    abp_profile_id = await api.profile(tenant_id, "eu868-abp", supports_join=False)
    for gw in (GW1, GW2):
        await api.gateway(gw.hex().upper(), tenant_id)
    udp = (platform.endpoints.udp_host, platform.endpoints.udp_port)
    gw1 = await SimGateway.connect(GW1, udp)
    gw2 = await SimGateway.connect(GW2, udp)
    return Net(
        platform=platform,
        api=api,
        base_url=base_url,
        gw1=gw1,
        gw2=gw2,
        mqtt=mqtt,
        webhook=webhook,
        tenant_id=tenant_id,
        application_id=application_id,
        profile_id=profile_id,
        abp_profile_id=abp_profile_id,
        data_dir=data_dir,
    )


async def stop_net(net: Net) -> None:
    await net.gw1.close()
    await net.gw2.close()
    if net.mqtt is not None:
        await net.mqtt.stop()
    await net.api.close()
    await net.platform.stop()
    await net.webhook.stop()


@pytest.fixture
async def net(tmp_path: Path, mqtt_broker: Mosquitto | None) -> AsyncIterator[Net]:
    n = await start_net(tmp_path / "data", mqtt_broker)
    try:
        yield n
    finally:
        await stop_net(n)
