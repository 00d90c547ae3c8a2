"""``<contract>:create_batch``: many records in one transaction, each stored as ``create``
stores it, with one outcome per record (created / exists / refused) so that one bad record
does not sink the others."""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaincode.base import MAX_BATCH
from chaincode.validation import canonical_json

from .conftest import OPERATOR, ZONE_A, Peer, create_args, uplink

DEV = "0102030405060708"
OTHER = "1112131415161718"


def item(f_cnt: int, idem: str | None = None, dev: str = DEV, **body: Any) -> dict[str, Any]:
    return {
        "kind": "uplink",
        "key": f"{dev}/{f_cnt}",
        "idempotency_key": idem or f"up:{dev}:{f_cnt}",
        "payload": uplink(f_cnt, dev_eui=dev, **body),
    }


async def batch(peer: Peer, *items: Any, fn: str = "application:create_batch", **kw: Any) -> Any:
    return await peer.call(fn, json.dumps(list(items)), **kw)


@pytest.fixture
async def app(peer: Peer) -> Peer:
    assert (await peer.init("application", [OPERATOR, ZONE_A])).ok
    return peer


async def test_each_record_is_stored_as_a_single_create_would(app: Peer) -> None:
    r = await batch(app, item(1), item(2, payload="beef"), item(1, dev=OTHER))
    assert r.ok and r.code == "VALID", r.message
    assert r.json() == [
        {"key": f"{DEV}/1", "status": "created"},
        {"key": f"{DEV}/2", "status": "created"},
        {"key": f"{OTHER}/1", "status": "created"},
    ]
    tx_id = r.stub.tx_id
    doc = json.loads((await app.call("application:read", "uplink", f"{DEV}/2")).payload)
    assert doc["tx_id"] == tx_id and doc["idempotency_key"] == f"up:{DEV}:2"
    assert doc["created_at"] == "2026-01-01T00:00:01.000000Z"  # the transaction's time
    assert doc["payload"]["payload_sha256"] == hashlib.sha256(bytes.fromhex("beef")).hexdigest()
    hist = json.loads((await app.call("application:history", "uplink", f"{DEV}/1")).payload)
    assert [h["tx_id"] for h in hist] == [tx_id]
    docs = json.loads((await app.call("application:by_device", DEV, 0)).payload)
    assert [d["payload"]["f_cnt"] for d in docs] == [1, 2]
    ok = json.loads((await app.call("application:verify", f"{DEV}/2", "beef")).payload)
    assert ok["match"] is True and ok["tx_id"] == tx_id
    # the same content through create (another idempotency key space) is the same document
    single = await app.call(
        "application:create", *create_args("uplink", f"{DEV}/3", f"up:{DEV}:3", uplink(3))
    )
    one = await batch(app, item(3))
    assert one.json() == [{"key": f"{DEV}/3", "status": "exists", "tx_id": single.stub.tx_id}]


async def test_outcomes_per_record_and_one_bad_record_does_not_sink_the_batch(
    app: Peer,
) -> None:
    await batch(app, item(1), item(2))
    bad_key = item(3) | {"key": f"{DEV}/4"}
    r = await batch(
        app,
        item(1),  # retry: exists
        bad_key,  # refused: InvalidInput
        item(2, payload="beef"),  # same idempotency key, other content: refused
        item(1, idem="other"),  # key taken under another idempotency key: refused
        item(5),  # created
        "not an object",
        {"kind": "uplink", "key": "x"},  # missing fields
        {**item(6), "extra": 1},
        {**item(7), "kind": ["uplink"]},
        {**item(8), "kind": "nokind"},
        {**item(9), "payload": "{not json"},
    )
    assert r.ok and r.code == "VALID", r.message
    out = r.json()
    assert [o["status"] for o in out] == ["exists", "refused", "refused", "refused", "created"] + [
        "refused"
    ] * 6
    assert out[0]["tx_id"] != r.stub.tx_id
    assert [o.get("code") for o in out[1:4]] == ["InvalidInput", "IdempotencyConflict", "KeyExists"]
    assert out[1]["error"].startswith("InvalidInput: uplink key")
    assert all(o["code"] == "InvalidInput" for o in out[5:])
    # only the created record (and the batch's event) was written
    writes = sorted(r.stub.rwset.writes)
    assert [w for w in writes if not w.startswith("evt:")] == [
        f"idem:up:{DEV}:5",
        f"rec:uplink:{DEV}/5",
    ]


async def test_a_batch_sees_its_own_earlier_records(app: Peer) -> None:
    r = await batch(
        app,
        item(1),
        item(1),  # the same record twice: the second answers exists (this transaction)
        item(1, idem="again"),  # immutable key taken earlier in the batch
        item(2),
        item(2, payload="beef"),  # its idempotency key was used for other content
    )
    out = r.json()
    assert [o["status"] for o in out] == ["created", "exists", "refused", "created", "refused"]
    assert out[1]["tx_id"] == r.stub.tx_id
    assert (out[2]["code"], out[4]["code"]) == ("KeyExists", "IdempotencyConflict")
    hist = json.loads((await app.call("application:history", "uplink", f"{DEV}/1")).payload)
    assert len(hist) == 1


