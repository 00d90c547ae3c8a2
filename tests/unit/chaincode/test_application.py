"""Application contract through the real ContractChaincode over the embedded stub."""

from __future__ import annotations

import hashlib
import json

import pytest

from .conftest import OPERATOR, ZONE_A, Peer, create_args, uplink

DEV = "0102030405060708"


@pytest.fixture
async def app(peer: Peer) -> Peer:
    assert (await peer.init("application", [OPERATOR, ZONE_A])).ok
    return peer


async def test_create_stores_record_with_hash_and_ledger_time(app: Peer) -> None:
    r = await app.call("application:create", *create_args("uplink", f"{DEV}/1", "up:1", uplink()))
    assert r.ok and r.code == "VALID", r.message
    body = r.json()
    assert body["status"] == "created"
    rec = body["record"]
    assert rec["payload"]["payload_sha256"] == hashlib.sha256(bytes.fromhex("cafe")).hexdigest()
    assert rec["tx_id"] == r.stub.tx_id
    assert rec["created_at"] == "2026-01-01T00:00:01.000000Z"  # the tx timestamp, not wall time
    stored = json.loads((await app.call("application:read", "uplink", f"{DEV}/1")).payload)
    assert stored == rec


async def test_retry_with_same_idempotency_key_returns_existing_and_writes_nothing(
    app: Peer,
) -> None:
    args = create_args("uplink", f"{DEV}/1", "up:1", uplink())
    first = await app.call("application:create", *args)
    again = await app.call("application:create", *args)
    assert again.ok
    assert again.json()["status"] == "exists"
    assert again.json()["record"]["tx_id"] == first.stub.tx_id
    assert again.stub.rwset.writes == {}
    hist = json.loads((await app.call("application:history", "uplink", f"{DEV}/1")).payload)
    assert len(hist) == 1


async def test_same_idempotency_key_other_content_is_a_conflict(app: Peer) -> None:
    await app.call("application:create", *create_args("uplink", f"{DEV}/1", "up:1", uplink()))
    r = await app.call(
        "application:create", *create_args("uplink", f"{DEV}/1", "up:1", uplink(payload="beef"))
    )
    assert not r.ok
    assert r.message.startswith("IdempotencyConflict:")


async def test_same_key_other_idempotency_key_is_refused_for_immutable_kind(app: Peer) -> None:
    await app.call("application:create", *create_args("uplink", f"{DEV}/1", "up:1", uplink()))
    r = await app.call("application:create", *create_args("uplink", f"{DEV}/1", "up:X", uplink()))
    assert r.message.startswith("KeyExists:")


async def test_two_retries_in_one_block_commit_once(app: Peer) -> None:
    args = create_args("uplink", f"{DEV}/1", "up:1", uplink())
    a = await app.endorse("application:create", *args)
    b = await app.endorse("application:create", *args)
    assert app.commit(a, b) == ["VALID", "MVCC_READ_CONFLICT"]
    retry = await app.call("application:create", *args)
    assert retry.json()["status"] == "exists"
    assert retry.json()["record"]["tx_id"] == a.stub.tx_id


async def test_verify_ok_and_tampered_payload(app: Peer) -> None:
    await app.call("application:create", *create_args("uplink", f"{DEV}/1", "up:1", uplink()))
    ok = json.loads((await app.call("application:verify", f"{DEV}/1", "cafe")).payload)
    assert ok["match"] is True
    bad = json.loads((await app.call("application:verify", f"{DEV}/1", "cafd")).payload)
    assert bad["match"] is False
    assert bad["stored_sha256"] != bad["computed_sha256"]
    missing = await app.call("application:verify", f"{DEV}/9", "cafe")
    assert missing.message.startswith("NotFound:")


async def test_range_by_device_and_limit(app: Peer) -> None:
    other = "1112131415161718"
    for f_cnt in (10, 2, 1):
        await app.call(
            "application:create",
            *create_args("uplink", f"{DEV}/{f_cnt}", f"u{f_cnt}", uplink(f_cnt)),
        )
    await app.call(
        "application:create",
        *create_args("uplink", f"{other}/1", "o1", uplink(1, dev_eui=other)),
    )
    docs = json.loads((await app.call("application:by_device", DEV, 0)).payload)
    assert [d["payload"]["f_cnt"] for d in docs] == [1, 2, 10]
    everything = json.loads(
        (await app.call("application:range_query", "uplink", "", "", 0)).payload
    )
    assert len(everything) == 4
    assert [d["key"] for d in everything] == sorted(d["key"] for d in everything)
    window = json.loads(
        (await app.call("application:range_query", "uplink", f"{DEV}/1", f"{DEV}/2", 0)).payload
    )
    assert [d["key"] for d in window] == [f"{DEV}/1", f"{DEV}/10"]  # string order of keys
    limited = json.loads((await app.call("application:range_query", "uplink", "", "", 2)).payload)
    assert len(limited) == 2


