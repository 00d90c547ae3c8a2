"""The in-process bus: ordering, consumer groups, backpressure, retries, DLQ, graceful stop."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from datetime import UTC, datetime

import pytest

from services.bus import codec
from services.bus.base import Envelope, RetryPolicy
from services.bus.errors import BusClosed, PermanentFailure, UnknownTopic
from services.bus.keys import partition_for
from services.bus.memory import MemoryBus
from services.bus.messages import BaseMessage, DeadLetter, DownlinkAck
from services.bus.topics import Topic

T = Topic.NS_ACK
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def eui(i: int) -> str:
    return f"{i:016X}"


def ack(i: int, n: int) -> DownlinkAck:
    return DownlinkAck(dev_eui=eui(i), request_id=str(n), acknowledged=True, at=T0)


def seq(env: Envelope[BaseMessage]) -> int:
    message = env.message
    assert isinstance(message, DownlinkAck)
    return int(message.request_id)


async def test_per_key_order_under_concurrency() -> None:
    rng = random.Random(7)
    bus = MemoryBus(partitions=8, queue_size=16)
    seen: dict[str, list[int]] = defaultdict(list)
    running = 0
    peak = 0

    async def handler(env: Envelope[BaseMessage]) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(rng.random() / 2000)
        seen[env.key].append(seq(env))
        running -= 1

    bus.subscribe(T, "app", handler, concurrency=8)
    async with bus:
        sends = []
        for n in range(60):
            for dev in range(20):
                sends.append((dev, n))
        for dev, n in sends:
            await bus.publish(T, eui(dev), ack(dev, n))
    assert {k: v for k, v in seen.items()} == {eui(d): list(range(60)) for d in range(20)}
    assert peak > 1  # partitions really ran in parallel
    assert bus.counters.handled == 1200


async def test_one_group_splits_two_groups_both_get_all() -> None:
    bus = MemoryBus(partitions=8)
    got: dict[str, list[tuple[str, int]]] = defaultdict(list)

    def record(name: str):  # type: ignore[no-untyped-def]
        async def handler(env: Envelope[BaseMessage]) -> None:
            got[name].append((env.key, seq(env)))

        return handler

    bus.subscribe(T, "g1", record("g1-a"))
    bus.subscribe(T, "g1", record("g1-b"))
    bus.subscribe(T, "g2", record("g2"))
    async with bus:
        for dev in range(40):
            await bus.publish(T, eui(dev), ack(dev, dev))
    everything = sorted((eui(d), d) for d in range(40))
    assert got["g1-a"] and got["g1-b"]  # both members of g1 got a share
    assert sorted(got["g1-a"] + got["g1-b"]) == everything  # exactly once in the group
    assert not set(got["g1-a"]) & set(got["g1-b"])
    assert sorted(got["g2"]) == everything  # the other group gets everything
    # a key always goes to the same member of the group
    keys_a = {k for k, _ in got["g1-a"]}
    keys_b = {k for k, _ in got["g1-b"]}
    assert not keys_a & keys_b


async def test_publish_waits_when_queue_is_full() -> None:
    bus = MemoryBus(partitions=1, queue_size=2)
    gate = asyncio.Event()
    handled: list[int] = []

    async def handler(env: Envelope[BaseMessage]) -> None:
        await gate.wait()
        handled.append(seq(env))

    bus.subscribe(T, "app", handler)
    async with bus:
        await bus.publish(T, eui(1), ack(1, 0))
        await asyncio.sleep(0)  # the worker takes it: in flight, queue empty
        await bus.publish(T, eui(1), ack(1, 1))
        await bus.publish(T, eui(1), ack(1, 2))  # queue now full (2)
        blocked = asyncio.create_task(bus.publish(T, eui(1), ack(1, 3)))
        await asyncio.sleep(0.02)
        assert not blocked.done()
        assert bus.queue_depth(T, "app") == 2
        gate.set()
        await asyncio.wait_for(blocked, 1)
    assert handled == [0, 1, 2, 3]


async def test_retry_then_dead_letter(fast_retry: RetryPolicy) -> None:
    sleeps: list[float] = []

    async def fake_sleep(s: float) -> None:
        sleeps.append(s)

    bus = MemoryBus(partitions=2, retry=fast_retry, sleep=fake_sleep)
    attempts: list[int] = []
    ok: list[int] = []
    dead: list[DeadLetter] = []

    async def handler(env: Envelope[BaseMessage]) -> None:
        if seq(env) == 0:
            attempts.append(env.attempt)
            raise RuntimeError("database down")
        ok.append(seq(env))

    async def dlq(env: Envelope[BaseMessage]) -> None:
        assert isinstance(env.message, DeadLetter)
        dead.append(env.message)

    bus.subscribe(T, "app", handler)
    bus.subscribe(T.dlq, "ops", dlq)
    async with bus:
        await bus.publish(T, eui(1), ack(1, 0))
        await bus.publish(T, eui(1), ack(1, 1))  # same partition: must not be stalled
    assert attempts == [1, 2, 3]
    assert sleeps == [0.001, 0.002]  # exponential backoff between attempts
    assert ok == [1]
    assert len(dead) == 1
    letter = dead[0]
    assert (letter.topic, letter.key, letter.group, letter.reason) == (T, eui(1), "app", "handler")
    assert letter.attempts == 3 and letter.error_type == "RuntimeError"
    assert "database down" in letter.error
    assert codec.decode(T, letter.raw) == ack(1, 0)
    assert letter.headers["schema"] == b"DownlinkAck"
    assert bus.counters.dead_lettered == 1 and bus.counters.failed_attempts == 3
    assert list(bus.dead_letters) == dead


async def test_transient_failure_recovers(fast_retry: RetryPolicy) -> None:
    bus = MemoryBus(partitions=1, retry=fast_retry)
    calls: list[int] = []

    async def handler(env: Envelope[BaseMessage]) -> None:
        calls.append(env.attempt)
        if env.attempt < 2:
            raise ConnectionError("blip")

    bus.subscribe(T, "app", handler)
    async with bus:
        await bus.publish(T, eui(1), ack(1, 0))
    assert calls == [1, 2]
    assert bus.counters.handled == 1 and bus.counters.dead_lettered == 0
    assert bus.counters.retried == 1


async def test_permanent_failure_skips_retries(fast_retry: RetryPolicy) -> None:
    bus = MemoryBus(partitions=1, retry=fast_retry)
    calls: list[int] = []

    async def handler(env: Envelope[BaseMessage]) -> None:
        calls.append(env.attempt)
        raise PermanentFailure("unknown device")

    bus.subscribe(T, "app", handler)
    async with bus:
        await bus.publish(T, eui(1), ack(1, 0))
    assert calls == [1]
    assert bus.dead_letters[0].error_type == "PermanentFailure"
    assert bus.dead_letters[0].attempts == 1


async def test_poison_message_is_parked_without_stalling() -> None:
    bus = MemoryBus(partitions=1)
    ok: list[int] = []
    dead: list[DeadLetter] = []

    async def handler(env: Envelope[BaseMessage]) -> None:
        ok.append(seq(env))

    async def dlq(env: Envelope[BaseMessage]) -> None:
        assert isinstance(env.message, DeadLetter)
        dead.append(env.message)

    bus.subscribe(T, "app", handler)
    bus.subscribe(T.dlq, "ops", dlq)
    async with bus:
        await bus.publish(T, eui(1), ack(1, 0))
        await bus.publish_raw(T, eui(1), b"\x00garbage{")
        await bus.publish_raw(T, eui(1), b'{"schema_version": 9}')
        await bus.publish_raw(T, eui(1), codec.encode(T, ack(1, 1)))  # raw but valid: decoded
        await bus.publish(T, eui(1), ack(1, 2))
    assert ok == [0, 1, 2]
    assert [d.reason for d in dead] == ["decode", "decode"]
    assert dead[0].raw == b"\x00garbage{" and dead[0].attempts == 0
    assert dead[1].error_type == "UnsupportedSchemaVersion"
    assert [d.offset for d in dead] == [1, 2]
    assert bus.counters.decode_errors == 2


async def test_failing_dlq_handler_does_not_loop(fast_retry: RetryPolicy) -> None:
    bus = MemoryBus(partitions=1, retry=fast_retry)

    async def boom(env: Envelope[BaseMessage]) -> None:
        raise RuntimeError("no")

    bus.subscribe(T, "app", boom)
    bus.subscribe(T.dlq, "ops", boom)
    async with bus:
        await bus.publish(T, eui(1), ack(1, 0))
    assert [d.topic for d in bus.dead_letters] == [T, T.dlq]


async def test_graceful_stop_drains_queue_and_downstream() -> None:
    bus = MemoryBus(partitions=4, queue_size=500)
    first: list[int] = []
    second: list[int] = []

    async def handler(env: Envelope[BaseMessage]) -> None:
        await asyncio.sleep(0.0005)
        first.append(seq(env))
        if seq(env) < 10_000:  # handlers publish while the bus drains: drained too
            await bus.publish(T, env.key, ack(0, 10_000 + seq(env)))

    async def downstream(env: Envelope[BaseMessage]) -> None:
        second.append(seq(env))

    bus.subscribe(T, "app", handler)
    bus.subscribe(T, "audit", downstream)
    await bus.start()
    for n in range(100):
        await bus.publish(T, eui(n % 7), ack(n % 7, n))
    await bus.stop()
    assert sorted(first) == list(range(100)) + [10_000 + n for n in range(100)]
    assert len(second) == 200
    assert bus.dropped_on_stop == 0
    with pytest.raises(BusClosed):
        await bus.publish(T, eui(1), ack(1, 0))


async def test_stop_waits_for_in_flight_handler() -> None:
    bus = MemoryBus(partitions=1)
    finished = asyncio.Event()
    started = asyncio.Event()

    async def handler(env: Envelope[BaseMessage]) -> None:
        started.set()
        await asyncio.sleep(0.05)
        finished.set()

    bus.subscribe(T, "app", handler)
    await bus.start()
    await bus.publish(T, eui(1), ack(1, 0))
    await started.wait()
    await bus.stop()
    assert finished.is_set()


async def test_drain_timeout_bounds_stop() -> None:
    bus = MemoryBus(partitions=1, drain_timeout_s=0.05)
    forever = asyncio.Event()

    async def handler(env: Envelope[BaseMessage]) -> None:
        await forever.wait()

    bus.subscribe(T, "app", handler)
    await bus.start()
    for n in range(3):
        await bus.publish(T, eui(1), ack(1, n))
    await asyncio.wait_for(bus.stop(), 1)
    assert bus.dropped_on_stop == 2  # one was in flight and cancelled, two still queued
    assert not bus.running


async def test_partitions_run_in_parallel_and_concurrency_caps_them() -> None:
    # two keys on different partitions; each handler waits for the other one to start
    keys = [eui(i) for i in range(50)]
    k1 = keys[0]
    k2 = next(k for k in keys if partition_for(k, 2) != partition_for(k1, 2))

    async def run(concurrency: int) -> bool:
        bus = MemoryBus(partitions=2, drain_timeout_s=0.2)
        started = {k1: asyncio.Event(), k2: asyncio.Event()}

        async def handler(env: Envelope[BaseMessage]) -> None:
            started[env.key].set()
            other = k2 if env.key == k1 else k1
            await started[other].wait()

        bus.subscribe(T, "app", handler, concurrency=concurrency)
        async with bus:
            await bus.publish(T, k1, ack(0, 0))
            await bus.publish(T, k2, ack(1, 0))
            await asyncio.sleep(0.05)
            both = all(e.is_set() for e in started.values())
        return both

    assert await run(2) is True
    assert await run(1) is False  # one handler at a time: the second never starts


async def test_envelope_fields() -> None:
    bus = MemoryBus(partitions=4)
    envs: list[Envelope[BaseMessage]] = []

    async def handler(env: Envelope[BaseMessage]) -> None:
        envs.append(env)

    bus.subscribe(T, "app", handler)
    async with bus:
        for n in range(3):
            await bus.publish(T, eui(5), ack(5, n), headers={"trace-id": b"abc"})
    assert [e.offset for e in envs] == [0, 1, 2]
    e = envs[0]
    assert e.topic == "ns.ack" and type(e.topic) is str
    assert e.partition == partition_for(eui(5), 4)
    assert e.headers["trace-id"] == b"abc" and e.headers["schema-version"] == b"1"
    assert codec.decode(T, e.raw) == e.message == ack(5, 0)
    assert e.attempt == 1 and e.timestamp_ms


async def test_lifecycle_errors_and_unrouted() -> None:
    bus = MemoryBus()

    async def handler(env: Envelope[BaseMessage]) -> None:
        return None

    with pytest.raises(UnknownTopic):
        bus.subscribe("no.such", "g", handler)
    bus.subscribe(T, "g", handler)
    with pytest.raises(BusClosed):
        await bus.publish(T, eui(1), ack(1, 0))  # not started yet
    async with bus:
        with pytest.raises(BusClosed):
            bus.subscribe(T, "late", handler)
        await bus.publish(Topic.NS_UP_META.dlq, "k", bus_dead_letter())
        with pytest.raises(UnknownTopic):
            await bus.publish_raw("no.such", "k", b"{}")
    assert bus.counters.unrouted == 1
    with pytest.raises(BusClosed):
        await bus.start()


def bus_dead_letter() -> DeadLetter:
    return DeadLetter(
        topic="ns.up.meta",
        key="k",
        partition=0,
        offset=0,
        group="g",
        reason="handler",
        error_type="X",
        error="x",
        attempts=1,
        raw=b"",
    )
