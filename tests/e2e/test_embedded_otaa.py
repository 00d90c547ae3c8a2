"""End-to-end OTAA join through the embedded platform over real UDP: lora-packet builds the
JoinRequest and checks the JoinAccept the server sends in PULL_RESP (decryption, MIC), and the
session keys the device derives agree with the ones the servers stored."""

from __future__ import annotations

import asyncio
import base64

import pytest

from services.lorawan.types import EUI64
from tests.e2e.conftest import Net
from tests.e2e.support import delta, eventually, scrape_metrics
from tests.interop.lorapacket import LoraPacket

pytestmark = pytest.mark.e2e

DEV_EUI = "70B3D57ED00A0001"
JOIN_EUI = "70B3D57ED0000000"
APP_KEY = bytes.fromhex("2B7E151628AED2A6ABF7158809CF4F3C")
JOIN_ACCEPT_DELAY1_US = 5_000_000


async def _join(net: Net, lp: LoraPacket, dev_nonce: int, tmst: int) -> dict[str, object]:
    request = lp.build_join_request(JOIN_EUI, DEV_EUI, dev_nonce, APP_KEY)
    await net.gw1.push(request, tmst=tmst, rssi=-100, lsnr=-3.0)
    await net.gw2.push(request, tmst=tmst + 1234, rssi=-70, lsnr=4.0)
    down = await net.gw2.pull_resp()  # the best-SNR gateway answers
    assert down.txpk["tmst"] == (tmst + 1234 + JOIN_ACCEPT_DELAY1_US) % 2**32
    assert down.txpk["freq"] == pytest.approx(868.1) and down.txpk["datr"] == "SF7BW125"
    accept = lp.decrypt_join_accept(down.phy_payload, APP_KEY)
    assert accept["mic_valid"] is True
    return accept


async def test_otaa_join_then_uplink(net: Net, lora_packet: LoraPacket) -> None:
    storage = net.platform.storage
    assert storage is not None
    await net.api.device(
        DEV_EUI, net.application_id, net.profile_id, join_eui=JOIN_EUI, nwk_key=APP_KEY.hex()
    )
    accept = await _join(net, lora_packet, dev_nonce=1, tmst=50_000_000)
    assert accept["net_id"] == "000000"
    assert net.gw1.pending_downlinks() == 0

    keys = lora_packet.session_keys_10(
        APP_KEY, int(accept["join_nonce"]), bytes.fromhex(str(accept["net_id"])), 1
    )
    eui = EUI64.from_hex(DEV_EUI)
    session = await eventually(lambda: storage.sessions.get_by_dev_eui(eui))
    assert str(session.dev_addr).lower() == accept["dev_addr"]
    for k in (session.f_nwk_s_int_key, session.s_nwk_s_int_key, session.nwk_s_enc_key):
        assert k.value == keys["nwk_s_key"]
    assert session.app_s_key is None  # the network server never holds the AppSKey
    app_session = await eventually(lambda: storage.app_sessions.get(eui))
    assert app_session.app_s_key.value == keys["app_s_key"]
    assert app_session.session_id == session.session_id

    # the device's first uplink with the keys it derived itself
    frame = lora_packet.build_data(
        mtype="unconfirmed_data_up",
        mac_version="1.0.3",
        dev_addr=accept["dev_addr"],
        f_cnt=0,
        f_port=3,
        payload=b"joined!",
        **keys,
    )
    await net.gw1.push(frame, tmst=60_000_000)
    ups = await eventually(lambda: net.api.uplinks(DEV_EUI))
    assert base64.b64decode(ups[0]["data"]) == b"joined!"
    if net.mqtt is not None:
        mqtt = net.mqtt
        joins = await eventually(lambda: _value(mqtt.events("join", DEV_EUI)))
        assert joins[0]["dev_addr"].lower() == accept["dev_addr"]


async def test_reused_dev_nonce_is_rejected_and_the_next_join_works(
    net: Net, lora_packet: LoraPacket
) -> None:
    await net.api.device(
        DEV_EUI, net.application_id, net.profile_id, join_eui=JOIN_EUI, nwk_key=APP_KEY.hex()
    )
    first = await _join(net, lora_packet, dev_nonce=7, tmst=1_000_000)
    before = await scrape_metrics(net.base_url)
    await asyncio.sleep(0.5)  # past the dedup window (and its late margin): a new request
    request = lora_packet.build_join_request(JOIN_EUI, DEV_EUI, 7, APP_KEY)
    await net.gw1.push(request, tmst=9_000_000)
    name = 'hyperlora_join_server_rejected_total{reason="dev_nonce_reused"}'

    async def rejected() -> bool:
        return delta(await scrape_metrics(net.base_url), before, name) == 1

    await eventually(rejected)
    with pytest.raises(TimeoutError):
        await net.gw1.pull_resp(timeout=0.3)
    second = await _join(net, lora_packet, dev_nonce=8, tmst=20_000_000)
    assert second["join_nonce"] != first["join_nonce"]


async def _value(value: object) -> object:
    return value
