"""The ledger writer: batching per (zone, channel), durable outbox across ledger outages and
restarts, exactly-once commits, redelivery, routing, and the bus subscription."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from services.bus import MemoryBus, Topic
from services.bus.messages import LedgerRecord
from services.ledger import errors
from services.ledger.base import CommitResult, Ledger, LedgerStatus
from services.ledger.embedded import EmbeddedLedger
from services.ledger.writer import Confirmation, LedgerWriter, WriterConfig

from .conftest import DEV

FAST = WriterConfig(max_batch=8, linger_s=0.001, backoff_initial_s=0.005, backoff_max_s=0.02)


def uplink(f_cnt: int, zone: str = "zone-a", payload: str = "cafe") -> LedgerRecord:
    return LedgerRecord(
        idempotency_key=f"up:{DEV}:s1:{f_cnt}",
        channel="application",
        kind="uplink",
        zone=zone,
        key=f"{DEV}/{f_cnt}",
        payload={
            "dev_eui": DEV,
            "f_cnt": f_cnt,
            "received_at": "2026-01-01T00:00:00+00:00",
            "gateways": ["AABBCCDDEEFF0011"],
            "payload_sha256": __import__("hashlib").sha256(bytes.fromhex(payload)).hexdigest(),
            "payload": payload,
        },
    )


def join(session: str) -> LedgerRecord:
    return LedgerRecord(
        idempotency_key=f"join:{DEV}:{session}",
        channel="device",
        kind="join",
        zone="zone-a",
        key=f"{DEV}/{session}",
        payload={
            "dev_eui": DEV,
            "join_eui": "70B3D57ED0000000",
            "dev_addr": "26011BDA",
            "session_id": session,
            "mac_version": "1.0.3",
            "received_at": "2026-01-01T00:00:00+00:00",
            "gateways": ["AABBCCDDEEFF0011"],
        },
    )


class Flaky(Ledger):
    """Wraps a ledger: ``down`` makes every call raise LedgerUnavailable; ``lose_status`` makes
    the next N submits commit but raise CommitTimeout (the status is lost on the way)."""

    def __init__(self, inner: Ledger) -> None:
        self.inner = inner
        self.down = False
        self.lose_status = 0
        self.calls = 0

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def submit(
        self, channel: str, contract_fn: str, args: Sequence[str], *, tx_id: str | None = None
    ) -> CommitResult:
        self.calls += 1
        if self.down:
            raise errors.LedgerUnavailable("ledger down (test)")
        result = await self.inner.submit(channel, contract_fn, args, tx_id=tx_id)
        if self.lose_status > 0:
            self.lose_status -= 1
            raise errors.CommitTimeout("commit status lost (test)")
        return result

    async def evaluate(self, channel: str, contract_fn: str, args: Sequence[str]) -> bytes:
        return await self.inner.evaluate(channel, contract_fn, args)

    async def height(self, channel: str) -> int:
        return await self.inner.height(channel)

    async def status(self) -> LedgerStatus:
        return await self.inner.status()


async def until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


async def history_len(ledger: Ledger, channel: str, kind: str, key: str) -> int:
    contract = "application" if channel.startswith("app-") else "device"
    raw = await ledger.evaluate(channel, f"{contract}:history", [kind, key])
    return len(json.loads(raw))


@pytest.fixture
async def ledger(tmp_path: Path) -> Any:
    led = EmbeddedLedger(tmp_path / "ledger", batch_size=10, batch_timeout_s=0.01)
    await led.start()
    yield led
    await led.stop()


async def test_batches_per_zone_and_channel_and_confirms(
    ledger: EmbeddedLedger, tmp_path: Path
) -> None:
    confirmations: list[Confirmation] = []
    writer = LedgerWriter(ledger, data_dir=tmp_path, config=FAST, on_commit=confirmations.append)
    await writer.start()
    for i in range(20):
        assert await writer.handle(uplink(i, zone="zone-a" if i % 2 else "zone-b"))
    assert await writer.handle(join("s1"))
    await until(lambda: len(confirmations) == 21)
    assert writer.backlog() == 0 and writer.outbox.count() == 0
    assert {c.ledger_channel for c in confirmations} == {
        "app-zone-a",
        "app-zone-b",
        "device-ledger",
    }
    assert all(c.result == "created" and c.block_number >= 1 for c in confirmations)
    assert set(writer.stats()) == {"zone-a/app-zone-a", "zone-b/app-zone-b", "zone-a/device-ledger"}
    doc = json.loads(
        await ledger.evaluate("app-zone-b", "application:read", ["uplink", f"{DEV}/4"])
    )
    assert doc["payload"]["origin_zone"] == doc["payload"]["stored_zone"] == "zone-b"
    # records were batched into blocks, not one block per record
    assert await ledger.height("app-zone-a") < 1 + 10
    await writer.stop()


async def test_outage_then_recovery_commits_everything_exactly_once(
    ledger: EmbeddedLedger, tmp_path: Path
) -> None:
    flaky = Flaky(ledger)
    confirmations: list[Confirmation] = []
    writer = LedgerWriter(flaky, data_dir=tmp_path, config=FAST, on_commit=confirmations.append)
    await writer.start()
    flaky.down = True
    for i in range(12):
        await writer.handle(uplink(i))
    await until(lambda: flaky.calls >= 24)  # retried while down, nothing lost
    assert writer.outbox.count() == 12 and writer.counters.retries >= 12
    flaky.down = False
    flaky.lose_status = 5  # some commits succeed but the writer never hears about them
    await until(lambda: len(confirmations) == 12)
    assert writer.outbox.count() == 0
    assert len({c.idempotency_key for c in confirmations}) == 12
    assert sum(c.result == "exists" for c in confirmations) == 5  # found on retry, not doubled
    for i in range(12):
        assert await history_len(ledger, "app-zone-a", "uplink", f"{DEV}/{i}") == 1
    records = json.loads(await ledger.evaluate("app-zone-a", "application:by_device", [DEV, "0"]))
    assert len(records) == 12
    await writer.stop()


async def test_outbox_survives_a_writer_restart_while_the_ledger_is_down(
    ledger: EmbeddedLedger, tmp_path: Path
) -> None:
    flaky = Flaky(ledger)
    flaky.down = True
    first = LedgerWriter(flaky, data_dir=tmp_path, config=FAST)
    await first.start()
    for i in range(10):
        await first.handle(uplink(i))
    await first.stop(drain_timeout_s=0.05)  # the ledger never came back for this writer
    confirmations: list[Confirmation] = []
    second = LedgerWriter(ledger, data_dir=tmp_path, config=FAST, on_commit=confirmations.append)
    await second.start()
    assert second.backlog() == 10
    await until(lambda: len(confirmations) == 10)
    assert second.outbox.count() == 0
    await second.stop()


async def test_redelivered_records_are_dropped(ledger: EmbeddedLedger, tmp_path: Path) -> None:
    confirmations: list[Confirmation] = []
    writer = LedgerWriter(ledger, data_dir=tmp_path, config=FAST, on_commit=confirmations.append)
    await writer.start()
    assert await writer.handle(uplink(1))
    assert not await writer.handle(uplink(1))  # still pending
    await until(lambda: len(confirmations) == 1)
    assert not await writer.handle(uplink(1))  # already committed
    assert writer.counters.duplicates == 2
    await asyncio.sleep(0.05)
    assert len(confirmations) == 1
    await writer.stop()


async def test_refused_records_go_to_the_failed_table(
    ledger: EmbeddedLedger, tmp_path: Path
) -> None:
    writer = LedgerWriter(ledger, data_dir=tmp_path, config=FAST)
    await writer.start()
    bad = uplink(1).model_copy(update={"key": f"{DEV}/2"})  # key does not match f_cnt
    await writer.handle(bad)
    await until(lambda: writer.counters.failed == 1)
    assert writer.outbox.count() == 0
    failures = writer.outbox.failures()
    assert failures[0][0] == bad.idempotency_key and failures[0][2].startswith("InvalidInput")
    await writer.stop()


async def test_route_hook_moves_records_and_keeps_their_origin(
    ledger: EmbeddedLedger, tmp_path: Path
) -> None:
    confirmations: list[Confirmation] = []
    writer = LedgerWriter(
        ledger,
        data_dir=tmp_path,
        config=FAST,
        route=lambda r: "idle" if r.zone == "busy" else r.zone,
        on_commit=confirmations.append,
    )
    await writer.start()
    await writer.handle(uplink(1, zone="busy"))
    await until(lambda: len(confirmations) == 1)
    c = confirmations[0]
    assert (c.zone, c.origin_zone, c.ledger_channel) == ("idle", "busy", "app-idle")
    doc = json.loads(await ledger.evaluate("app-idle", "application:read", ["uplink", f"{DEV}/1"]))
    assert doc["payload"]["origin_zone"] == "busy" and doc["payload"]["stored_zone"] == "idle"
    await writer.stop()


async def test_consumes_ledger_tx_from_the_bus(ledger: EmbeddedLedger, tmp_path: Path) -> None:
    bus = MemoryBus(partitions=2)
    done = asyncio.Event()
    writer = LedgerWriter(
        ledger, data_dir=tmp_path, config=FAST, bus=bus, on_commit=lambda c: done.set()
    )
    await writer.start()
    await bus.start()
    rec = uplink(7)
    await bus.publish(Topic.LEDGER_TX, rec.zone, rec)
    await asyncio.wait_for(done.wait(), 5)
    await bus.stop()
    await writer.stop()
    assert await history_len(ledger, "app-zone-a", "uplink", f"{DEV}/7") == 1
