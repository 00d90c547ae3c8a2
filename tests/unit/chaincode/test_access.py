"""Writes are restricted by the caller's MSP id, configured at chaincode init."""

from __future__ import annotations

import json

from .conftest import OPERATOR, ZONE_A, Peer, create_args, uplink

DEV = "0102030405060708"
ARGS = create_args("uplink", f"{DEV}/1", "up:1", uplink())


async def test_writes_before_init_are_refused(peer: Peer) -> None:
    r = await peer.call("application:create", *ARGS)
    assert r.message.startswith("NotInitialised:")


async def test_allowed_and_refused_msps(peer: Peer) -> None:
    await peer.init("application", [OPERATOR, ZONE_A])
    refused = await peer.call("application:create", *ARGS, msp="ZoneBMSP")
    assert refused.message.startswith("AccessDenied:")
    assert "ZoneBMSP" in refused.message
    allowed = await peer.call("application:create", *ARGS, msp=ZONE_A)
    assert allowed.ok
    assert allowed.json()["record"]["msp_id"] == ZONE_A


async def test_reads_are_open_to_every_msp(peer: Peer) -> None:
    await peer.init("application", [OPERATOR])
    await peer.call("application:create", *ARGS)
    r = await peer.call("application:read", "uplink", f"{DEV}/1", msp="AnyoneMSP")
    assert r.ok


async def test_only_admins_reconfigure(peer: Peer) -> None:
    await peer.init("application", [OPERATOR])
    cfg = json.dumps({"writers": ["ZoneBMSP"], "admins": [OPERATOR]})
    r = await peer.call("application:init_ledger", cfg, msp=ZONE_A)
    assert r.message.startswith("AccessDenied:")
    r = await peer.call("application:init_ledger", cfg, msp=OPERATOR)
    assert r.ok
    assert (await peer.call("application:create", *ARGS, msp="ZoneBMSP")).ok


async def test_config_is_per_contract(peer: Peer) -> None:
    await peer.init("device", [OPERATOR])
    r = await peer.call("application:create", *ARGS)
    assert r.message.startswith("NotInitialised:")


async def test_bad_config_is_refused(peer: Peer) -> None:
    for cfg in ('{"writers": "x", "admins": []}', '{"writers": [], "admins": [], "x": 1}', "[]"):
        r = await peer.call("application:init_ledger", cfg)
        assert r.message.startswith("InvalidInput:"), cfg


async def test_wildcard_writer(peer: Peer) -> None:
    await peer.init("application", ["*"])
    assert (await peer.call("application:create", *ARGS, msp="WhoeverMSP")).ok
