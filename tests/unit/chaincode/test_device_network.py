"""Device and network contracts: joins, DevNonce checks, gateway status history, decisions."""

from __future__ import annotations

import json
from typing import Any

from .conftest import OPERATOR, Peer, create_args

DEV = "0102030405060708"
JOIN_EUI = "70B3D57ED0000000"
GW = "AABBCCDDEEFF0011"


def join(dev_nonce: int = 7, **extra: Any) -> dict[str, Any]:
    body = {
        "dev_eui": DEV,
        "join_eui": JOIN_EUI,
        "dev_addr": "26011BDA",
        "dev_nonce": dev_nonce,
        "received_at": "2026-01-01T00:00:00+00:00",
        "session_id": "s1",
        "gateways": [GW],
    }
    body.update(extra)
    return body


async def test_join_records_and_dev_nonce_check(peer: Peer) -> None:
    await peer.init("device", [OPERATOR])
    r = await peer.call("device:create", *create_args("join", f"{DEV}/s1", "join:1", join()))
    assert r.ok, r.message
    used = json.loads((await peer.call("device:check_dev_nonce", DEV, JOIN_EUI, 7)).payload)
    assert used == {"join_key": f"{DEV}/s1", "used": True}
    free = json.loads((await peer.call("device:check_dev_nonce", DEV, JOIN_EUI, 8)).payload)
    assert free["used"] is False
    replay = await peer.call(
        "device:create", *create_args("join", f"{DEV}/s2", "join:2", join(session_id="s2"))
    )
    assert replay.message.startswith("KeyExists:") and "DevNonce 7" in replay.message
    await peer.call(
        "device:create",
        *create_args("join", f"{DEV}/s3", "join:3", join(8, session_id="s3")),
    )
    joins = json.loads((await peer.call("device:joins_of", DEV, 0)).payload)
    assert [j["key"] for j in joins] == [f"{DEV}/s1", f"{DEV}/s3"]


async def test_device_registration_is_mutable_with_history(peer: Peer) -> None:
    await peer.init("device", [OPERATOR])
    reg = {"dev_eui": DEV, "join_eui": JOIN_EUI, "name": "meter-1"}
    await peer.call("device:create", *create_args("device", DEV, "reg:1", reg))
    await peer.call("device:create", *create_args("device", DEV, "reg:2", {**reg, "name": "m2"}))
    hist = json.loads((await peer.call("device:history", "device", DEV)).payload)
    assert [h["record"]["payload"]["name"] for h in hist] == ["m2", "meter-1"]  # newest first
    assert hist[0]["timestamp"] > hist[1]["timestamp"]
    # the superseded registration's idempotency key still answers "exists"
    again = await peer.call("device:create", *create_args("device", DEV, "reg:1", reg))
    assert again.json()["status"] == "exists" and again.json()["superseded"] is True


async def test_gateway_status_history(peer: Peer) -> None:
    await peer.init("network", [OPERATOR])
    for i, status in enumerate(["online", "offline", "online"]):
        body = {"gw_eui": GW, "status": status, "rx_packets": i}
        r = await peer.call("network:create", *create_args("gateway_status", GW, f"gs:{i}", body))
        assert r.ok, r.message
    hist = json.loads((await peer.call("network:history", "gateway_status", GW)).payload)
    assert [h["record"]["payload"]["status"] for h in hist] == ["online", "offline", "online"]
    assert [h["record"]["payload"]["rx_packets"] for h in hist] == [2, 1, 0]


async def test_rate_decision_needs_a_reason(peer: Peer) -> None:
    await peer.init("network", [OPERATOR])
    body = {"dev_eui": DEV, "dr": 5, "tx_power_index": 1, "nb_trans": 1, "algorithm": "drcc"}
    r = await peer.call("network:create", *create_args("rate_control", f"{DEV}/1", "d1", body))
    assert "missing field(s) reason" in r.message
    body["reason"] = "DER 0.42 below target 0.9"
    r = await peer.call("network:create", *create_args("rate_control", f"{DEV}/1", "d1", body))
    assert r.ok, r.message
    bad = {**body, "dr": 16}
    r = await peer.call("network:create", *create_args("link_adr", f"{DEV}/2", "d2", bad))
    assert "rate_decision.dr" in r.message


async def test_gateway_registration_checks_key_and_location(peer: Peer) -> None:
    await peer.init("network", [OPERATOR])
    body = {"gw_eui": GW, "location": {"latitude": 91, "longitude": 0}}
    r = await peer.call("network:create", *create_args("gateway", GW, "g1", body))
    assert "latitude" in r.message
    body = {"gw_eui": GW, "location": {"latitude": 48.1, "longitude": 11.5}}
    r = await peer.call("network:create", *create_args("gateway", "0000000000000000", "g1", body))
    assert "key must be the gw_eui" in r.message
    assert (await peer.call("network:create", *create_args("gateway", GW, "g1", body))).ok
