"""services.bus.dispatch: handler completions (deliver_deferred / settle / deliver)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from services.bus.base import BusCounters, Envelope, RetryPolicy, Subscription
from services.bus.dispatch import Record, deliver, deliver_deferred, settle
from services.bus.messages import BaseMessage, DownlinkAck
from services.bus.topics import Topic

T = Topic.NS_ACK
POLICY = RetryPolicy(max_attempts=2, backoff_initial_s=0.0, backoff_max_s=0.0)


def record(offset: int = 7) -> Record:
    msg = DownlinkAck(
        dev_eui="0000000000000001",
        request_id="r",
        acknowledged=True,
        at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    return Record(T, "k", 3, offset, {}, b"{}", message=msg)


def sub(handler: Any) -> Subscription:
    return Subscription(T, "grp", handler, 1)


async def test_deliver_deferred_returns_the_completion_without_awaiting_it() -> None:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[None] = loop.create_future()

    async def handler(env: Envelope[BaseMessage]) -> asyncio.Future[None]:
        return fut

    counters = BusCounters()
    dead, completion = await deliver_deferred(record(), sub(handler), POLICY, counters)
    assert dead is None and completion is fut and not fut.done()
    assert counters.handled == 1


@pytest.mark.parametrize("returns_completion", [False, True])
async def test_deliver_awaits_a_completion_inline(returns_completion: bool) -> None:
    finished: list[str] = []

    async def later() -> None:
        await asyncio.sleep(0.01)
        finished.append("done")

    async def handler(env: Envelope[BaseMessage]) -> Any:
        if returns_completion:
            return later()
        finished.append("done")
        return None

    assert await deliver(record(), sub(handler), POLICY, BusCounters()) is None
    assert finished == ["done"]


async def test_a_failed_completion_becomes_a_dead_letter_with_context() -> None:
    async def boom() -> None:
        raise ConnectionError("database away")

    async def handler(env: Envelope[BaseMessage]) -> Any:
        return boom()

    counters = BusCounters()
    dead = await deliver(record(offset=41), sub(handler), POLICY, counters)
    assert dead is not None
    assert (dead.topic, dead.partition, dead.offset, dead.group) == (T, 3, 41, "grp")
    assert dead.reason == "handler" and dead.error_type == "ConnectionError"
    assert dead.error == "database away" and dead.raw == b"{}"
    assert counters.dead_lettered == 1 and counters.handled == 1


async def test_settle_never_cancels_the_handlers_future() -> None:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[None] = loop.create_future()
    waiter = asyncio.create_task(settle(record(), sub(None), fut, BusCounters()))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not fut.cancelled()  # shared by every copy of a frame: still the handler's
    fut.set_result(None)
