"""GET /api/events in distributed mode: the app handler's events over the bus (as.event)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from services.api.bus_events import BusEventSink, event_relay
from services.api.events import EventHub
from services.bus.base import Envelope
from services.bus.memory import MemoryBus
from services.bus.messages import ApplicationEvent, BaseMessage
from services.bus.topics import Topic

TENANT = uuid.UUID("00000000-0000-0000-0000-0000000000aa")
NOW = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)


def up(dev_eui: str, f_cnt: int, tenant: uuid.UUID = TENANT) -> dict[str, Any]:
    return {"event": "up", "type": "uplink", "tenant_id": str(tenant), "dev_eui": dev_eui,
            "f_cnt": f_cnt, "data": "AQI="}  # fmt: skip


async def next_event(sub: Any, timeout: float = 2.0) -> dict[str, Any]:
    item = await asyncio.wait_for(sub.get(), timeout)
    assert item is not None
    return dict(item[1])


async def test_events_cross_the_bus_into_the_api_hub() -> None:
    bus = MemoryBus()
    hub = EventHub()
    bus.subscribe(Topic.AS_EVENT, "api-events", event_relay(hub, clock=lambda: NOW.timestamp()))
    sink = BusEventSink(bus, clock=lambda: NOW)
    await bus.start()
    tenant_sub = hub.open(tenant_id=TENANT)
    other_sub = hub.open(tenant_id=uuid.uuid4())
    try:
        sink.publish(up("70B3D57ED0000001", 1))
        sink.publish(up("70B3D57ED0000001", 2))
        got = [await next_event(tenant_sub), await next_event(tenant_sub)]
        assert [e["f_cnt"] for e in got] == [1, 2]  # in order (one key, one partition)
        assert got[0] == up("70B3D57ED0000001", 1)  # the app handler's dict, unchanged
        assert other_sub.pending == 0  # tenant isolation as in embedded mode
        await sink.flush()
        assert sink.published == 2 and sink.failed == 0
    finally:
        hub.close()
        await bus.stop()


async def test_stale_events_are_not_streamed() -> None:
    hub = EventHub()
    relay = event_relay(hub, max_age_s=30.0, clock=lambda: NOW.timestamp())
    sub = hub.open(tenant_id=None)

    def env(emitted: datetime, f_cnt: int) -> Envelope[BaseMessage]:
        msg = ApplicationEvent(dev_eui="01", event=up("01", f_cnt), emitted_at=emitted)
        return Envelope(Topic.AS_EVENT, "01", 0, f_cnt, {}, msg, b"")

    await relay(env(NOW - timedelta(seconds=120), 1))  # replayed backlog
    await relay(env(NOW - timedelta(seconds=1), 2))
    assert (await next_event(sub))["f_cnt"] == 2
    assert sub.pending == 0
    hub.close()


async def test_the_sink_never_blocks_and_drops_beyond_its_bound() -> None:
    gate = asyncio.Event()

    class SlowBus:
        def __init__(self) -> None:
            self.published: list[str] = []

        async def publish(self, topic: str, key: str, message: BaseMessage, **kw: Any) -> None:
            await gate.wait()
            self.published.append(key)

    bus = SlowBus()
    sink = BusEventSink(bus, max_in_flight=3)  # type: ignore[arg-type]
    for n in range(5):
        sink.publish(up(f"{n:016X}", n))  # returns at once although the bus is stuck
    assert sink.dropped == 2
    gate.set()
    await sink.flush()
    assert len(bus.published) == 3 and sink.published == 3


async def test_a_failing_bus_is_counted_not_raised() -> None:
    class BrokenBus:
        async def publish(self, *a: Any, **kw: Any) -> None:
            raise ConnectionError("broker away")

    sink = BusEventSink(BrokenBus())  # type: ignore[arg-type]
    sink.publish(up("01", 1))
    await sink.flush()
    assert sink.failed == 1 and sink.published == 0
