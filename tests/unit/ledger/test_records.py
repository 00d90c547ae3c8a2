"""``Ledger.submit_records``: the embedded ledger stores a batch of records in ONE
``<contract>:create_batch`` transaction with an outcome per record; the default (any adapter
that only has ``submit``) gives the same outcomes with one transaction per record."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from services.ledger import errors
from services.ledger.base import (
    CommitResult,
    Ledger,
    LedgerStatus,
    RecordResult,
    RecordWrite,
    batch_args,
)
from services.ledger.embedded import EmbeddedLedger, default_policy

from .conftest import DEV, FakeClock, WallNs, uplink_args

CH = "app-zone-a"


def rec(f_cnt: int, idem: str | None = None, payload: str = "cafe") -> RecordWrite:
    kind, key, idem_, body = uplink_args(f_cnt, idem, payload)
    return RecordWrite(kind, key, idem_, body)


class SubmitOnly(Ledger):
    """A wrapper that only knows ``submit`` (like a test or study wrapper): the base class's
    ``submit_records`` runs, one ``create`` transaction per record."""

    def __init__(self, inner: Ledger) -> None:
        self.inner = inner
        self.functions: list[str] = []

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def submit(
        self, channel: str, contract_fn: str, args: Sequence[str], *, tx_id: str | None = None
    ) -> CommitResult:
        self.functions.append(contract_fn)
        return await self.inner.submit(channel, contract_fn, args, tx_id=tx_id)

    async def evaluate(self, channel: str, contract_fn: str, args: Sequence[str]) -> bytes:
        return await self.inner.evaluate(channel, contract_fn, args)

    async def height(self, channel: str) -> int:
        return await self.inner.height(channel)

    async def status(self) -> LedgerStatus:
        return await self.inner.status()


@pytest.fixture
async def ledger(tmp_path: Path) -> Any:
    led = EmbeddedLedger(tmp_path, batch_size=10, batch_timeout_s=0.01, wall_clock_ns=WallNs())
    await led.start()
    yield led
    await led.stop()


def tx_count(ledger: EmbeddedLedger) -> int:
    return int(ledger.store(CH).execute("SELECT COUNT(*) FROM txs")[0][0])


async def test_one_transaction_for_a_batch(ledger: EmbeddedLedger) -> None:
    results = await ledger.submit_records(CH, "application", [rec(i) for i in range(5)])
    assert all(isinstance(r, RecordResult) and r.status == "created" for r in results)
    tx_ids = {r.tx_id for r in results}  # type: ignore[union-attr]
    assert len(tx_ids) == 1 and tx_count(ledger) == 2  # genesis + one transaction
    (tx_id,) = tx_ids
    assert ledger.store(CH).tx_status(tx_id) == (1, "VALID")
    assert {r.block_number for r in results} == {1}  # type: ignore[union-attr]
    doc = json.loads(await ledger.evaluate(CH, "application:read", ["uplink", f"{DEV}/3"]))
    assert doc["tx_id"] == tx_id
    assert ledger.verify_chain(CH) is None
    assert await ledger.submit_records(CH, "application", []) == []


@pytest.mark.parametrize("wrapped", [False, True], ids=["one-transaction", "per-record"])
async def test_outcomes_per_record(ledger: EmbeddedLedger, wrapped: bool) -> None:
    target: Ledger = SubmitOnly(ledger) if wrapped else ledger
    (first,) = await target.submit_records(CH, "application", [rec(1)])
    assert isinstance(first, RecordResult)
    bad = RecordWrite("uplink", f"{DEV}/9", "up:bad", rec(2).payload)
    results = await target.submit_records(
        CH,
        "application",
        [
            rec(1),  # retry: exists, with the original transaction
            rec(1, payload="beef"),  # same idempotency key, other content
            rec(1, idem="other"),  # key taken
            bad,  # key does not match the payload
            rec(2),
        ],
    )
    exists, conflict, taken, invalid, created = results
    assert isinstance(exists, RecordResult) and exists.status == "exists"
    assert exists.tx_id == first.tx_id
    assert isinstance(conflict, errors.IdempotencyConflict)
    assert isinstance(taken, errors.KeyExists)
    assert isinstance(invalid, errors.InvalidInput) and "uplink key" in invalid.message
    assert isinstance(created, RecordResult) and created.status == "created"
    if isinstance(target, SubmitOnly):
        assert set(target.functions) == {"application:create"}


async def test_a_batch_that_lost_an_mvcc_race_is_invalidated_whole(tmp_path: Path) -> None:
    clock = FakeClock()
    ledger = EmbeddedLedger(
        tmp_path, batch_size=10, clock=clock, wall_clock_ns=WallNs(), auto_cut=False
    )
    await ledger.start()
    try:
        a = asyncio.create_task(ledger.submit_records(CH, "application", [rec(1), rec(2)]))
        b = asyncio.create_task(ledger.submit_records(CH, "application", [rec(3), rec(2)]))
        for _ in range(100):  # both endorsed, waiting for their block
            if (await ledger.status()).channels.get(CH, {}).get("pending") == 2:
                break
            await asyncio.sleep(0)
        clock.advance(1)
        ledger.tick()
        ra, rb = await a, await b
        assert all(isinstance(r, RecordResult) and r.status == "created" for r in ra)
        assert all(isinstance(r, errors.TransactionInvalidated) for r in rb)
        assert rb[0].status == "MVCC_READ_CONFLICT"  # type: ignore[union-attr]
        retry = asyncio.create_task(ledger.submit_records(CH, "application", [rec(3), rec(2)]))
        await asyncio.sleep(0)
        clock.advance(1)
        ledger.tick()
        three, two = await retry
        assert isinstance(three, RecordResult) and three.status == "created"
        assert isinstance(two, RecordResult) and two.status == "exists"
        assert two.tx_id == ra[0].tx_id  # type: ignore[union-attr]
    finally:
        await ledger.stop()


async def test_a_payload_that_breaks_the_batch_falls_back_to_one_transaction_each(
    ledger: EmbeddedLedger,
) -> None:
    broken = RecordWrite("uplink", f"{DEV}/5", "up:5", "{not json")
    results = await ledger.submit_records(CH, "application", [rec(4), broken, rec(6)])
    assert isinstance(results[1], errors.InvalidInput)
    assert [getattr(r, "status", None) for r in (results[0], results[2])] == ["created"] * 2
    assert results[0].tx_id != results[2].tx_id  # type: ignore[union-attr]


async def test_whole_batch_failures_reach_every_record(tmp_path: Path) -> None:
    async with EmbeddedLedger(
        tmp_path, msp_id="ZoneBMSP", policy=default_policy("OperatorMSP"), batch_timeout_s=0.01
    ) as ledger:
        results = await ledger.submit_records(CH, "application", [rec(1), rec(2)])
        assert all(isinstance(r, errors.AccessDenied) for r in results)
    results = await ledger.submit_records(CH, "application", [rec(1), rec(2)])
    assert all(isinstance(r, errors.LedgerUnavailable) for r in results)


def test_batch_args_embed_each_payload_as_an_object() -> None:
    records = [rec(1), RecordWrite("device", 'a"b', "i\u00e9", '{"x": [1, 2]}')]
    items = json.loads(batch_args(records))
    assert items[0]["payload"] == json.loads(records[0].payload)
    assert items[1] == {
        "kind": "device",
        "key": 'a"b',
        "idempotency_key": "i\u00e9",
        "payload": {"x": [1, 2]},
    }
    assert json.loads(batch_args([])) == []
