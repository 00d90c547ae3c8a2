"""End-to-end, one process, real UDP: data uplinks from simulated Semtech gateways through the
embedded platform to MQTT, a webhook and the API; class A downlinks (ACK, LinkCheckAns,
queued application downlink) checked with lora-packet, the independent implementation."""

from __future__ import annotations

import base64
import json

import pytest

from services.ledger.errors import UnknownChannel
from services.lorawan.maccommand import parse_mac_commands
from tests.e2e.conftest import Net
from tests.e2e.devices import AbpDevice
from tests.e2e.support import delta, eventually, scrape_metrics
from tests.interop.lorapacket import LoraPacket

pytestmark = pytest.mark.e2e

RX1_DELAY_US = 1_000_000


async def abp_device(net: Net, n: int | None = None) -> AbpDevice:
    dev = AbpDevice.new(n)
    await net.api.device(dev.dev_eui, net.application_id, net.abp_profile_id, name="meter")
    await net.api.activate(dev.dev_eui, dev.dev_addr, dev.nwk_s_key, dev.app_s_key)
    # the AppSKey reaches the application handler over the bus
    storage = net.platform.storage
    assert storage is not None
    from services.lorawan.types import EUI64

    await eventually(lambda: storage.app_sessions.get(EUI64.from_hex(dev.dev_eui)))
    return dev


async def test_uplink_through_two_gateways_reaches_mqtt_webhook_and_api(
    net: Net, lora_packet: LoraPacket
) -> None:
    mqtt = net.require_mqtt()
    dev = await abp_device(net)
    before = await scrape_metrics(net.base_url)
    frame = dev.uplink(lora_packet, b"\x01\x02temperature=21.5", f_port=7)
    await net.gw1.push(frame, tmst=1_000_000, rssi=-90, lsnr=-2.0)
    await net.gw2.push(frame, tmst=2_000_000, rssi=-60, lsnr=8.5)

    ups = await eventually(lambda: _async(mqtt.events("up", dev.dev_eui)))
    hooks = await eventually(lambda: _async(net.webhook.events("up", dev.dev_eui)))
    api_ups = await eventually(lambda: net.api.uplinks(dev.dev_eui))
    for event in (ups[0], hooks[0]):
        assert base64.b64decode(event["data"]) == b"\x01\x02temperature=21.5"
        assert event["f_cnt"] == 1 and event["f_port"] == 7
        assert sorted(r["gw_eui"] for r in event["rx"]) == [net.gw1.eui_hex, net.gw2.eui_hex]
        assert event["application_id"] == net.application_id
    topic = next(t for t, b in mqtt.messages if b.get("event") == "up")
    assert topic == f"application/{net.application_id}/device/{dev.dev_eui}/event/up"
    assert net.webhook.received[0][1]["x-test"] == "e2e"
    (record,) = api_ups
    assert base64.b64decode(record["data"]) == b"\x01\x02temperature=21.5"
    assert {m["gw_eui"] for m in record["rx_metadata"]} == {net.gw1.eui_hex, net.gw2.eui_hex}

    after = await scrape_metrics(net.base_url)
    assert delta(after, before, "hyperlora_network_server_uplinks_total") == 1
    assert delta(after, before, "hyperlora_network_server_duplicates_total") == 1
    # exactly one event per channel: the second copy was merged, not forwarded
    assert len(mqtt.events("up", dev.dev_eui)) == 1
    assert len(net.webhook.events("up", dev.dev_eui)) == 1
    assert net.gw1.pending_downlinks() == 0 and net.gw2.pending_downlinks() == 0


async def test_uplink_is_recorded_on_the_application_ledger_and_verifies(
    net: Net, lora_packet: LoraPacket
) -> None:
    """The accepted uplink lands once on its zone's application ledger (embedded ledger, same
    contracts as on Fabric); its payload verifies and a tampered payload does not."""
    ledger = net.platform.ledger
    assert ledger is not None
    dev = await abp_device(net)
    payload = b"\x42meter=17"
    frame = dev.uplink(lora_packet, payload, f_port=3)
    await net.gw1.push(frame, tmst=1_000_000)
    await net.gw2.push(frame, tmst=1_000_100)
    key = f"{dev.dev_eui}/1"

    async def recorded() -> list[dict[str, object]]:
        try:
            raw = await ledger.evaluate("app-default", "application:by_device", [dev.dev_eui, "10"])
        except UnknownChannel:  # the channel is created with its first block
            return []
        return list(json.loads(raw))

    (record,) = await eventually(recorded)
    assert record["key"] == key
    body = record["payload"]
    assert isinstance(body, dict) and body["f_cnt"] == 1
    ok = json.loads(
        await ledger.evaluate("app-default", "application:verify", [key, payload.hex()])
    )
    assert ok["match"] is True
    bad = json.loads(
        await ledger.evaluate("app-default", "application:verify", [key, (payload + b"!").hex()])
    )
    assert bad["match"] is False
    assert await ledger.height("app-default") >= 1


