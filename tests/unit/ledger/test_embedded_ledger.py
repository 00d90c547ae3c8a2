"""The embedded ledger: block cutting, MVCC, hash chain, tampering, restart."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from services.ledger import errors
from services.ledger.base import Invocation
from services.ledger.embedded import EmbeddedLedger, default_policy
from services.ledger.embedded.store import channel_path

from .conftest import DEV, FakeClock, WallNs, uplink_args

CH = "app-zone-a"
FN = "application:create"


def manual(tmp_path: Path, clock: FakeClock, **kw: object) -> EmbeddedLedger:
    return EmbeddedLedger(
        tmp_path,
        batch_size=3,
        batch_timeout_s=0.25,
        clock=clock,
        wall_clock_ns=WallNs(),
        auto_cut=False,
        **kw,  # type: ignore[arg-type]
    )


async def _pending(ledger: EmbeddedLedger, n: int) -> None:
    for _ in range(100):
        if (await ledger.status()).channels.get(CH, {}).get("pending") == n:
            return
        await asyncio.sleep(0)
    raise AssertionError("transactions did not reach the orderer")


async def test_genesis_block_configures_the_channel(tmp_path: Path) -> None:
    async with EmbeddedLedger(tmp_path, wall_clock_ns=WallNs()) as ledger:
        cfg = json.loads(
            await ledger.evaluate(CH, "application:get_config", []) if False else b"{}"
        )
        assert cfg == {}
        # first use creates the channel: block 0 holds the init transaction
        r = await ledger.submit(CH, FN, uplink_args(1))
        assert r.ok and r.block_number == 1
        cfg = json.loads(await ledger.evaluate(CH, "application:get_config", []))
        assert cfg == {"admins": ["OperatorMSP"], "writers": ["OperatorMSP", "ZoneAMSP"]}
        assert await ledger.height(CH) == 2


async def test_blocks_cut_by_size_then_by_timeout(tmp_path: Path) -> None:
    clock = FakeClock()
    ledger = manual(tmp_path, clock)
    await ledger.start()
    tasks = [asyncio.create_task(ledger.submit(CH, FN, uplink_args(i))) for i in range(7)]
    await _pending(ledger, 1)  # 3 + 3 cut by size, 1 waiting
    assert await ledger.height(CH) == 3
    assert ledger.tick() == 0  # not yet due
    clock.advance(0.249)
    assert ledger.tick() == 0
    clock.advance(0.001)
    assert ledger.tick() == 1
    results = await asyncio.gather(*tasks)
    assert [r.block_number for r in results] == [1, 1, 1, 2, 2, 2, 3]
    assert all(r.ok for r in results)
    assert await ledger.height(CH) == 4
    await ledger.stop()


async def test_auto_cut_by_timeout(tmp_path: Path) -> None:
    async with EmbeddedLedger(tmp_path, batch_size=100, batch_timeout_s=0.02) as ledger:
        r = await asyncio.wait_for(ledger.submit(CH, FN, uplink_args(1)), 2.0)
        assert r.ok and r.block_number == 1


async def test_mvcc_conflict_within_a_block(tmp_path: Path) -> None:
    clock = FakeClock()
    ledger = manual(tmp_path, clock)
    await ledger.start()
    args = uplink_args(1)
    a = asyncio.create_task(ledger.submit(CH, FN, args))
    b = asyncio.create_task(ledger.submit(CH, FN, args))  # a retry racing the first attempt
    await _pending(ledger, 2)
    clock.advance(1)
    ledger.tick()
    ra, rb = await a, await b
    assert (ra.status, rb.status) == ("VALID", "MVCC_READ_CONFLICT")
    assert ra.block_number == rb.block_number
    retry = await asyncio.wait_for(ledger.submit(CH, FN, args), 1)
    assert json.loads(retry.payload)["status"] == "exists"
    hist = json.loads(await ledger.evaluate(CH, "application:history", ["uplink", f"{DEV}/1"]))
    assert len(hist) == 1
    await ledger.stop()


async def test_errors_are_typed(tmp_path: Path) -> None:
    async with EmbeddedLedger(tmp_path, batch_timeout_s=0.01) as ledger:
        await ledger.submit(CH, FN, uplink_args(1))
        with pytest.raises(errors.IdempotencyConflict):
            await ledger.submit(CH, FN, uplink_args(1, payload="beef"))
        with pytest.raises(errors.InvalidInput):
            await ledger.submit(CH, FN, ["uplink", "x", "y", "{}"])
        with pytest.raises(errors.RecordNotFound):
            await ledger.evaluate(CH, "application:read", ["uplink", f"{DEV}/99"])
        with pytest.raises(errors.UnknownChannel):
            await ledger.evaluate("app-nowhere", "application:read", ["uplink", "k"])
        with pytest.raises(errors.UnknownChannel):
            await ledger.submit("Bad_Name", FN, uplink_args(2))
        with pytest.raises(errors.DuplicateTxId):
            r = await ledger.submit(CH, FN, uplink_args(3), tx_id="t-1")
            await ledger.submit(CH, FN, uplink_args(4), tx_id=r.tx_id)
    with pytest.raises(errors.LedgerUnavailable):
        await ledger.submit(CH, FN, uplink_args(5))


async def test_access_denied_for_other_zone_msp(tmp_path: Path) -> None:
    policy = default_policy("OperatorMSP")
    async with EmbeddedLedger(
        tmp_path, msp_id="ZoneBMSP", policy=policy, batch_timeout_s=0.01
    ) as ledger:
        with pytest.raises(errors.AccessDenied):
            await ledger.submit(CH, FN, uplink_args(1))  # app-zone-a: operator + ZoneAMSP
        r = await ledger.submit("app-zone-b", FN, uplink_args(1, zone="zone-b"))
        assert r.ok


async def test_chain_verifies_and_tampering_is_found_at_the_right_block(tmp_path: Path) -> None:
    async with EmbeddedLedger(tmp_path, batch_size=2, batch_timeout_s=0.01) as ledger:
        res = await ledger.submit_batch(CH, [Invocation(FN, uplink_args(i)) for i in range(8)])
        assert all(not isinstance(r, BaseException) and r.ok for r in res)
        height = await ledger.height(CH)
        assert height == 5
        assert ledger.verify_chain(CH) is None
    db = sqlite3.connect(channel_path(tmp_path, CH))
    body = db.execute("SELECT body FROM txs WHERE block_number = 3 AND tx_num = 1").fetchone()[0]
    db.execute(
        "UPDATE txs SET body = ? WHERE block_number = 3 AND tx_num = 1",
        (body.replace("cafe", "beef"),),
    )
    db.commit()
    async with EmbeddedLedger(tmp_path) as ledger:
        assert ledger.verify_chain(CH) == 3
    db.execute("UPDATE blocks SET timestamp_ns = timestamp_ns + 1 WHERE number = 2")
    db.commit()
    db.close()
    async with EmbeddedLedger(tmp_path) as ledger:
        assert ledger.verify_chain(CH) == 2


async def test_restart_keeps_state_and_height(tmp_path: Path) -> None:
    async with EmbeddedLedger(tmp_path, batch_timeout_s=0.01) as ledger:
        for i in range(3):
            await ledger.submit(CH, FN, uplink_args(i))
        height = await ledger.height(CH)
    async with EmbeddedLedger(tmp_path, batch_timeout_s=0.01) as ledger:
        assert await ledger.height(CH) == height
        assert (await ledger.status()).channels[CH]["height"] == height
        doc = json.loads(await ledger.evaluate(CH, "application:read", ["uplink", f"{DEV}/2"]))
        assert doc["payload"]["f_cnt"] == 2
        again = await ledger.submit(CH, FN, uplink_args(2))
        assert json.loads(again.payload)["status"] == "exists"
        r = await ledger.submit(CH, FN, uplink_args(3))
        assert r.block_number == height
        assert ledger.verify_chain(CH) is None


async def test_stop_commits_pending_transactions(tmp_path: Path) -> None:
    clock = FakeClock()
    ledger = manual(tmp_path, clock)
    await ledger.start()
    task = asyncio.create_task(ledger.submit(CH, FN, uplink_args(1)))
    await _pending(ledger, 1)
    await ledger.stop()
    assert (await task).ok


async def test_tx_timestamps_come_from_the_injected_wall_clock(tmp_path: Path) -> None:
    wall = WallNs(start=1_767_225_600_000_000_000)
    async with EmbeddedLedger(tmp_path, wall_clock_ns=wall, batch_timeout_s=0.01) as ledger:
        r = await ledger.submit(CH, FN, uplink_args(1))
    created = json.loads(r.payload)["record"]["created_at"]
    assert created.startswith("2026-01-01T00:00:00.00")


async def test_a_failed_block_write_fails_its_transactions_only(tmp_path: Path) -> None:
    """Blocks are written in the channel's committer thread; when writing one fails, its
    submitters get LedgerUnavailable and the next block commits normally."""
    async with EmbeddedLedger(tmp_path, batch_size=2, batch_timeout_s=0.01) as ledger:
        assert (await ledger.submit(CH, FN, uplink_args(0))).ok
        store = ledger.store(CH)
        real = store.commit_block
        calls = 0

        def flaky(txs: object, ts: int) -> object:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise sqlite3.OperationalError("disk I/O error")
            return real(txs, ts)  # type: ignore[arg-type]

        store.commit_block = flaky  # type: ignore[method-assign]
        res = await ledger.submit_batch(CH, [Invocation(FN, uplink_args(i)) for i in (1, 2)])
        assert all(isinstance(r, errors.LedgerUnavailable) for r in res), res
        res = await ledger.submit_batch(CH, [Invocation(FN, uplink_args(i)) for i in (1, 2)])
        assert [(r.ok, r.block_number) for r in res] == [(True, 2), (True, 2)]  # type: ignore[union-attr]
        assert await ledger.height(CH) == 3
        assert ledger.verify_chain(CH) is None


async def test_results_follow_block_order_and_height_waits_for_written_blocks(
    tmp_path: Path,
) -> None:
    async with EmbeddedLedger(tmp_path, batch_size=3, batch_timeout_s=0.01) as ledger:
        res = await ledger.submit_batch(CH, [Invocation(FN, uplink_args(i)) for i in range(10)])
        numbers = [r.block_number for r in res]  # type: ignore[union-attr]
        assert numbers == sorted(numbers) and numbers[0] == 1 and numbers[-1] == 4
        assert await ledger.height(CH) == 5
        tx_ids = {r.tx_id for r in res}  # type: ignore[union-attr]
        assert len(tx_ids) == 10 and all(len(t) == 64 for t in tx_ids)


async def test_create_response_is_the_canonical_json_of_the_stored_record(
    tmp_path: Path,
) -> None:
    async with EmbeddedLedger(tmp_path, batch_timeout_s=0.01) as ledger:
        r = await ledger.submit(CH, FN, uplink_args(7))
        body = json.loads(r.payload)
        assert body["status"] == "created"
        assert r.payload.decode() == json.dumps(body, sort_keys=True, separators=(",", ":"))
        stored = await ledger.evaluate(CH, "application:read", ["uplink", f"{DEV}/7"])
        assert json.loads(stored) == body["record"]


async def test_a_given_tx_id_already_stored_is_refused(tmp_path: Path) -> None:
    async with EmbeddedLedger(tmp_path, batch_timeout_s=0.01) as ledger:
        r = await ledger.submit(CH, FN, uplink_args(1), tx_id="t" * 64)
        assert r.ok
        with pytest.raises(errors.DuplicateTxId):
            await ledger.submit(CH, FN, uplink_args(2), tx_id="t" * 64)
