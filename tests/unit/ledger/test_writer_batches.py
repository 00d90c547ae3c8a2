"""The ledger writer on the batch path: one transaction per writer batch, per-record outcomes
(a refused record does not sink its batch), whole-batch retries (outage, lost commit status,
MVCC), and the outbox's group commit behind the bus completion."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from services.bus import Envelope, MemoryBus, Topic
from services.ledger import errors
from services.ledger.base import Ledger, RecordResult, RecordWrite
from services.ledger.embedded import EmbeddedLedger
from services.ledger.outbox import NewRecord, Outbox
from services.ledger.writer import OUTBOX_RETRIES, Confirmation, LedgerWriter, WriterConfig

from .conftest import DEV
from .test_writer import FAST, Flaky, history_len, until, uplink


class FlakyRecords(Flaky):
    """Flaky on the batch path: ``down`` fails every batch (LedgerUnavailable);
    ``lose_status`` batches commit but their status is lost (CommitTimeout); ``invalidate``
    batches are answered as invalidated (MVCC) without reaching the ledger."""

    def __init__(self, inner: Ledger) -> None:
        super().__init__(inner)
        self.invalidate = 0
        self.batches: list[int] = []
        self.lost: list[int] = []  # sizes of the batches whose commit status was lost

    async def submit(self, channel: str, contract_fn: str, args: Sequence[str], **kw: Any) -> Any:
        raise AssertionError("the writer must store records with submit_records")

    async def submit_records(
        self, channel: str, contract: str, records: Sequence[RecordWrite]
    ) -> list[RecordResult | BaseException]:
        self.batches.append(len(records))
        if self.down:
            return [errors.LedgerUnavailable("down (test)")] * len(records)
        if self.invalidate > 0:
            self.invalidate -= 1
            lost = errors.TransactionInvalidated("t", 1, "MVCC_READ_CONFLICT")
            return [lost] * len(records)
        results = await self.inner.submit_records(channel, contract, records)
        if self.lose_status > 0:
            self.lose_status -= 1
            self.lost.append(len(records))
            raise errors.CommitTimeout("commit status lost (test)")
        return results


@pytest.fixture
async def ledger(tmp_path: Path) -> Any:
    led = EmbeddedLedger(tmp_path / "ledger", batch_size=10, batch_timeout_s=0.01)
    await led.start()
    yield led
    await led.stop()


async def test_one_transaction_per_writer_batch(ledger: EmbeddedLedger, tmp_path: Path) -> None:
    confirmations: list[Confirmation] = []
    writer = LedgerWriter(ledger, data_dir=tmp_path, config=FAST, on_commit=confirmations.append)
    await writer.start()
    await asyncio.gather(*(writer.accept(uplink(i)) for i in range(20)))
    await until(lambda: len(confirmations) == 20)
    store = ledger.store("app-zone-a")
    txs = int(store.execute("SELECT COUNT(*) FROM txs WHERE tx_id NOT LIKE 'genesis%'")[0][0])
    assert txs == 3  # batches of 8, 8, 4 records
    for c in confirmations:  # each confirmation names its transaction and block
        assert store.tx_status(c.tx_id) == (c.block_number, "VALID")
    assert len({c.tx_id for c in confirmations}) == 3
    await writer.stop()


async def test_a_refused_record_does_not_sink_its_batch(
    ledger: EmbeddedLedger, tmp_path: Path
) -> None:
    confirmations: list[Confirmation] = []
    writer = LedgerWriter(ledger, data_dir=tmp_path, config=FAST, on_commit=confirmations.append)
    await writer.start()
    bad = uplink(3).model_copy(update={"key": f"{DEV}/4"})
    await asyncio.gather(*(writer.accept(r) for r in [uplink(1), uplink(2), bad, uplink(5)]))
    await until(lambda: len(confirmations) == 3 and writer.counters.failed == 1)
    assert writer.outbox.count() == 0
    assert writer.outbox.failures()[0][0] == bad.idempotency_key
    assert len({c.tx_id for c in confirmations}) == 1  # the three others: one transaction
    await writer.stop()


async def test_outage_lost_status_and_mvcc_retries_commit_exactly_once(
    ledger: EmbeddedLedger, tmp_path: Path
) -> None:
    flaky = FlakyRecords(ledger)
    confirmations: list[Confirmation] = []
    writer = LedgerWriter(flaky, data_dir=tmp_path, config=FAST, on_commit=confirmations.append)
    await writer.start()
    flaky.down = True
    await asyncio.gather(*(writer.accept(uplink(i)) for i in range(12)))
    await until(lambda: len(flaky.batches) >= 4)  # retried with backoff while down
    assert writer.outbox.count() == 12 and not confirmations
    flaky.invalidate = 1  # the first batch after the outage lost an MVCC race
    flaky.lose_status = 1  # the next one commits, but the writer never hears about it
    flaky.down = False
    await until(lambda: len(confirmations) == 12)
    assert writer.outbox.count() == 0
    assert len({c.idempotency_key for c in confirmations}) == 12
    # the records of the batch whose status was lost are found again, not written twice
    assert len(flaky.lost) == 1
    assert sum(c.result == "exists" for c in confirmations) == flaky.lost[0]
    for i in range(12):
        assert await history_len(ledger, "app-zone-a", "uplink", f"{DEV}/{i}") == 1
    await writer.stop()


async def test_records_of_one_turn_share_one_outbox_transaction(
    ledger: EmbeddedLedger, tmp_path: Path
) -> None:
    writer = LedgerWriter(ledger, data_dir=tmp_path, config=FAST)
    await writer.start()
    groups: list[int] = []
    add_many = writer.outbox.add_many

    def counting(rows: Sequence[NewRecord]) -> Any:
        groups.append(len(rows))
        return add_many(rows)

    writer.outbox.add_many = counting  # type: ignore[method-assign]
    staged = [writer.accept(uplink(i)) for i in range(5)] + [writer.accept(uplink(1))]
    assert writer.outbox.count() == 0  # nothing durable yet, nothing acknowledged
    assert await asyncio.gather(*staged) == [True] * 5 + [False]  # a repeat in the same turn
    assert groups == [6] and writer.counters.duplicates == 1
    assert not await writer.handle(uplink(2))  # known later on too
    await writer.stop()


async def test_the_bus_completion_finishes_once_the_record_is_durable(
    ledger: EmbeddedLedger, tmp_path: Path
) -> None:
    writer = LedgerWriter(ledger, data_dir=tmp_path, config=FAST)
    await writer.start()
    rec = uplink(1)
    env: Envelope[Any] = Envelope(Topic.LEDGER_TX, rec.zone, 0, 0, {}, rec, b"")
    completion = await writer._on_message(env)
    assert completion is not None
    assert writer.outbox.count() == 0
    await completion
    assert writer.outbox.known(rec.idempotency_key) in ("pending", "committed")
    await writer.stop()


async def test_a_failed_outbox_commit_is_retried_then_parks_the_record(
    ledger: EmbeddedLedger, tmp_path: Path
) -> None:
    writer = LedgerWriter(ledger, data_dir=tmp_path, config=FAST)
    await writer.start()
    add_many = writer.outbox.add_many
    failures = [2]
    calls: list[int] = []

    def failing(rows: Sequence[NewRecord]) -> Any:
        calls.append(len(rows))
        if failures[0] > 0:
            failures[0] -= 1
            raise sqlite3.OperationalError("disk I/O error (test)")
        return add_many(rows)

    writer.outbox.add_many = failing  # type: ignore[method-assign]
    rec = uplink(1)
    completion = await writer._on_message(Envelope(Topic.LEDGER_TX, rec.zone, 0, 0, {}, rec, b""))
    assert completion is not None
    await asyncio.wait_for(completion, 5)  # two failed writes, then written
    assert calls == [1, 1, 1]
    assert writer.outbox.known(rec.idempotency_key) is not None
    failures[0] = 100
    rec2 = uplink(2)
    completion = await writer._on_message(Envelope(Topic.LEDGER_TX, rec2.zone, 0, 1, {}, rec2, b""))
    assert completion is not None
    with pytest.raises(sqlite3.OperationalError):
        await asyncio.wait_for(completion, 5)
    assert len(calls) == 3 + 1 + OUTBOX_RETRIES
    assert writer.outbox.known(rec2.idempotency_key) is None
    await writer.stop()


async def test_stop_writes_records_staged_in_the_same_turn(tmp_path: Path) -> None:
    ledger = FlakyRecords(EmbeddedLedger(tmp_path / "ledger", batch_timeout_s=0.01))
    ledger.down = True
    await ledger.start()
    writer = LedgerWriter(ledger, data_dir=tmp_path, config=FAST)
    await writer.start()
    staged = writer.accept(uplink(1))
    await writer.stop(drain_timeout_s=0.01)
    assert staged.done() and staged.result() is True
    outbox = Outbox(tmp_path / "ledger_writer.sqlite")
    assert outbox.count() == 1  # still pending for the next start
    outbox.close()
    await ledger.stop()


async def test_bus_to_ledger_through_completions(ledger: EmbeddedLedger, tmp_path: Path) -> None:
    bus = MemoryBus(partitions=2)
    confirmations: list[Confirmation] = []
    writer = LedgerWriter(
        ledger, data_dir=tmp_path, config=FAST, bus=bus, on_commit=confirmations.append
    )
    await writer.start()
    await bus.start()
    for i in range(30):
        rec = uplink(i % 25)  # five redelivered
        await bus.publish(Topic.LEDGER_TX, rec.zone, rec)
    await until(lambda: len(confirmations) == 25)
    await bus.stop()
    assert bus.completion_failures == 0
    await writer.stop()
    assert writer.counters.duplicates == 5
    for i in range(25):
        assert await history_len(ledger, "app-zone-a", "uplink", f"{DEV}/{i}") == 1


async def test_records_within_the_intake_window_share_one_outbox_write(
    ledger: EmbeddedLedger, tmp_path: Path
) -> None:
    config = WriterConfig(max_batch=8, linger_s=0.5, intake_window_s=0.5)
    writer = LedgerWriter(ledger, data_dir=tmp_path, config=config)
    await writer.start()
    groups: list[int] = []
    add_many = writer.outbox.add_many

    def counting(rows: Sequence[NewRecord]) -> Any:
        groups.append(len(rows))
        return add_many(rows)

    writer.outbox.add_many = counting  # type: ignore[method-assign]
    first = writer.accept(uplink(1))
    await asyncio.sleep(0.01)
    second = writer.accept(uplink(2))
    await asyncio.sleep(0.01)
    assert not first.done() and groups == []  # still inside the window
    # handle() writes at once, and takes what the window held along
    assert await asyncio.wait_for(writer.handle(uplink(3)), 0.4)
    assert first.done() and second.done() and groups == [3]
    await writer.stop(drain_timeout_s=0.0)


async def test_a_lane_lingers_from_its_oldest_record_arrival(
    ledger: EmbeddedLedger, tmp_path: Path
) -> None:
    clock = [1000.0]
    lingers: list[float] = []

    async def sleep(s: float) -> None:
        lingers.append(s)
        await asyncio.sleep(0)

    config = WriterConfig(max_batch=8, linger_s=0.2, intake_window_s=0.0)
    writer = LedgerWriter(
        ledger, data_dir=tmp_path, config=config, wall_clock=lambda: clock[0], sleep=sleep
    )
    await writer.start()
    staged = writer.accept(uplink(1))  # arrives at 1000.0
    clock[0] = 1000.15  # the lane looks at it 150 ms later
    assert await staged
    await until(lambda: bool(lingers))
    assert lingers[0] == pytest.approx(0.05)
    clock[0] = 1001.0
    staged = writer.accept(uplink(2))
    clock[0] = 1001.3  # 300 ms later: it waited longer than a linger already
    assert await staged
    await until(lambda: writer.backlog() == 0)
    assert len(lingers) == 1  # no more lingering
    await writer.stop()