async def test_confirmed_uplink_is_acked_in_rx1(net: Net, lora_packet: LoraPacket) -> None:
    dev = await abp_device(net)
    tmst = 4_294_000_000  # RX1 wraps the 32-bit concentrator counter
    frame = dev.uplink(lora_packet, b"\x10", f_port=2, confirmed=True)
    await net.gw1.push(frame, tmst=tmst, freq_mhz=868.3, datr="SF9BW125", lsnr=5.0)
    down = await net.gw1.pull_resp()
    txpk = down.txpk
    assert txpk["tmst"] == (tmst + RX1_DELAY_US) % 2**32
    assert txpk["freq"] == pytest.approx(868.3)  # EU868 RX1: the uplink channel
    assert txpk["datr"] == "SF9BW125"  # RX1DROffset 0
    assert txpk["ipol"] is True and not txpk.get("imme", False)
    seen = dev.decode_downlink(lora_packet, down.phy_payload, f_cnt=0)
    assert seen["mic_valid"] is True
    assert seen["mtype"] == "unconfirmed_data_down"
    assert seen["ack"] is True
    assert seen["dev_addr"] == dev.dev_addr.lower()
    assert seen["f_port"] is None


async def test_link_check_req_is_answered(net: Net, lora_packet: LoraPacket) -> None:
    dev = await abp_device(net)
    frame = dev.uplink(lora_packet, b"", f_port=None, f_opts=bytes([0x02]))  # LinkCheckReq
    await net.gw1.push(frame, tmst=5_000_000, lsnr=3.0)
    await net.gw2.push(frame, tmst=6_000_000, lsnr=6.5)
    down = await net.gw2.pull_resp()  # best SNR
    assert down.txpk["tmst"] == 6_000_000 + RX1_DELAY_US
    seen = dev.decode_downlink(lora_packet, down.phy_payload, f_cnt=0)
    assert seen["mic_valid"] is True
    f_opts = bytes.fromhex(seen["f_opts"])
    assert f_opts[0] == 0x02 and len(f_opts) == 3  # LinkCheckAns
    margin, gw_cnt = f_opts[1], f_opts[2]
    assert gw_cnt == 2
    assert margin == 14  # best SNR 6.5 dB above the SF7 demodulation floor (-7.5 dB)
    (cmd,) = parse_mac_commands(f_opts, uplink=False)
    assert cmd.to_dict()["gw_cnt"] == 2
    assert net.gw1.pending_downlinks() == 0


async def test_queued_downlink_is_delivered_in_next_rx1(net: Net, lora_packet: LoraPacket) -> None:
    dev = await abp_device(net)
    # the first uplink reports the network server's counters to the application handler
    await net.gw1.push(dev.uplink(lora_packet, b"\x00"), tmst=100)
    await eventually(lambda: net.api.uplinks(dev.dev_eui))
    request_id = await net.api.queue(dev.dev_eui, b"\xca\xfe\x01", f_port=12)

    async def queued() -> bool:
        page = await net.api.get(f"/api/devices/{dev.dev_eui}/queue")
        return bool(page["items"])

    await eventually(queued)
    tmst = 7_000_000
    await net.gw1.push(dev.uplink(lora_packet, b"\x01"), tmst=tmst)
    down = await net.gw1.pull_resp()
    assert down.txpk["tmst"] == tmst + RX1_DELAY_US
    seen = dev.decode_downlink(lora_packet, down.phy_payload)
    assert seen["mic_valid"] is True
    assert seen["f_port"] == 12
    assert bytes.fromhex(seen["payload"]) == b"\xca\xfe\x01"  # decrypted by lora-packet
    mqtt = net.mqtt
    if mqtt is not None:
        tx = await eventually(lambda: _async(mqtt.events("txack", dev.dev_eui)))
        assert tx[0]["request_id"] == request_id and tx[0]["error"] is None


async def _async(value: object) -> object:
    return value
