"""The linked bus: two MemoryBuses joined over a socket pair (both ends in this loop).

What crosses, what stays, order per key, decoding once, poison records, control frames,
backpressure across the socket, and what happens when the other side goes away.
"""

from __future__ import annotations

import asyncio
import socket
from collections import defaultdict
from datetime import UTC, datetime

import pytest

from services.bus import codec
from services.bus.base import Envelope, RetryPolicy
from services.bus.errors import BusError
from services.bus.link import LinkedBus
from services.bus.messages import BaseMessage, DeadLetter, DownlinkAck
from services.bus.topics import Topic

T0 = datetime(2026, 1, 1, tzinfo=UTC)
FAST = RetryPolicy(max_attempts=2, backoff_initial_s=0.001, backoff_max_s=0.002)


def ack(dev: int, n: int) -> DownlinkAck:
    return DownlinkAck(dev_eui=f"{dev:016X}", request_id=str(n), acknowledged=True, at=T0)


def pair(**kw: object) -> tuple[LinkedBus, LinkedBus]:
    a, b = socket.socketpair()
    opts: dict[str, object] = {"partitions": 4, "queue_size": 64, "retry": FAST, **kw}
    return LinkedBus(a, name="a", **opts), LinkedBus(b, name="b", **opts)


async def start_both(a: LinkedBus, b: LinkedBus) -> None:
    await asyncio.wait_for(asyncio.gather(a.start(), b.start()), timeout=5)


async def stop_both(a: LinkedBus, b: LinkedBus) -> None:
    await asyncio.wait_for(asyncio.gather(a.stop(), b.stop()), timeout=10)


