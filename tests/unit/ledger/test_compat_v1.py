"""A channel written before create_batch (rows in vectors/embedded_ledger_v1.json) still
verifies (``hyperlora ledger verify`` too), its records are found again by retries through
create_batch (same content hashes), new blocks chain onto it, and the current contracts store
a record byte for byte as the old code did."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from chaincode.contracts import new_chaincode
from services.cli.ledger import app
from services.ledger.base import RecordResult, RecordWrite
from services.ledger.embedded import EmbeddedLedger
from services.ledger.embedded.store import SCHEMA, ChannelStore, PendingTx, channel_path
from services.ledger.embedded.stub import EmbeddedStub

VECTOR = json.loads((Path(__file__).parent / "vectors" / "embedded_ledger_v1.json").read_text())
CH = VECTOR["channel"]


def _restore(data_dir: Path) -> Path:
    path = channel_path(data_dir, CH)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)
    db.executemany("INSERT INTO blocks VALUES (?, ?, ?, ?, ?, ?)", VECTOR["blocks"])
    db.executemany("INSERT INTO txs VALUES (?, ?, ?, ?, ?)", VECTOR["txs"])
    db.executemany(
        "INSERT INTO state VALUES (?, ?, ?, ?)",
        [(k, v.encode(), b, t) for k, v, b, t in VECTOR["state"]],
    )
    db.executemany(
        "INSERT INTO history VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (k, b, t, tx, None if v is None else v.encode(), d, ts)
            for k, b, t, tx, v, d, ts in VECTOR["history"]
        ],
    )
    db.commit()
    db.close()
    return path


def _writes() -> list[RecordWrite]:
    return [RecordWrite(*args) for args in VECTOR["records"]]


def _old_state() -> dict[str, str]:
    return {k: v for k, v, _, _ in VECTOR["state"]}


def test_old_chain_verifies_with_the_cli(tmp_path: Path) -> None:
    _restore(tmp_path)
    res = CliRunner().invoke(app, ["verify", "--data-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert f"{CH}: OK" in res.output


async def test_retries_through_create_batch_find_the_old_records(tmp_path: Path) -> None:
    _restore(tmp_path)
    height = len(VECTOR["blocks"])
    old_tx = {json.loads(v)["key"]: json.loads(v)["tx_id"] for k, v in _old_state().items()
              if k.startswith("rec:")}  # fmt: skip
    async with EmbeddedLedger(tmp_path, batch_timeout_s=0.01) as ledger:
        assert ledger.verify_chain(CH) is None
        results = await ledger.submit_records(CH, "application", _writes())
        # same idempotency keys and same content hashes: "exists", nothing written
        assert all(isinstance(r, RecordResult) and r.status == "exists" for r in results)
        keys = [w.key for w in _writes()]
        assert [r.tx_id for r in results] == [old_tx[k] for k in keys]  # type: ignore[union-attr]
        assert await ledger.height(CH) == height
        # new records chain onto the old blocks
        new = RecordWrite(
            "uplink",
            "0102030405060708/9",
            "up:0102030405060708:s1:9",
            json.dumps(
                {
                    "dev_eui": "0102030405060708",
                    "f_cnt": 9,
                    "received_at": "2026-01-01T00:00:09+00:00",
                    "gateways": ["AABBCCDDEEFF0011"],
                    "payload": "09",
                    "origin_zone": "zone-a",
                    "stored_zone": "zone-a",
                }
            ),
        )
        (created,) = await ledger.submit_records(CH, "application", [new])
        assert isinstance(created, RecordResult) and created.status == "created"
        assert created.block_number == height
        docs = json.loads(
            await ledger.evaluate(CH, "application:by_device", ["0102030405060708", "0"])
        )
        assert [d["payload"]["f_cnt"] for d in docs] == [0, 1, 2, 3, 4, 5, 9]
        assert ledger.verify_chain(CH) is None


async def _endorse(store: ChannelStore, cc: Any, tx_id: str, ts_ns: int, args: list[str]) -> Any:
    stub = EmbeddedStub(
        store, channel_id=CH, tx_id=tx_id, args=args, msp_id="OperatorMSP", timestamp_ns=ts_ns
    )
    response = await cc.invoke(stub)
    assert response.status < 400, response.message
    return stub


@pytest.mark.parametrize("function", ["create", "create_batch"])
async def test_records_are_stored_byte_for_byte_as_before(tmp_path: Path, function: str) -> None:
    """Each old record transaction replayed on an empty channel (same tx id and time) writes
    exactly the old state values: record document, idempotency entry (and so content hash)."""
    cc = new_chaincode()
    store = ChannelStore(tmp_path / "replay.ledger.sqlite")
    try:
        genesis = json.loads(VECTOR["txs"][0][3])
        init = [genesis["function"], *genesis["args"]]
        stub = await _endorse(store, cc, genesis["tx_id"], genesis["timestamp_ns"], init)
        store.commit_block([PendingTx(stub.tx_id, {}, stub.rwset, 0)], 0)
        old = _old_state()
        for row in VECTOR["txs"][1:]:
            body = json.loads(row[3])
            args = body["args"]
            if function == "create_batch":
                kind, key, idem, payload = args
                item = {"kind": kind, "key": key, "idempotency_key": idem, "payload": payload}
                call = ["application:create_batch", json.dumps([item])]
            else:
                call = ["application:create", *args]
            stub = await _endorse(store, cc, body["tx_id"], body["timestamp_ns"], call)
            records = {k: v for k, v in stub.rwset.writes.items() if not k.startswith("evt:")}
            assert len(records) == 2
            for key, value in records.items():
                assert value is not None and value.decode() == old[key], key
    finally:
        store.close()
