"""The gateway bridge's publish buffer: failed publishes are retried, what is finally lost is
counted, and a datagram whose uplinks cannot be buffered is not acknowledged."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from services.bus.errors import BusError
from services.bus.messages import BaseMessage, GatewayUplink
from services.gateway_bridge.semtech import PushAck

from . import test_gw_bridge_server as server
from .test_gw_bridge_server import DATA_UP, Factory, FakeBus, _push, _rxpk

make_bridge = server.make_bridge  # the fixture: a bridge on 127.0.0.1 and a fake forwarder

FAST = {"publish_retry_backoff_s": 0.001}


class FlakyBus(FakeBus):
    """Fails the first ``failures`` publishes; ``gate`` (if set) holds every publish."""

    def __init__(self, failures: int = 0, gate: asyncio.Event | None = None) -> None:
        super().__init__()
        self.failures = failures
        self.attempts = 0
        self.gate = gate

    async def publish(
        self,
        topic: str,
        key: str,
        message: BaseMessage,
        *,
        headers: Mapping[str, bytes] | None = None,
    ) -> None:
        self.attempts += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.failures > 0:
            self.failures -= 1
            raise BusError("broker unavailable")
        await super().publish(topic, key, message, headers=headers)


async def _wait(cond, what: str, timeout: float = 2.0) -> None:  # type: ignore[no-untyped-def]
    async def poll() -> None:
        while not cond():
            await asyncio.sleep(0.005)

    try:
        await asyncio.wait_for(poll(), timeout)
    except TimeoutError:
        raise AssertionError(f"not within {timeout} s: {what}") from None


async def test_failed_publish_is_retried_until_it_succeeds(make_bridge: Factory) -> None:
    bus = FlakyBus(failures=3)
    bridge, _, fwd = await make_bridge(bus, settings=FAST)
    fwd.send(_push(1, {"rxpk": [_rxpk()]}))
    assert await fwd.receive() == PushAck(token=1)
    (up,) = await bus.wait_for("gw.up", 1)
    assert isinstance(up, GatewayUplink) and up.phy_payload == DATA_UP
    assert bus.attempts == 4
    assert bridge.counters["publish_errors"] == 3
    assert bridge.counters["uplinks_dropped.publish_failed"] == 0


async def test_publish_failing_every_attempt_is_dropped_and_counted(make_bridge: Factory) -> None:
    bus = FlakyBus(failures=1000)
    bridge, _, fwd = await make_bridge(bus, settings={**FAST, "publish_attempts": 3})
    fwd.send(_push(2, {"rxpk": [_rxpk()]}))
    assert await fwd.receive() == PushAck(token=2)
    await _wait(lambda: bridge.counters["uplinks_dropped.publish_failed"] == 1, "the drop counted")
    assert bus.attempts == 3 and bridge.counters["publish_errors"] == 3
    assert bus.on("gw.up") == []


async def test_datagram_not_acked_when_its_uplinks_find_no_room(make_bridge: Factory) -> None:
    gate = asyncio.Event()
    bus = FlakyBus(gate=gate)  # every publish waits: the buffer fills up
    bridge, _, fwd = await make_bridge(
        bus, settings={"publish_queue_size": 3, "publish_in_flight": 1}
    )  # room for three: the one being published counts
    fwd.send(_push(1, {"rxpk": [_rxpk()]}))
    assert await fwd.receive() == PushAck(token=1)
    await _wait(lambda: bus.attempts == 1, "the publisher took the first uplink")
    fwd.send(_push(2, {"rxpk": [_rxpk()]}))  # buffered: 2 of 3
    assert await fwd.receive() == PushAck(token=2)
    # two uplinks, one free slot: the datagram as a whole is refused, not half-taken
    fwd.send(_push(3, {"rxpk": [_rxpk(), _rxpk()]}))
    assert await fwd.nothing_within(0.2), "a datagram that was not handed over was acked"
    assert bridge.counters["uplinks_dropped.queue_full"] == 2
    assert bridge.counters["push_data_not_acked"] == 1
    fwd.send(_push(4, {"rxpk": [_rxpk()]}))  # still fits
    assert await fwd.receive() == PushAck(token=4)
    gate.set()
    await bus.wait_for("gw.up", 3)
    assert bridge.counters["uplinks"] == 3


async def test_stop_counts_what_could_not_be_published(make_bridge: Factory) -> None:
    bus = FlakyBus(gate=asyncio.Event())  # never publishes
    bridge, _, fwd = await make_bridge(bus)
    fwd.send(_push(1, {"rxpk": [_rxpk(), _rxpk()]}))
    assert await fwd.receive() == PushAck(token=1)
    await _wait(lambda: bus.attempts == 2, "both uplinks are being published")
    await asyncio.wait_for(bridge.stop(drain_timeout_s=0.05), 2.0)
    assert bridge.counters["uplinks_dropped.stopped"] == 2


class OrderedSlowBus(FakeBus):
    """Enqueues in call order at once (like the Kafka adapter), acknowledges after ``gate``."""

    def __init__(self, gate: asyncio.Event) -> None:
        super().__init__()
        self.gate = gate
        self.enqueued: list[bytes] = []
        self.concurrent = 0
        self.max_concurrent = 0

    async def publish(
        self,
        topic: str,
        key: str,
        message: BaseMessage,
        *,
        headers: Mapping[str, bytes] | None = None,
    ) -> None:
        assert isinstance(message, GatewayUplink)
        self.enqueued.append(message.phy_payload)
        self.concurrent += 1
        self.max_concurrent = max(self.max_concurrent, self.concurrent)
        try:
            await self.gate.wait()
        finally:
            self.concurrent -= 1
        await super().publish(topic, key, message, headers=headers)


async def test_publishes_are_pipelined_in_order_and_count_against_the_buffer(
    make_bridge: Factory,
) -> None:
    """Several publishes await their acknowledgement at once (not one round trip each),
    started in arrival order; the buffer bound counts them, so a datagram is refused once
    buffer plus in-flight publishes are full."""
    gate = asyncio.Event()
    bus = OrderedSlowBus(gate)
    bridge, _, fwd = await make_bridge(
        bus, settings={"publish_queue_size": 6, "publish_in_flight": 4}
    )
    frames = [DATA_UP[:-1] + bytes([i]) for i in range(6)]
    for i, frame in enumerate(frames):
        fwd.send(_push(10 + i, {"rxpk": [_rxpk(data=frame)]}))
        assert await fwd.receive() == PushAck(token=10 + i)
    await _wait(lambda: bus.concurrent == 4, "four publishes in flight at once")
    assert bus.enqueued == frames[:4]
    fwd.send(_push(20, {"rxpk": [_rxpk()]}))  # 4 in flight + 2 buffered: no room
    assert await fwd.nothing_within(0.2), "acked a datagram the buffer had no room for"
    assert bridge.counters["uplinks_dropped.queue_full"] == 1
    gate.set()
    ups = await bus.wait_for("gw.up", 6)
    assert bus.enqueued == frames and bus.max_concurrent == 4
    assert sorted(u.phy_payload for u in ups) == sorted(frames)