async def until(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


async def test_hello_tells_each_side_the_other_sides_topics() -> None:
    a, b = pair()

    async def nothing(env: Envelope[BaseMessage]) -> None:
        return None

    a.subscribe(Topic.NS_UP, "app", nothing)
    b.subscribe(Topic.GW_UP, "ns", nothing)
    b.subscribe(Topic.NS_ACK, "app2", nothing)
    await start_both(a, b)
    try:
        assert a.peer_topics == {Topic.GW_UP.value, Topic.NS_ACK.value}
        assert b.peer_topics == {Topic.NS_UP.value}
        assert (a.peer_name, b.peer_name) == ("b", "a")
    finally:
        await stop_both(a, b)


async def test_records_cross_in_order_per_key_and_local_groups_get_them_too() -> None:
    a, b = pair()
    remote: dict[str, list[int]] = defaultdict(list)
    local: dict[str, list[int]] = defaultdict(list)

    def collect(into: dict[str, list[int]]):  # type: ignore[no-untyped-def]
        async def handler(env: Envelope[BaseMessage]) -> None:
            message = env.message
            assert isinstance(message, DownlinkAck)
            into[env.key].append(int(message.request_id))

        return handler

    a.subscribe(Topic.NS_ACK, "local-group", collect(local))
    b.subscribe(Topic.NS_ACK, "remote-group", collect(remote))
    await start_both(a, b)
    try:
        for n in range(50):
            for dev in range(6):
                await a.publish(Topic.NS_ACK, f"{dev:016X}", ack(dev, n))
        await until(lambda: sum(map(len, remote.values())) == 300)
        await until(lambda: sum(map(len, local.values())) == 300)
        for seen in (remote, local):
            assert all(v == list(range(50)) for v in seen.values())
            assert len(seen) == 6
        assert a.link_counters.sent == 300
        assert b.link_counters.received == 300
        assert a.counters.unrouted == 0
    finally:
        await stop_both(a, b)


async def test_a_received_record_is_decoded_once_and_keeps_bytes_headers_and_time() -> None:
    a, b = pair()
    got: list[Envelope[BaseMessage]] = []

    async def handler(env: Envelope[BaseMessage]) -> None:
        got.append(env)

    b.subscribe(Topic.NS_ACK, "g", handler)
    await start_both(a, b)
    try:
        msg = ack(1, 7)
        await a.publish(Topic.NS_ACK, "K1", msg, headers={"trace": b"\xff\x00abc"})
        await until(lambda: len(got) == 1)
        env = got[0]
        assert env.message == msg
        assert env.raw == codec.encode(Topic.NS_ACK, msg)
        assert env.headers["trace"] == b"\xff\x00abc"
        assert env.headers["schema"] == b"DownlinkAck"
        assert env.key == "K1"
        assert env.timestamp_ms is not None and env.timestamp_ms > 1_700_000_000_000
    finally:
        await stop_both(a, b)


async def test_a_record_nobody_reads_here_or_there_is_unrouted_and_one_read_there_is_not() -> None:
    a, b = pair()

    async def nothing(env: Envelope[BaseMessage]) -> None:
        return None

    b.subscribe(Topic.NS_ACK, "g", nothing)
    await start_both(a, b)
    try:
        await a.publish(Topic.NS_ACK, "k", ack(1, 1))  # only b reads it
        await a.publish(Topic.NS_TX_ACK.value, "k", _tx_ack())  # nobody reads it
        assert a.counters.unrouted == 1
        assert a.link_counters.sent == 1
    finally:
        await stop_both(a, b)


def _tx_ack() -> BaseMessage:
    from services.bus.messages import DownlinkTxAck

    return DownlinkTxAck(
        dev_eui="70B3D57ED0000001",
        request_id="r",
        downlink_id="d",
        gw_eui="0102030405060708",
        at=T0,
    )


async def test_poison_bytes_from_the_other_side_are_dead_lettered_there_and_do_not_stall() -> None:
    a, b = pair()
    got: list[str] = []

    async def handler(env: Envelope[BaseMessage]) -> None:
        message = env.message
        assert isinstance(message, DownlinkAck)
        got.append(message.request_id)

    b.subscribe(Topic.NS_ACK, "g", handler)
    await start_both(a, b)
    try:
        await a.publish_raw(Topic.NS_ACK, "k", b"{not json")
        await a.publish(Topic.NS_ACK, "k", ack(1, 2))
        await until(lambda: got == ["2"])
        await until(lambda: len(b.dead_letters) == 1)
        dead = b.dead_letters[0]
        assert isinstance(dead, DeadLetter)
        assert dead.reason == "decode" and dead.raw == b"{not json"
        assert b.counters.decode_errors == 1
    finally:
        await stop_both(a, b)


async def test_control_frames_reach_the_callback_in_order() -> None:
    a, b = pair()
    seen: list[dict[str, object]] = []
    b.on_control = seen.append
    await start_both(a, b)
    try:
        assert await a.send_control({"type": "ready", "udp": ["127.0.0.1", 1700]})
        assert await a.send_control({"type": "stop"})
        await until(lambda: len(seen) == 2)
        assert seen == [{"type": "ready", "udp": ["127.0.0.1", 1700]}, {"type": "stop"}]
    finally:
        await stop_both(a, b)


async def test_backpressure_a_slow_consumer_there_makes_publish_wait_here() -> None:
    a, b = pair(queue_size=2, partitions=1, high_water=1024)
    release = asyncio.Event()
    handled = 0

    async def slow(env: Envelope[BaseMessage]) -> None:
        nonlocal handled
        await release.wait()
        handled += 1

    b.subscribe(Topic.NS_ACK, "g", slow, concurrency=1)
    await start_both(a, b)
    try:
        published = 0

        async def producer() -> None:
            nonlocal published
            for n in range(5000):  # ~2 KB each: far more than the socket and reader hold
                msg = ack(1, n).model_copy(update={"request_id": f"{n}:" + "x" * 2000})
                await a.publish(Topic.NS_ACK, "k", msg)
                published += 1

        task = asyncio.create_task(producer())
        await asyncio.sleep(0.5)
        assert not task.done(), "publish should wait while the other side's queue is full"
        assert published < 5000
        release.set()
        await asyncio.wait_for(task, timeout=20)
        await until(lambda: handled == 5000, timeout=20)
    finally:
        release.set()
        await stop_both(a, b)


async def test_when_the_other_side_goes_away_records_for_it_are_counted_as_dropped() -> None:
    a, b = pair()

    async def nothing(env: Envelope[BaseMessage]) -> None:
        return None

    b.subscribe(Topic.NS_ACK, "g", nothing)
    await start_both(a, b)
    await b.stop()
    await asyncio.wait_for(a.peer_gone.wait(), timeout=5)
    await a.publish(Topic.NS_ACK, "k", ack(1, 1))
    await a.publish(Topic.NS_ACK, "k", ack(1, 2))
    assert a.link_counters.dropped == 2
    assert a.counters.unrouted == 0
    assert not await a.send_control({"type": "stop"})
    await a.stop()


async def test_stop_drains_what_the_other_side_sent_before_it_closed() -> None:
    a, b = pair()
    got: list[int] = []

    async def handler(env: Envelope[BaseMessage]) -> None:
        await asyncio.sleep(0)
        message = env.message
        assert isinstance(message, DownlinkAck)
        got.append(int(message.request_id))

    a.subscribe(Topic.NS_ACK, "g", handler)
    await start_both(a, b)
    for n in range(200):
        await b.publish(Topic.NS_ACK, "k", ack(1, n))
    await b.stop()  # closes its end once everything was written
    await asyncio.wait_for(a.peer_gone.wait(), timeout=5)
    await a.stop()  # drains what was received
    assert got == list(range(200))


@pytest.mark.parametrize("kind", [9])
async def test_an_unknown_frame_kind_ends_the_link_with_a_protocol_error(kind: int) -> None:
    a, raw = socket.socketpair()
    bus = LinkedBus(a, name="a", partitions=1)
    raw.setblocking(False)
    loop = asyncio.get_running_loop()
    from services.bus.link import FRAME, K_HELLO

    await loop.sock_sendall(raw, FRAME.pack(1 + 2, K_HELLO) + b"{}")
    await asyncio.wait_for(bus.start(), timeout=5)
    await loop.sock_sendall(raw, FRAME.pack(1, kind))
    await asyncio.wait_for(bus.peer_gone.wait(), timeout=5)
    await bus.stop()
    raw.close()


async def test_reattach_joins_a_new_peer_and_keeps_the_bus_running() -> None:
    a, b = pair()
    first: list[str] = []
    second: list[str] = []

    def collect(into: list[str]):  # type: ignore[no-untyped-def]
        async def handler(env: Envelope[BaseMessage]) -> None:
            message = env.message
            assert isinstance(message, DownlinkAck)
            into.append(message.request_id)

        return handler

    b.subscribe(Topic.NS_ACK, "g", collect(first))
    await start_both(a, b)
    await a.publish(Topic.NS_ACK, "k", ack(1, 1))
    await until(lambda: first == ["1"])
    await b.stop()  # the peer goes away (a crash looks the same from here)
    await asyncio.wait_for(a.peer_gone.wait(), timeout=5)
    await a.publish(Topic.NS_ACK, "k", ack(1, 2))  # nobody there: counted, not queued
    assert a.link_counters.dropped == 1

    ours, theirs = socket.socketpair()
    c = LinkedBus(theirs, name="c", partitions=4, queue_size=64, retry=FAST)
    c.subscribe(Topic.NS_ACK, "g", collect(second))
    await asyncio.wait_for(asyncio.gather(a.reattach(ours), c.start()), timeout=5)
    assert not a.peer_gone.is_set() and a.peer_name == "c"
    await a.publish(Topic.NS_ACK, "k", ack(1, 3))
    await until(lambda: second == ["3"])
    assert first == ["1"]
    await stop_both(a, c)


async def test_reattach_needs_a_running_bus() -> None:
    a, _ = pair()
    s1, s2 = socket.socketpair()
    try:
        with pytest.raises(BusError):
            await a.reattach(s1)
    finally:
        s1.close()
        s2.close()
