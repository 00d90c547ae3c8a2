"""GatewayClient and FabricLedger against an in-process fake Gateway (plaintext and TLS)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.ledger.errors import InvalidInput, LedgerUnavailable, UnknownChannel
from services.ledger.fabric import (
    FabricLedger,
    FabricLedgerConfig,
    GatewayClient,
    GatewayEndpoint,
    RetryPolicy,
    SigningIdentity,
    Timeouts,
)
from services.ledger.fabric.errors import GatewayCallError, GatewayUnavailable
from tests.unit.ledger_fabric.support import (
    FakeLedgerState,
    TlsMaterial,
    make_tls,
    start_fake_gateway,
    write_msp,
)

FAST = RetryPolicy(attempts=3, backoff_s=0.01, max_backoff_s=0.02)


@pytest.fixture
def identity(tmp_path: Path) -> SigningIdentity:
    return SigningIdentity.from_msp_dir("OperatorMSP", write_msp(tmp_path / "msp"))


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeLedgerState, str]]:
    state = FakeLedgerState()
    server, address = await start_fake_gateway(state)
    yield state, address
    await server.stop(None)


async def test_submit_evaluate_and_events(fake, identity) -> None:  # type: ignore[no-untyped-def]
    state, address = fake
    async with GatewayClient(GatewayEndpoint(address), identity, retry=FAST) as client:
        first = await client.submit("app-zone-a", "hyperlora", "kv:put", ["k1", "v1"])
        second = await client.submit("app-zone-a", "hyperlora", "kv:put", [b"k2", b"v2"])
        assert first.commit.ok and first.commit.status == "VALID"
        assert first.result == b'{"status":"created"}'
        assert second.commit.block_number == first.commit.block_number + 1
        assert first.tx_id != second.tx_id and len(first.tx_id) == 64
        assert await client.evaluate("app-zone-a", "hyperlora", "kv:get", ["k1"]) == b"v1"
        events = []
        async for ev in client.chaincode_events("app-zone-a", "hyperlora", start_block=0):
            events.append(ev)
        assert [(e.tx_id, e.payload, e.block_number) for e in events] == [
            (first.tx_id, b"k1", first.commit.block_number),
            (second.tx_id, b"k2", second.commit.block_number),
        ]
    assert state.calls.count("Endorse") == 2 and state.calls.count("CommitStatus") == 2


async def test_chaincode_error_is_typed(fake, identity) -> None:  # type: ignore[no-untyped-def]
    _, address = fake
    async with GatewayClient(GatewayEndpoint(address), identity, retry=FAST) as client:
        with pytest.raises(InvalidInput) as info:
            await client.submit("app-zone-a", "hyperlora", "kv:fail", [])
        assert info.value.message == "InvalidInput: payload must be an object"
        assert info.value.function == "kv:fail"
        with pytest.raises(InvalidInput):
            await client.evaluate("app-zone-a", "hyperlora", "kv:fail", [])


async def test_peer_refusal_is_not_a_chaincode_error(fake, identity) -> None:  # type: ignore[no-untyped-def]
    _, address = fake
    async with GatewayClient(GatewayEndpoint(address), identity, retry=FAST) as client:
        with pytest.raises(GatewayCallError) as info:
            await client.submit("app-zone-a", "hyperlora", "kv:denied", [])
    assert info.value.code == "FAILED_PRECONDITION"
    assert "ZoneAMSP@127.0.0.1:7081: access denied: creator org" in info.value.details


async def test_transient_submit_failure_is_retried(fake, identity) -> None:  # type: ignore[no-untyped-def]
    state, address = fake
    state.unavailable_before_submit = 2
    async with GatewayClient(GatewayEndpoint(address), identity, retry=FAST) as client:
        out = await client.submit("device-ledger", "hyperlora", "kv:put", ["k", "v"])
    assert out.commit.ok
    assert state.calls.count("Submit") == 3


async def test_retries_exhausted(fake, identity) -> None:  # type: ignore[no-untyped-def]
    state, address = fake
    state.unavailable_before_submit = 5
    async with GatewayClient(GatewayEndpoint(address), identity, retry=FAST) as client:
        with pytest.raises(GatewayUnavailable):
            await client.submit("device-ledger", "hyperlora", "kv:put", ["k", "v"])


async def test_unknown_channel_is_a_call_error(fake, identity) -> None:  # type: ignore[no-untyped-def]
    _, address = fake
    async with GatewayClient(GatewayEndpoint(address), identity, retry=FAST) as client:
        with pytest.raises(GatewayCallError) as info:
            await client.evaluate("nope", "hyperlora", "kv:get", ["k"])
    assert info.value.code == "NOT_FOUND"


async def test_unreachable_gateway(identity) -> None:  # type: ignore[no-untyped-def]
    client = GatewayClient(
        GatewayEndpoint("127.0.0.1:1"), identity, timeouts=Timeouts(connect=0.3), retry=FAST
    )
    with pytest.raises(LedgerUnavailable):
        await client.connect()


async def test_tls_connection_checks_the_ca(identity) -> None:  # type: ignore[no-untyped-def]
    tls: TlsMaterial = make_tls()
    state = FakeLedgerState()
    server, address = await start_fake_gateway(state, tls)
    try:
        async with GatewayClient(
            GatewayEndpoint(address, tls_ca_pem=tls.ca_pem), identity, retry=FAST
        ) as client:
            out = await client.submit("device-ledger", "hyperlora", "kv:put", ["a", "b"])
            assert out.commit.ok
        other = make_tls()  # a CA that did not sign the server certificate
        bad = GatewayClient(
            GatewayEndpoint(address, tls_ca_pem=other.ca_pem),
            identity,
            timeouts=Timeouts(connect=0.5),
            retry=FAST,
        )
        with pytest.raises(LedgerUnavailable):
            await bad.connect()
    finally:
        await server.stop(None)


async def test_fabric_ledger_adapter(fake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, address = fake
    msp = write_msp(tmp_path / "client-msp")
    profile = {
        "profile": "two-zones",
        "client": {"msp_id": "OperatorMSP", "msp_dir": str(msp)},
        "peers": {
            "zone-a": {
                "msp_id": "ZoneAMSP",
                "address": address,
                "server_name": None,
                "tls_ca": None,
            }
        },
        "channels": {
            "device-ledger": {"chaincode": "hyperlora", "gateway_zone": "zone-a"},
            "app-zone-a": {"chaincode": "hyperlora", "gateway_zone": "zone-a"},
        },
    }
    path = tmp_path / "connection.json"
    path.write_text(json.dumps(profile))
    ledger = FabricLedger(FabricLedgerConfig.from_profile(path, retry=FAST))
    async with ledger:
        h0 = await ledger.height("device-ledger")
        res = await ledger.submit("device-ledger", "kv:put", ["dev", "1"])
        assert res.ok and res.block_number == h0
        assert await ledger.height("device-ledger") == h0 + 1
        assert await ledger.evaluate("device-ledger", "kv:get", ["dev"]) == b"1"
        with pytest.raises(UnknownChannel):
            await ledger.submit("network-ledger", "kv:put", ["x", "y"])
        status = await ledger.status()
        assert status.kind == "fabric" and status.healthy
        assert status.channels["device-ledger"]["height"] == h0 + 1
    with pytest.raises(LedgerUnavailable):
        await ledger.evaluate("device-ledger", "kv:get", ["dev"])
