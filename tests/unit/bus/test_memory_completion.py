"""The in-process bus and deferred completions (a handler returning an awaitable)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from services.bus.base import Completion, Envelope, RetryPolicy
from services.bus.memory import MemoryBus
from services.bus.messages import BaseMessage, DeadLetter, DownlinkAck
from services.bus.topics import Topic, dlq_topic

T = Topic.NS_ACK
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def ack(n: int) -> DownlinkAck:
    return DownlinkAck(dev_eui="0102030405060708", request_id=str(n), acknowledged=True, at=T0)


async def test_partition_moves_on_and_stop_waits_for_completions() -> None:
    bus = MemoryBus(partitions=1)
    release = asyncio.Event()
    taken: list[str] = []
    finished: list[str] = []

    async def later(request_id: str) -> None:
        await release.wait()
        finished.append(request_id)

    async def handler(env: Envelope[BaseMessage]) -> Completion:
        assert isinstance(env.message, DownlinkAck)
        taken.append(env.message.request_id)
        return later(env.message.request_id)

    bus.subscribe(T, "g", handler)
    await bus.start()
    for n in range(3):
        await bus.publish(T, "k", ack(n))
    for _ in range(100):  # every record taken although none has completed
        if len(taken) == 3:
            break
        await asyncio.sleep(0.01)
    assert taken == ["0", "1", "2"] and finished == []
    assert bus.completions_pending == 3
    stopping = asyncio.create_task(bus.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done(), "stop() must wait for the pending completions"
    release.set()
    await asyncio.wait_for(stopping, 2.0)
    assert sorted(finished) == ["0", "1", "2"]
    assert bus.completions_pending == 0 and bus.completion_failures == 0
    assert bus.counters.handled == 3 and bus.counters.dead_lettered == 0


async def test_failed_completion_is_counted_and_parked_on_the_dlq() -> None:
    bus = MemoryBus(partitions=2, retry=RetryPolicy(max_attempts=1))
    parked: list[DeadLetter] = []
    calls = 0

    async def fail() -> None:
        await asyncio.sleep(0)
        raise ConnectionError("storage gone")

    async def handler(env: Envelope[BaseMessage]) -> Completion | None:
        nonlocal calls
        calls += 1
        return fail() if env.key == "bad" else None

    async def on_dlq(env: Envelope[BaseMessage]) -> None:
        assert isinstance(env.message, DeadLetter)
        parked.append(env.message)

    bus.subscribe(T, "g", handler)
    bus.subscribe(dlq_topic(T), "watch", on_dlq)
    async with bus:
        await bus.publish(T, "bad", ack(1))
        await bus.publish(T, "good", ack(2))
    assert calls == 2  # no retry of the handler: retrying is the completion's business
    assert bus.completion_failures == 1 and bus.counters.dead_lettered == 1
    (dead,) = parked
    assert (dead.topic, dead.key, dead.group, dead.reason) == (str(T), "bad", "g", "handler")
    assert dead.error_type == "ConnectionError" and "storage gone" in dead.error
    assert list(bus.dead_letters) == [dead]


async def test_a_future_works_as_a_completion() -> None:
    bus = MemoryBus(partitions=1)
    futures: list[asyncio.Future[None]] = []

    async def handler(env: Envelope[BaseMessage]) -> Completion:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        futures.append(future)
        return future

    bus.subscribe(T, "g", handler)
    await bus.start()
    await bus.publish(T, "k", ack(1))
    for _ in range(100):
        if futures:
            break
        await asyncio.sleep(0.01)
    assert bus.completions_pending == 1
    futures[0].set_result(None)
    await asyncio.wait_for(bus.stop(), 2.0)
    assert bus.completions_pending == 0 and bus.completion_failures == 0