async def test_device_batch_refuses_a_dev_nonce_used_earlier_in_the_batch(peer: Peer) -> None:
    assert (await peer.init("device", [OPERATOR])).ok

    def join(session: str, dev_nonce: int) -> dict[str, Any]:
        body = {
            "dev_eui": DEV,
            "join_eui": "70B3D57ED0000000",
            "dev_addr": "26011BDA",
            "dev_nonce": dev_nonce,
            "received_at": "2026-01-01T00:00:00+00:00",
        }
        return {
            "kind": "join",
            "key": f"{DEV}/{session}",
            "idempotency_key": session,
            "payload": body,
        }

    def device(name: str) -> dict[str, Any]:
        body = {"dev_eui": DEV, "join_eui": "70B3D57ED0000000", "name": name}
        return {"kind": "device", "key": DEV, "idempotency_key": f"dev:{name}", "payload": body}

    r = await batch(
        peer,
        join("s1", 7),
        join("s2", 7),
        join("s3", 8),
        device("first"),
        device("second"),  # mutable kind: the later registration replaces the earlier one
        fn="device:create_batch",
    )
    out = r.json()
    assert [o["status"] for o in out] == ["created", "refused", "created", "created", "created"]
    assert out[1]["code"] == "KeyExists" and "DevNonce 7" in out[1]["error"]
    used = json.loads(
        (await peer.call("device:check_dev_nonce", DEV, "70B3D57ED0000000", 7)).payload
    )
    assert used == {"used": True, "join_key": f"{DEV}/s1"}
    doc = json.loads((await peer.call("device:read", "device", DEV)).payload)
    assert doc["payload"]["name"] == "second"
    retry_first = await batch(peer, device("first"), fn="device:create_batch")
    assert retry_first.json()[0]["superseded"] is True


async def test_whole_batch_refusals(peer: Peer) -> None:
    r = await batch(peer, item(1))
    assert r.message.startswith("NotInitialised:")
    await peer.init("application", [OPERATOR])
    r = await batch(peer, item(1), msp="ZoneBMSP")
    assert r.message.startswith("AccessDenied:")
    for text in ("{not json", '{"kind": "uplink"}', "3"):
        r = await peer.call("application:create_batch", text)
        assert r.message.startswith("InvalidInput: records"), text
    r = await batch(peer, *[item(i) for i in range(MAX_BATCH + 1)])
    assert r.message.startswith("InvalidInput:") and str(MAX_BATCH) in r.message
    assert (await batch(peer)).json() == []


async def test_one_event_per_batch(app: Peer) -> None:
    r = await batch(app, item(1), item(2), item(3) | {"key": "bad"})
    assert [name for name, _ in r.stub.get_events()] == ["records.created"]
    (event,) = json.loads((await app.call("application:events_since", 0, 0)).payload)
    assert event["name"] == "records.created" and event["tx_id"] == r.stub.tx_id
    assert event["records"] == [["uplink", f"{DEV}/1"], ["uplink", f"{DEV}/2"]]
    again = await batch(app, item(1))  # nothing created: no write, no event
    assert again.stub.get_events() == [] and not again.stub.rwset.writes


async def test_stored_documents_are_canonical_json(app: Peer) -> None:
    """The documents are assembled around the payload's canonical text; they must equal
    canonical_json of themselves, and the content hash that of {kind, key, payload}."""
    r = await batch(app, item(1, f_port=3), item(2, dev=OTHER))
    for key, raw in r.stub.rwset.writes.items():
        assert raw is not None
        text = raw.decode()
        assert text == canonical_json(json.loads(text)), key
    doc = json.loads(r.stub.rwset.writes[f"rec:uplink:{DEV}/1"] or b"")
    content = {"kind": "uplink", "key": doc["key"], "payload": doc["payload"]}
    assert doc["content_sha256"] == hashlib.sha256(canonical_json(content).encode()).hexdigest()


# property: batches of creates, retries and conflicting reuses, several batches per block (so
# some lose MVCC races and are invalidated whole), store each idempotency key exactly once
ops = st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["aa", "bb"])), max_size=20)


async def _run_batches(path: Path, steps: list[tuple[int, str]], size: int, block: int) -> None:
    peer = Peer(path)
    try:
        await peer.init("application", [OPERATOR])
        first: dict[int, str] = {}  # f_cnt -> payload of the committed record
        pending: list[tuple[Any, list[tuple[int, str]]]] = []

        def settle() -> None:
            peer.commit(*(r for r, _ in pending))
            for r, part in pending:
                if r.code != "VALID":
                    continue
                for (f_cnt, payload), outcome in zip(part, r.json(), strict=True):
                    if outcome["status"] == "created":
                        assert f_cnt not in first  # never twice
                        first[f_cnt] = payload
            pending.clear()

        for i in range(0, len(steps), size):
            part = steps[i : i + size]
            items = [item(f, idem=f"up:{f}", payload=p) for f, p in part]
            r = await peer.endorse("application:create_batch", json.dumps(items))
            assert r.ok, r.message
            seen: dict[int, str] = {}
            for (f_cnt, payload), outcome in zip(part, r.json(), strict=True):
                known = first.get(f_cnt, seen.get(f_cnt))
                if known is None:
                    assert outcome["status"] == "created"
                    seen[f_cnt] = payload
                elif known == payload:
                    assert outcome["status"] == "exists"
                else:
                    assert outcome["code"] == "IdempotencyConflict"
            if r.stub.rwset.writes:
                pending.append((r, part))
            if len(pending) >= block:
                settle()
        settle()
        for f_cnt, payload in first.items():
            raw = (await peer.endorse("application:history", "uplink", f"{DEV}/{f_cnt}")).payload
            (entry,) = json.loads(raw)
            assert entry["record"]["payload"]["payload"] == payload
        assert peer.store.verify() is None
    finally:
        peer.store.close()


@settings(max_examples=100, deadline=None)
@given(steps=ops, size=st.integers(1, 5), block=st.integers(1, 4))
def test_batches_store_each_idempotency_key_exactly_once(
    steps: list[tuple[int, str]], size: int, block: int
) -> None:
    with tempfile.TemporaryDirectory() as d:
        asyncio.run(_run_batches(Path(d) / "p.ledger.sqlite", steps, size, block))
