"""The integration outbox: an event's deliveries are written with its uplink-log row and
survive a crash between that commit and the publish; retries keep their attempts in the
outbox; several relays never deliver one row twice."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from services.app_handler.core.events import DeviceInfo
from services.app_handler.errors import DeliveryRetry
from services.app_handler.integrations.webhook import WebhookIntegration
from services.app_handler.outbox import OutboxRelay, deliveries
from services.app_handler.service import AppHandlerService
from services.app_handler.settings import AppHandlerSettings, OutboxSettings, WebhookSettings
from services.bus.topics import Topic
from services.lorawan.types import EUI64, DevAddr
from services.storage import OutboxEntry, Storage, UplinkRecord

from .conftest import DEV_EUI, HookServer, World, eventually
from .test_service import Harness, joined, settings, start_harness, uplink


class FakeMqtt:
    """Records deliveries; ``fail`` DeliveryRetry answers first (broker away); ``hang``
    keeps every delivery waiting (a process about to be killed)."""

    def __init__(self, *, fail: int = 0, hang: bool = False, up: bool = True) -> None:
        self.fail = fail
        self.hang = hang
        self.up = up
        self.delivered: list[tuple[str, str, dict[str, Any]]] = []
        self.calls = 0

    async def start(self) -> None:
        return None

    def is_connected(self) -> bool:
        return self.up

    async def stop(self) -> None:
        return None

    async def deliver(self, application_id: str, dev_eui: str, event: Mapping[str, Any]) -> None:
        self.calls += 1
        if self.hang:
            await asyncio.Event().wait()
        if self.fail > 0:
            self.fail -= 1
            raise DeliveryRetry("MQTT broker not connected")
        self.delivered.append((application_id, dev_eui, dict(event)))


def mqtt_settings(instance_id: str, **outbox: Any) -> AppHandlerSettings:
    cfg = settings()
    cfg.outbox = OutboxSettings(instance_id=instance_id, **outbox)
    return cfg


async def start_with(storage: Storage, cfg: AppHandlerSettings, mqtt: FakeMqtt) -> Harness:
    """The app handler of test_service's harness, with ``mqtt`` as its MQTT integration."""
    original = AppHandlerService.__init__

    def init(self: AppHandlerService, *a: Any, **kw: Any) -> None:
        kw["mqtt"] = mqtt
        original(self, *a, **kw)

    AppHandlerService.__init__ = init  # type: ignore[method-assign]
    try:
        return await start_harness(storage, cfg)
    finally:
        AppHandlerService.__init__ = original  # type: ignore[method-assign]


async def stop(h: Harness) -> None:
    await h.bus.stop()
    await h.service.stop()


async def kill(h: Harness) -> None:
    """Stop the process abruptly: nothing is drained, nothing more is written."""
    relay = h.service.outbox
    assert relay._runner is not None
    relay._runner.cancel()
    for task in list(relay._tasks):
        task.cancel()
    await asyncio.gather(relay._runner, *relay._tasks, return_exceptions=True)
    relay._runner = None
    await h.bus.stop()


async def outbox_keys(storage: Storage) -> list[str]:
    async with storage.engine.connect() as conn:
        rows = await conn.execute(text("SELECT key FROM integration_outbox ORDER BY key"))
        return [r[0] for r in rows]


# ------------------------------------------------------------------ written with the uplink


async def test_uplink_row_and_its_deliveries_commit_together(
    storage: Storage, world: World, hook_server: HookServer
) -> None:
    mqtt = FakeMqtt(hang=True)  # nothing leaves: the rows stay for inspection
    h = await start_with(storage, mqtt_settings("ah-1"), mqtt)
    try:
        await joined(h, storage)
        up = uplink(7, dedup_id="d" * 32)
        await h.publish(Topic.NS_UP, up)
        await eventually(lambda: h.service.counters.uplinks["new"] == 1, what="uplink")
        # the same ns.up again (a redelivery after a crash): no second row of anything
        await h.publish(Topic.NS_UP, up)
        await eventually(lambda: h.service.counters.uplinks["duplicate"] == 1, what="dup")
    finally:
        await kill(h)
    # one MQTT publish (still waiting: the broker never answered) and one POST to the
    # application's webhook (made once, and forgotten), keyed by the dedup id
    assert await outbox_keys(storage) == [f"up:{'d' * 32}:mqtt"]
    assert len(hook_server.requests) == 1
    assert json.loads(hook_server.requests[0].body)["dedup_id"] == "d" * 32


async def test_no_row_when_the_uplink_is_refused(storage: Storage, world: World) -> None:
    entry = OutboxEntry(
        key="up:x:mqtt", dev_eui=DEV_EUI, target="mqtt", event="up", body={"event": {}}
    )
    unknown = UplinkRecord(
        dev_eui=EUI64.from_hex("FFFFFFFFFFFFFFFF"),
        dev_addr=DevAddr.from_hex("26011BDA"),
        session_id=uuid.uuid4(),
        f_cnt=1,
        f_port=1,
        payload=b"x",
        dr=0,
        freq=868_100_000,
    )
    result = await storage.uplinks.insert_many_with_outbox([(unknown, [entry])])
    assert len(result) == 1 and isinstance(result[0], Exception)
    assert await outbox_keys(storage) == []


