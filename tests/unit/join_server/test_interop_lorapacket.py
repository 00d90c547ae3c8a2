"""OTAA against lora-packet (npm), an independent implementation playing the device.

lora-packet builds the JoinRequest; the join server answers; lora-packet decrypts the
JoinAccept, checks its MIC (1.0: AppKey; 1.1: JSIntKey with JoinReqType|JoinEUI|DevNonce) and
derives session keys that must equal the ones the join server handed out.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.join_server import JoinServerCore
from services.lorawan.phy_payload import PhyPayload
from services.lorawan.types import DevAddr
from tests.interop.lorapacket import LoraPacket, LoraPacketNotInstalled, NodeNotFound

from .conftest import (
    APP_KEY,
    DEV_EUI,
    JOIN_EUI,
    NET_ID,
    NWK_KEY,
    join_request,
    make_device,
    make_profile,
)

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def lora_packet() -> Iterator[LoraPacket]:
    try:
        client = LoraPacket()
    except NodeNotFound as exc:
        pytest.skip(f"interop: {exc}")
    except LoraPacketNotInstalled as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield client
    finally:
        client.close()


@pytest.mark.parametrize(
    ("mac_version", "region", "dev_nonce", "join_nonce"),
    [
        ("1.0.2", "EU868", 0xA1B2, 1),
        ("1.0.4", "US915", 0x0003, 0x00FF01),
        ("1.1.0", "EU868", 0x0102, 0x123456),
        ("1.1.0", "US915", 0xFFFE, 2),
    ],
)
def test_lora_packet_device_joins(
    lora_packet: LoraPacket,
    core: JoinServerCore,
    mac_version: str,
    region: str,
    dev_nonce: int,
    join_nonce: int,
) -> None:
    is_11 = mac_version.startswith("1.1")
    wire = lora_packet.build_join_request(JOIN_EUI, DEV_EUI, dev_nonce, NWK_KEY)
    assert PhyPayload.from_bytes(wire).to_bytes() == wire
    profile = make_profile(mac_version, region, rx1_dr_offset=1, rx1_delay=2)
    req = join_request(dev_nonce, region=region, phy_payload=wire)
    v = core.verify(req, make_device(profile), profile)
    dev_addr = DevAddr.for_net_id(NET_ID, 0x1ABCD)
    out = core.accept(v, join_nonce=join_nonce, dev_addr=dev_addr)

    ctx: dict[str, object] = {}
    if is_11:
        js = lora_packet.js_keys(NWK_KEY, DEV_EUI)
        ctx = {
            "js_int_key": js["js_int_key"],
            "join_req_type": 0xFF,
            "join_eui": JOIN_EUI,
            "dev_nonce": dev_nonce,
        }
    got = lora_packet.decrypt_join_accept(out.accept.phy_payload or b"", NWK_KEY, **ctx)
    assert got["mic_valid"] is True
    assert got["opt_neg"] is is_11
    assert got["join_nonce"] == join_nonce
    assert got["net_id"].upper() == str(NET_ID)
    assert got["dev_addr"].upper() == str(dev_addr)
    assert (got["rx1_dr_offset"], got["rx_delay"]) == (1, 2)
    assert got["rx2_dr"] == (0 if region == "EU868" else 8)
    assert bytes.fromhex(got["cf_list"]) == out.accept.cf_list

    if is_11:
        keys = lora_packet.session_keys_11(APP_KEY, NWK_KEY, join_nonce, JOIN_EUI, dev_nonce)
        assert keys["f_nwk_s_int_key"] == out.keys.f_nwk_s_int_key.value
        assert keys["s_nwk_s_int_key"] == out.keys.s_nwk_s_int_key.value
        assert keys["nwk_s_enc_key"] == out.keys.nwk_s_enc_key.value
    else:
        keys = lora_packet.session_keys_10(NWK_KEY, join_nonce, NET_ID, dev_nonce)
        assert keys["nwk_s_key"] == out.keys.f_nwk_s_int_key.value
    assert keys["app_s_key"] == out.keys.app_s_key.value
    assert out.app_s_key.app_s_key_wrapped == keys["app_s_key"].hex().upper()