async def test_by_time_rich_query(app: Peer) -> None:
    for f_cnt in range(4):  # one per second from 00:00:01
        await app.call(
            "application:create",
            *create_args("uplink", f"{DEV}/{f_cnt}", f"u{f_cnt}", uplink(f_cnt)),
        )
    docs = json.loads(
        (
            await app.call(
                "application:by_time", "uplink", "2026-01-01T00:00:02", "2026-01-01T00:00:04", 0
            )
        ).payload
    )
    assert [d["payload"]["f_cnt"] for d in docs] == [1, 2]


async def test_events_are_readable(app: Peer) -> None:
    r = await app.call("application:create", *create_args("uplink", f"{DEV}/1", "u1", uplink()))
    assert r.stub.get_events()[0][0] == "record.created"
    events = json.loads((await app.call("application:events_since", 0, 0)).payload)
    assert [(e["name"], e["key"], e["tx_id"]) for e in events] == [
        ("record.created", f"{DEV}/1", r.stub.tx_id)
    ]
    later = json.loads((await app.call("application:events_since", 2**62, 0)).payload)
    assert later == []


async def test_endorsement_is_deterministic(app: Peer) -> None:
    args = create_args("uplink", f"{DEV}/1", "u1", uplink())
    a = await app.endorse("application:create", *args, tx_id="same", ts_ns=5 * 10**18)
    b = await app.endorse("application:create", *args, tx_id="same", ts_ns=5 * 10**18)
    assert a.payload == b.payload
    assert a.stub.rwset.to_json() == b.stub.rwset.to_json()
    c = await app.endorse("application:create", *args, tx_id="same", ts_ns=5 * 10**18 + 1000)
    assert c.json()["record"]["created_at"] == "2128-06-11T08:53:20.000001Z"


BAD_UPLINKS = [
    ("bad dev_eui", f"{DEV}/1", uplink(dev_eui="XYZ"), "uplink.dev_eui"),
    ("negative f_cnt", f"{DEV}/-1", uplink(f_cnt=-1), "uplink.f_cnt"),
    ("f_cnt too big", f"{DEV}/1", uplink(f_cnt=2**32), "uplink.f_cnt"),
    ("wrong hash", f"{DEV}/1", uplink(payload_sha256="00" * 32), "payload_sha256"),
    ("odd hex payload", f"{DEV}/1", uplink(payload="abc"), "uplink.payload"),
    ("unknown field", f"{DEV}/1", uplink(colour="red"), "unknown field"),
    ("key mismatch", f"{DEV}/2", uplink(), "uplink key"),
    ("bad time", f"{DEV}/1", uplink(received_at="yesterday"), "received_at"),
    ("naive time", f"{DEV}/1", uplink(received_at="2026-01-01T00:00:00"), "UTC offset"),
]


@pytest.mark.parametrize(
    ("case", "key", "body", "needle"), BAD_UPLINKS, ids=[c[0] for c in BAD_UPLINKS]
)
async def test_invalid_inputs_are_refused_with_clear_errors(
    app: Peer, case: str, key: str, body: dict[str, object], needle: str
) -> None:
    r = await app.call("application:create", *create_args("uplink", key, "idem", body))
    assert r.message.startswith("InvalidInput:"), r.message
    assert needle in r.message


async def test_missing_field_and_bad_json_and_unknown_kind(app: Peer) -> None:
    body = uplink()
    del body["gateways"]
    r = await app.call("application:create", *create_args("uplink", f"{DEV}/1", "i", body))
    assert "missing field(s) gateways" in r.message
    r = await app.call("application:create", "uplink", f"{DEV}/1", "i", "{not json")
    assert r.message.startswith("InvalidInput: payload is not valid JSON")
    r = await app.call("application:create", *create_args("join", f"{DEV}/1", "i", uplink()))
    assert r.message.startswith("InvalidInput: unknown kind 'join'")
    r = await app.call("application:create", "uplink", f"{DEV}/1")
    assert "incorrect number of params" in r.message


async def test_uppercase_normalisation_of_identifiers(app: Peer) -> None:
    r = await app.call(
        "application:create",
        *create_args("uplink", "0102030405060a0b/1", "i", uplink(dev_eui="0102030405060a0b")),
    )
    assert r.ok, r.message
    assert r.json()["record"]["key"] == "0102030405060A0B/1"
    assert r.json()["record"]["payload"]["dev_eui"] == "0102030405060A0B"