# ------------------------------------------------------------------ crash and restart


async def test_killed_after_commit_the_restarted_handler_delivers_at_once(
    storage: Storage, world: World, hook_server: HookServer
) -> None:
    h = await start_with(storage, mqtt_settings("ah-1"), FakeMqtt(hang=True))
    try:
        await joined(h, storage)
        await h.publish(Topic.NS_UP, uplink(9, dedup_id="e" * 32))
        await eventually(lambda: h.service.counters.uplinks["new"] == 1, what="uplink")
        # the webhook POST went out; the MQTT publish is still waiting for the broker
        await eventually(
            lambda: _keys_are(storage, [f"up:{'e' * 32}:mqtt"]), what="POST made, publish not"
        )
    finally:
        await kill(h)
    # restarted under the same identity: its own rows are taken back without waiting for
    # the lease (30 s)
    mqtt = FakeMqtt()
    h2 = await start_with(storage, mqtt_settings("ah-1"), mqtt)
    try:
        await eventually(lambda: len(mqtt.delivered) == 1, what="MQTT event after restart")
        app_id, dev_eui, event = mqtt.delivered[0]
        assert (app_id, dev_eui) == (str(world.app.id), str(DEV_EUI))
        assert event["event"] == "up" and event["dedup_id"] == "e" * 32 and event["f_cnt"] == 9
        assert json.loads(hook_server.requests[0].body)["dedup_id"] == "e" * 32
        await eventually(lambda: _empty(storage), what="outbox emptied")
    finally:
        await stop(h2)
    assert len(mqtt.delivered) == 1 and len(hook_server.requests) == 1


async def test_another_instance_takes_over_only_when_the_lease_runs_out(
    storage: Storage, world: World
) -> None:
    h = await start_with(storage, mqtt_settings("ah-1", lease_s=0.5), FakeMqtt(hang=True))
    try:
        await joined(h, storage)
        await h.publish(Topic.NS_UP, uplink(3))
        await eventually(lambda: h.service.counters.uplinks["new"] == 1, what="uplink")
    finally:
        await kill(h)
    mqtt = FakeMqtt()
    loop = asyncio.get_running_loop()
    started = loop.time()
    h2 = await start_with(storage, mqtt_settings("ah-2", poll_interval_s=0.05), mqtt)
    try:
        await eventually(lambda: len(mqtt.delivered) == 1, what="taken over after the lease")
    finally:
        await stop(h2)
    assert loop.time() - started >= 0.3  # not before the lease of ah-1 ran out


async def _keys_are(storage: Storage, keys: list[str]) -> bool:
    return await outbox_keys(storage) == keys


async def _empty(storage: Storage) -> bool:
    waiting, failed = await storage.outbox.counts()
    return waiting == 0 and failed == 0


# ------------------------------------------------------------------ retries


async def test_broker_away_the_event_waits_untouched_and_goes_out_once_it_is_back(
    storage: Storage, world: World
) -> None:
    mqtt = FakeMqtt(up=False)
    h = await start_with(storage, mqtt_settings("ah-1", poll_interval_s=0.05), mqtt)
    try:
        await joined(h, storage)
        await h.publish(Topic.NS_UP, uplink(4, plain=b"\x01", dedup_id="a" * 32))
        await eventually(lambda: h.service.outbox.counters.parked == 1, what="parked")
        await asyncio.sleep(0.3)  # several polls while the broker is away
        row = await storage.outbox.get(f"up:{'a' * 32}:mqtt")
        assert row is not None and row.attempts == 0 and mqtt.calls == 0  # no write per poll
        mqtt.up = True
        await eventually(lambda: len(mqtt.delivered) == 1, what="delivered once back")
        await eventually(lambda: _empty(storage), what="outbox emptied")
    finally:
        await stop(h)
    assert mqtt.calls == 1 and mqtt.delivered[0][2]["dedup_id"] == "a" * 32


async def test_failed_publishes_are_retried_with_backoff(storage: Storage, world: World) -> None:
    mqtt = FakeMqtt(fail=3)
    cfg = mqtt_settings("ah-1", retry_initial_s=0.02, retry_max_s=0.05)
    h = await start_with(storage, cfg, mqtt)
    try:
        await joined(h, storage)
        await h.publish(Topic.NS_UP, uplink(4, plain=b"\x01", dedup_id="f" * 32))
        await eventually(lambda: len(mqtt.delivered) == 1, what="delivered once back")
        await eventually(lambda: _empty(storage), what="outbox emptied")
    finally:
        await stop(h)
    assert mqtt.calls == 4 and h.service.outbox.counters.retried == 3


async def test_retry_attempts_are_kept_in_the_outbox(storage: Storage, world: World) -> None:
    mqtt = FakeMqtt(fail=2)
    relay = OutboxRelay(
        storage.outbox,
        OutboxSettings(instance_id="r", retry_initial_s=60, retry_max_s=60),
        owner="r",
        mqtt=mqtt,
        webhooks=WebhookIntegration(WebhookSettings()),
    )
    entry = deliveries(
        "up:1",
        {"event": "up", "dev_eui": str(DEV_EUI)},
        DeviceInfo(dev_eui=str(DEV_EUI), application_id=str(world.app.id)),
        mqtt=True,
        lease_owner="r",
        lease_until=relay.lease()[1],
    )
    assert [e.key for e in entry] == ["up:1:mqtt"]
    await storage.outbox.add_many(entry)
    await relay.start()
    try:
        await eventually(lambda: mqtt.calls == 1, what="first attempt")
        await relay.drain()
    finally:
        await relay.stop()
    row = await storage.outbox.get("up:1:mqtt")
    assert row is not None and row.attempts == 1 and row.lease_owner is None
    assert row.last_error == "MQTT broker not connected" and row.failed_at is None
    assert row.next_attempt_at is not None
    assert row.next_attempt_at - row.created_at >= timedelta(seconds=59)  # type: ignore[operator]


async def test_old_waiting_mqtt_rows_and_old_failures_expire(
    storage: Storage, world: World
) -> None:
    old = datetime.now(UTC) - timedelta(days=2)
    rows = [
        OutboxEntry(
            key="m-old", dev_eui=DEV_EUI, target="mqtt", event="up", body={}, created_at=old
        ),
        OutboxEntry(key="m-new", dev_eui=DEV_EUI, target="mqtt", event="up", body={}),
        OutboxEntry(
            key="w-old", dev_eui=DEV_EUI, target="webhook", event="up", body={}, created_at=old
        ),
        OutboxEntry(
            key="w-failed", dev_eui=DEV_EUI, target="webhook", event="up", body={}, failed_at=old
        ),
    ]
    await storage.outbox.add_many(rows)
    relay = OutboxRelay(
        storage.outbox,
        OutboxSettings(mqtt_max_age_s=86_400, failed_retention_s=86_400),
        owner="r",
        mqtt=FakeMqtt(up=False),
        webhooks=WebhookIntegration(WebhookSettings()),
    )
    await relay._expire()
    assert relay.counters.expired == 2
    assert await outbox_keys(storage) == ["m-new", "w-old"]  # webhooks wait for their retries


async def test_webhook_5xx_is_retried_and_4xx_is_kept_as_failed(
    storage: Storage, world: World, hook_server: HookServer
) -> None:
    hook_server.statuses.extend([503, 200])
    h = await start_harness(storage, settings())
    try:
        await joined(h, storage)
        await h.publish(Topic.NS_UP, uplink(5))
        await eventually(lambda: len(hook_server.requests) == 2, what="retried POST")
        await eventually(lambda: _empty(storage), what="delivered and forgotten")
        hook_server.statuses.append(400)
        await h.publish(Topic.NS_UP, uplink(6))
        await eventually(lambda: len(hook_server.requests) == 3, what="refused POST")
        await eventually(lambda: h.service.outbox.counters.failed == 1, what="given up")
    finally:
        await stop(h)
    failed = await storage.outbox.failed()
    assert [f.target for f in failed] == ["webhook"] and "HTTP 400" in (failed[0].last_error or "")
    assert await storage.outbox.claim("x", lease_s=1, limit=10) == []  # never claimed again


# ------------------------------------------------------------------ several relays


async def test_two_relays_on_one_database_deliver_each_row_once(
    storage: Storage, world: World
) -> None:
    device = DeviceInfo(dev_eui=str(DEV_EUI), application_id=str(world.app.id))
    rows = [
        e
        for i in range(200)
        for e in deliveries(
            f"up:{i}",
            {"event": "up", "i": i},
            device,
            mqtt=True,
            lease_owner=None,
            lease_until=None,
        )
    ]
    assert len(await storage.outbox.add_many(rows)) == 200
    sinks = [FakeMqtt(), FakeMqtt()]
    relays = [
        OutboxRelay(
            storage.outbox,
            OutboxSettings(claim_batch=7, poll_interval_s=0.01),
            owner=f"relay-{n}",
            mqtt=sinks[n],
            webhooks=WebhookIntegration(WebhookSettings()),
        )
        for n in range(2)
    ]
    for r in relays:
        await r.start()
    try:
        await eventually(
            lambda: sum(len(s.delivered) for s in sinks) >= 200, timeout=20, what="all out"
        )
        await eventually(lambda: _empty(storage), what="outbox emptied")
    finally:
        for r in relays:
            await r.stop()
    seen = [e["i"] for s in sinks for _, _, e in s.delivered]
    assert sorted(seen) == list(range(200))  # each exactly once
    assert all(s.delivered for s in sinks)  # both took a share
