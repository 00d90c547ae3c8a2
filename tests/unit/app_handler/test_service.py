"""AppHandlerService over the in-process bus and a real SQLite storage, with a real local
webhook receiver and the API's event hub."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

from services.api.events import EventHub, Subscription
from services.app_handler.app import run
from services.app_handler.service import AppHandlerService
from services.app_handler.sessions import activate_abp
from services.app_handler.settings import AppHandlerSettings, MqttSettings, WebhookSettings
from services.bus.base import Envelope
from services.bus.memory import MemoryBus
from services.bus.messages import (
    ApplicationUplink,
    AppSKeyDelivery,
    BaseMessage,
    DownlinkAck,
    DownlinkRequest,
    DownlinkTxAck,
    JoinEvent,
    LedgerRecord,
    RxMetadata,
)
from services.bus.settings import BusSettings
from services.bus.topics import Topic
from services.lorawan.crypto import encrypt_frm_payload
from services.lorawan.types import AES128Key, DevAddr
from services.storage import Storage, StorageSettings
from services.storage.migrate import current_revision, head_revision

from .conftest import DEV_EUI, OTHER_EUI, HookServer, World, eventually

KEK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
APP_S_KEY = AES128Key.from_hex("2B7E151628AED2A6ABF7158809CF4F3C")
DEV_ADDR = DevAddr.from_hex("26011BDA")
SESSION = uuid.UUID("00000000-0000-4000-8000-00000000beef")
T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
LPP = bytes.fromhex("03670110056700FF")


@dataclass
class Harness:
    bus: MemoryBus
    service: AppHandlerService
    hub: EventHub
    events: Subscription
    requests: list[DownlinkRequest] = field(default_factory=list)
    submits: list[DownlinkRequest] = field(default_factory=list)
    ledger: list[LedgerRecord] = field(default_factory=list)

    async def publish(self, topic: Topic, message: BaseMessage) -> None:
        await self.bus.publish(topic, str(getattr(message, "dev_eui", "")), message)

    def hub_events(self) -> list[dict[str, object]]:
        out = []
        while self.events.pending:
            item = self.events._queue.get_nowait()
            out.append(item[1])
        return out


def settings(**kw: object) -> AppHandlerSettings:
    return AppHandlerSettings(
        kek_label="kek1",
        kek=KEK.hex(),
        mqtt=MqttSettings(enabled=False),
        webhook=WebhookSettings(backoff_initial_s=0.01, backoff_max_s=0.05, max_retries=2),
        **kw,  # type: ignore[arg-type]
    )


async def start_harness(storage: Storage, cfg: AppHandlerSettings) -> Harness:
    bus = MemoryBus(partitions=2)
    hub = EventHub()
    service = AppHandlerService(cfg, bus, storage, event_hub=hub)
    h = Harness(bus, service, hub, hub.open(tenant_id=None))

    async def on_request(env: Envelope[BaseMessage]) -> None:
        assert isinstance(env.message, DownlinkRequest)
        h.requests.append(env.message)

    async def on_submit(env: Envelope[BaseMessage]) -> None:
        assert isinstance(env.message, DownlinkRequest)
        h.submits.append(env.message)

    async def on_ledger(env: Envelope[BaseMessage]) -> None:
        assert isinstance(env.message, LedgerRecord)
        h.ledger.append(env.message)

    bus.subscribe(Topic.AS_DOWN_REQUEST, "test", on_request)
    bus.subscribe(Topic.AS_DOWN_SUBMIT, "test", on_submit)
    bus.subscribe(Topic.LEDGER_TX, "test", on_ledger)
    await service.start()
    await bus.start()
    return h


@pytest.fixture
async def harness(storage: Storage, world: World) -> AsyncIterator[Harness]:
    h = await start_harness(storage, settings())
    try:
        yield h
    finally:
        await h.bus.stop()
        await h.service.stop()


def delivery(session_id: uuid.UUID = SESSION, mac_version: str = "1.0.3") -> AppSKeyDelivery:
    return AppSKeyDelivery(
        dev_eui=str(DEV_EUI),
        join_eui="70B3D57ED0000000",
        dev_addr=str(DEV_ADDR),
        session_id=str(session_id),
        mac_version=mac_version,
        kek_label="kek1",
        app_s_key_wrapped=aes_key_wrap(KEK, APP_S_KEY.value).hex(),
    )


def rx(gw: str = "AA555A0000000001", zone: str | None = "zone-a") -> RxMetadata:
    return RxMetadata(
        gw_eui=gw, freq_hz=868_100_000, rssi=-80, snr=7.5, size=20, received_at=T0, zone=zone
    )


def uplink(
    f_cnt: int,
    plain: bytes = LPP,
    *,
    session_id: uuid.UUID | None = SESSION,
    n_f_cnt_down: int | None = None,
    dedup_id: str | None = None,
    dev_eui: str = str(DEV_EUI),
) -> ApplicationUplink:
    return ApplicationUplink(
        dedup_id=dedup_id or uuid.uuid4().hex,
        dev_eui=dev_eui,
        dev_addr=str(DEV_ADDR),
        session_id=None if session_id is None else str(session_id),
        f_cnt=f_cnt,
        f_port=3,
        frm_payload=encrypt_frm_payload(APP_S_KEY, DEV_ADDR, f_cnt, True, plain),
        dr=5,
        freq_hz=868_100_000,
        mac_version="1.0.3",
        n_f_cnt_down=n_f_cnt_down,
        rx=[rx(), rx("AA555A0000000002", None)],
        received_at=T0,
    )


async def joined(h: Harness, storage: Storage, **kw: object) -> None:
    await h.publish(Topic.JS_APP_S_KEY, delivery(**kw))  # type: ignore[arg-type]
    await eventually(
        lambda: h.service.counters.app_sessions["join"] >= 1, what="app session stored"
    )


def decrypt_down(req: DownlinkRequest) -> bytes:
    assert req.encrypted and req.f_cnt_down is not None
    return encrypt_frm_payload(APP_S_KEY, DEV_ADDR, req.f_cnt_down, False, req.frm_payload)


# ------------------------------------------------------------------ uplinks


async def test_uplink_logged_once_and_sent_to_webhook_hub_and_ledger(
    harness: Harness, storage: Storage, world: World, hook_server: HookServer
) -> None:
    h = harness
    await joined(h, storage)
    up = uplink(70_000, n_f_cnt_down=3)
    await h.publish(Topic.NS_UP, up)
    await eventually(lambda: h.service.counters.uplinks["new"] == 1, what="uplink handled")
    await h.service.outbox.drain()

    page = await storage.uplinks.list_recent(DEV_EUI, tenant_id=None)
    assert page.total == 1
    row = page.items[0]
    assert (row.f_cnt, row.payload, row.session_id) == (70_000, LPP, SESSION)
    assert [r["gw_eui"] for r in row.rx_metadata] == ["AA555A0000000001", "AA555A0000000002"]

    assert len(hook_server.requests) == 1
    req = hook_server.requests[0]
    assert req.method == "POST" and req.path == "/hook"
    assert req.headers["authorization"] == "Bearer t0k"
    assert req.headers["x-hyperlora-event"] == "up"
    body = json.loads(req.body)
    assert body["event"] == "up" and body["f_cnt"] == 70_000 and body["f_port"] == 3
    assert body["application_id"] == str(world.app.id)
    assert body["tenant_id"] == str(world.tenant.id)
    assert base64.b64decode(body["data"]) == LPP
    assert body["object"]["measurements"][0] == {
        "channel": 3,
        "type": "temperature",
        "value": 27.2,
    }
    assert [g["gw_eui"] for g in body["rx"]] == ["AA555A0000000001", "AA555A0000000002"]

    assert [e["event"] for e in h.hub_events()] == ["up"]
    await eventually(lambda: len(h.ledger) == 1, what="ledger record")
    rec = h.ledger[0]
    assert (rec.channel, rec.kind, rec.zone) == ("application", "uplink", "zone-a")
    assert rec.idempotency_key == f"up:{DEV_EUI}:{SESSION}:70000"
    assert rec.payload["payload"] == LPP.hex()

    # redelivery of the same ns.up: no second row, no second webhook call
    await h.publish(Topic.NS_UP, up)
    await eventually(lambda: h.service.counters.uplinks["duplicate"] == 1, what="duplicate")
    await h.service.outbox.drain()
    assert (await storage.uplinks.list_recent(DEV_EUI, tenant_id=None)).total == 1
    assert len(hook_server.requests) == 1
    assert h.hub_events() == []
    # the ledger record is republished with the same idempotency key (dropped downstream)
    await eventually(lambda: len(h.ledger) == 2, what="ledger replay")
    assert h.ledger[1].idempotency_key == rec.idempotency_key

    # the NS-reported downlink counter was recorded
    stored = await storage.app_sessions.get(DEV_EUI)
    assert stored is not None and stored.n_f_cnt_down == 3


async def test_uplink_without_session_is_parked(harness: Harness, storage: Storage) -> None:
    h = harness
    await h.publish(Topic.NS_UP, uplink(1))
    await eventually(lambda: len(h.bus.dead_letters) == 1, what="dead letter")
    assert h.service.counters.uplinks["unknown_session"] >= 1
    assert h.bus.dead_letters[0].attempts > 1  # retried (the AppSKey may be on its way)
    await joined(h, storage)
    other = uuid.UUID("00000000-0000-4000-8000-000000000000")
    await h.publish(Topic.NS_UP, uplink(2, session_id=other))  # another session's frame
    await eventually(lambda: len(h.bus.dead_letters) == 2, what="second dead letter")
    assert (await storage.uplinks.list_recent(DEV_EUI, tenant_id=None)).total == 0


async def test_uplink_arriving_before_its_app_s_key_is_delivered_on_retry(
    harness: Harness, storage: Storage
) -> None:
    """The AppSKey travels on js.app_s_key, the uplink on ns.up: the uplink may come first."""
    h = harness
    await h.publish(Topic.NS_UP, uplink(1))
    await eventually(lambda: h.service.counters.uplinks["unknown_session"] >= 1)
    await joined(h, storage)
    await eventually(lambda: h.service.counters.uplinks["new"] == 1, what="delivered on retry")
    assert (await storage.uplinks.list_recent(DEV_EUI, tenant_id=None)).total == 1
    assert not h.bus.dead_letters


async def test_codec_error_still_delivers_the_uplink(
    harness: Harness, storage: Storage, hook_server: HookServer
) -> None:
    h = harness
    await joined(h, storage)
    await h.publish(Topic.NS_UP, uplink(5, b"\x01\xff\x00"))  # unknown LPP type
    await eventually(lambda: h.service.counters.uplinks["new"] == 1)
    await h.service.outbox.drain()
    body = json.loads(hook_server.requests[0].body)
    assert body["object"] is None and "unknown data type 255" in body["codec_error"]
    assert h.service.counters.codec_errors["cayenne_lpp"] == 1


async def test_abp_session_decrypts_uplinks(harness: Harness, storage: Storage) -> None:
    h = harness
    await h.service.activate_abp(
        dev_eui=DEV_EUI, dev_addr=DEV_ADDR, app_s_key=APP_S_KEY, mac_version="1.0.2"
    )
    await h.publish(Topic.NS_UP, uplink(9, b"abp!", session_id=None))
    await eventually(lambda: h.service.counters.uplinks["new"] == 1)
    rec = await storage.uplinks.get(DEV_EUI, 9, tenant_id=None)
    assert rec is not None and rec.payload == b"abp!"


async def test_wrong_kek_is_refused(harness: Harness) -> None:
    h = harness
    bad = delivery().model_copy(
        update={"app_s_key_wrapped": aes_key_wrap(bytes(16), bytes(16)).hex()}
    )
    await h.publish(Topic.JS_APP_S_KEY, bad)
    await eventually(lambda: len(h.bus.dead_letters) == 1)
    assert h.service.counters.app_sessions["invalid_key"] == 1


# ------------------------------------------------------------------ joins, acks


async def test_join_event_and_device_ledger_record(
    harness: Harness, storage: Storage, world: World, hook_server: HookServer
) -> None:
    h = harness
    join = JoinEvent(
        dedup_id="j1",
        dev_eui=str(DEV_EUI),
        join_eui="70B3D57ED0000000",
        dev_addr=str(DEV_ADDR),
        session_id=str(SESSION),
        mac_version="1.0.3",
        rx=[rx(zone="north")],
        received_at=T0,
    )
    await h.publish(Topic.NS_JOIN, join)
    await h.publish(Topic.NS_JOIN, join)  # redelivered: one event, ledger deduped downstream
    await eventually(lambda: len(h.ledger) == 2)
    await h.service.outbox.drain()
    assert [json.loads(r.body)["event"] for r in hook_server.requests] == ["join"]
    assert [e["event"] for e in h.hub_events()] == ["join"]
    rec = h.ledger[0]
    assert (rec.channel, rec.kind, rec.zone) == ("device", "join", "north")
    assert rec.idempotency_key == f"join:{DEV_EUI}:{SESSION}"


# ------------------------------------------------------------------ downlinks


async def test_downlink_encrypted_with_reserved_counters(
    harness: Harness, storage: Storage
) -> None:
    h = harness
    await joined(h, storage)
    await h.publish(Topic.NS_UP, uplink(1, n_f_cnt_down=3))
    await eventually(lambda: h.service.counters.uplinks["new"] == 1)
    for i, data in enumerate((b"\x01\x02", b"second")):
        submit = DownlinkRequest(
            request_id=f"r{i}", dev_eui=str(DEV_EUI), f_port=10, frm_payload=data
        )
        await h.publish(Topic.AS_DOWN_SUBMIT, submit)
    await eventually(lambda: len(h.requests) == 2, what="two as.down.request")
    first, second = h.requests
    assert (first.request_id, first.f_cnt_down, second.f_cnt_down) == ("r0", 3, 4)
    assert first.session_id == str(SESSION) and first.encrypted and first.f_port == 10
    assert decrypt_down(first) == b"\x01\x02" and decrypt_down(second) == b"second"
    assert first.frm_payload != b"\x01\x02"

    # the NS moved on (MAC-only frames share NFCntDown in 1.0.x): the report wins
    await h.publish(Topic.NS_UP, uplink(2, n_f_cnt_down=20))
    await eventually(lambda: h.service.counters.uplinks["new"] == 2)
    await h.publish(
        Topic.AS_DOWN_SUBMIT,
        DownlinkRequest(request_id="r2", dev_eui=str(DEV_EUI), f_port=10, frm_payload=b"x"),
    )
    await eventually(lambda: len(h.requests) == 3)
    assert h.requests[2].f_cnt_down == 20

    # a redelivered submit republishes the same encrypted request (same counter)
    await h.publish(
        Topic.AS_DOWN_SUBMIT,
        DownlinkRequest(request_id="r2", dev_eui=str(DEV_EUI), f_port=10, frm_payload=b"x"),
    )
    await eventually(lambda: len(h.requests) == 4)
    assert h.requests[3] == h.requests[2]


async def test_stale_counter_reencrypts_and_resubmits_bounded(
    storage: Storage, world: World, hook_server: HookServer
) -> None:
    h = await start_harness(storage, settings(max_resubmits=2))
    try:
        await joined(h, storage, mac_version="1.1.0")
        await h.publish(
            Topic.AS_DOWN_SUBMIT,
            DownlinkRequest(request_id="q1", dev_eui=str(DEV_EUI), f_port=7, frm_payload=b"plain!"),
        )
        await eventually(lambda: len(h.requests) == 1)
        assert h.requests[0].f_cnt_down == 0

        def stale(used: int, current: int) -> DownlinkAck:
            return DownlinkAck(
                dev_eui=str(DEV_EUI),
                request_id="q1",
                acknowledged=False,
                reason="f_cnt_stale",
                session_id=str(SESSION),
                f_cnt_down=used,
                current_f_cnt_down=current,
            )

        await h.publish(Topic.NS_ACK, stale(0, 10))
        await eventually(lambda: len(h.requests) == 2)
        assert h.requests[1].f_cnt_down == 10 and h.requests[1].request_id == "q1"
        assert decrypt_down(h.requests[1]) == b"plain!"
        stored = await storage.app_sessions.get(DEV_EUI)
        assert stored is not None and stored.a_f_cnt_down == 10  # 1.1: AFCntDown

        await h.publish(Topic.NS_ACK, stale(0, 10))  # an old copy: ignored
        await h.publish(Topic.NS_ACK, stale(10, 12))
        await eventually(lambda: len(h.requests) == 3)
        assert h.requests[2].f_cnt_down == 12 and decrypt_down(h.requests[2]) == b"plain!"
        assert h.service.counters.downlinks["stale_ack_ignored"] == 1

        await h.publish(Topic.NS_ACK, stale(12, 13))  # third time: bounded, given up
        await eventually(lambda: h.service.counters.events["ack"] == 1, what="nack event")
        assert h.service.counters.downlinks["resubmit_exhausted"] == 1
        await h.service.outbox.drain()
        assert len(h.requests) == 3
        acks = [json.loads(r.body) for r in hook_server.requests]
        assert [(a["event"], a["acknowledged"], a["reason"]) for a in acks] == [
            ("ack", False, "f_cnt_stale")
        ]
    finally:
        await h.bus.stop()
        await h.service.stop()


async def test_ack_and_tx_ack_events(
    harness: Harness, storage: Storage, hook_server: HookServer
) -> None:
    h = harness
    await joined(h, storage)
    await h.publish(
        Topic.AS_DOWN_SUBMIT,
        DownlinkRequest(
            request_id="c1", dev_eui=str(DEV_EUI), f_port=1, frm_payload=b"?", confirmed=True
        ),
    )
    await eventually(lambda: len(h.requests) == 1)
    tx = DownlinkTxAck(
        dev_eui=str(DEV_EUI), request_id="c1", downlink_id="dl1", gw_eui="AA555A0000000001"
    )
    await h.publish(Topic.NS_TX_ACK, tx)
    await h.publish(Topic.NS_TX_ACK, tx)  # redelivered: one event
    mac_only = tx.model_copy(update={"request_id": None, "downlink_id": "dl2"})
    await h.publish(Topic.NS_TX_ACK, mac_only)  # NS frame: no application event
    await eventually(lambda: h.bus.counters.by_topic_handled.get("ns.tx_ack", 0) >= 3)
    assert h.service.counters.events["txack"] == 1
    ack = DownlinkAck(dev_eui=str(DEV_EUI), request_id="c1", acknowledged=True, f_cnt_down=0)
    await h.publish(Topic.NS_ACK, ack)
    await eventually(lambda: h.service.counters.events["ack"] == 1)
    await h.service.outbox.drain()
    got = [json.loads(r.body) for r in hook_server.requests]
    assert [(e["event"], e.get("request_id")) for e in got] == [("txack", "c1"), ("ack", "c1")]
    assert got[1]["acknowledged"] is True
    assert [e["event"] for e in h.hub_events()] == ["txack", "ack"]


async def test_downlink_refusals(harness: Harness, storage: Storage) -> None:
    h = harness
    no_session = DownlinkRequest(
        request_id="n1", dev_eui=str(OTHER_EUI), f_port=1, frm_payload=b"x"
    )
    await h.publish(Topic.AS_DOWN_SUBMIT, no_session)
    encrypted = no_session.model_copy(update={"request_id": "n2", "encrypted": True})
    await h.publish(Topic.AS_DOWN_SUBMIT, encrypted)
    await eventually(lambda: len(h.bus.dead_letters) == 2)
    assert h.service.counters.downlinks["unknown_session"] == 1
    assert h.service.counters.downlinks["invalid"] == 1
    assert h.requests == []


async def test_composition_root_starts_and_stops(tmp_path: Path) -> None:
    stop = asyncio.Event()
    cfg = AppHandlerSettings(mqtt=MqttSettings(enabled=False))
    storage_cfg = StorageSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'run.db'}")
    task = asyncio.create_task(
        run(cfg, BusSettings(backend="memory"), storage_cfg, stop, install_signal_handlers=False)
    )
    await asyncio.sleep(0.5)
    assert not task.done()
    stop.set()
    await asyncio.wait_for(task, timeout=10)
    assert await current_revision(storage_cfg.database_url) == head_revision()


async def test_new_session_from_elsewhere_replaces_the_cached_key(
    harness: Harness, storage: Storage
) -> None:
    h = harness
    await joined(h, storage)
    await h.publish(Topic.NS_UP, uplink(1, b"one"))
    await eventually(lambda: h.service.counters.uplinks["new"] == 1)
    # re-provisioned through the API (another process): new session, new key
    new_key = AES128Key.from_hex("000102030405060708090A0B0C0D0E0F")
    new_session = uuid.UUID("00000000-0000-4000-8000-00000000cafe")
    await activate_abp(
        storage.app_sessions,
        dev_eui=DEV_EUI,
        dev_addr=DEV_ADDR,
        app_s_key=new_key,
        mac_version="1.0.3",
        session_id=new_session,
    )
    up = uplink(1, b"two", session_id=new_session)
    up = up.model_copy(
        update={
            "frm_payload": encrypt_frm_payload(new_key, DEV_ADDR, 1, True, b"two"),
            "received_at": T0.replace(minute=1),
        }
    )
    await h.publish(Topic.NS_UP, up)
    await eventually(lambda: h.service.counters.uplinks["new"] == 2)
    rec = await storage.uplinks.get(DEV_EUI, 1, tenant_id=None)  # most recent session's
    assert rec is not None and rec.payload == b"two" and rec.session_id == new_session
    await h.publish(Topic.NS_UP, uplink(2, b"old"))  # a frame of the replaced session
    await eventually(lambda: h.service.counters.uplinks["unknown_session"] == 1)


async def test_concurrent_uplinks_share_commits_and_stay_exactly_once(
    harness: Harness, storage: Storage
) -> None:
    h = harness
    await joined(h, storage)
    ups = [uplink(f_cnt) for f_cnt in range(1, 41)]
    for up in ups:  # one key: one partition, handled one at a time...
        await h.publish(Topic.NS_UP, up)
    for up in ups[:10]:  # ...and redeliveries of some of them (new bus records)
        await h.publish(Topic.NS_UP, up)
    await eventually(
        lambda: h.service.counters.uplinks["new"] + h.service.counters.uplinks["duplicate"] == 50,
        what="every delivery handled",
    )
    assert (h.service.counters.uplinks["new"], h.service.counters.uplinks["duplicate"]) == (40, 10)
    page = await storage.uplinks.list_recent(DEV_EUI, tenant_id=None, limit=100)
    assert sorted(r.f_cnt for r in page.items) == list(range(1, 41))
    assert sorted(e["f_cnt"] for e in h.hub_events()) == list(range(1, 41))
    assert h.service._uplink_log.items == 50  # every insert went through the group commit


async def test_uplinks_of_many_devices_are_committed_in_groups(
    storage: Storage, world: World
) -> None:
    h = await start_harness(storage, settings(commit_linger_ms=20))
    try:
        await joined(h, storage)
        # the same device under several bus keys spreads the records over both partitions,
        # whose handlers run at once: with a linger their inserts share transactions
        ups = [uplink(f_cnt) for f_cnt in range(1, 65)]
        await asyncio.gather(*(h.bus.publish(Topic.NS_UP, f"k{i}", up) for i, up in enumerate(ups)))
        await eventually(lambda: h.service.counters.uplinks["new"] == 64, what="all handled")
        log = h.service._uplink_log
        assert log.items == 64 and log.batches <= 40
        page = await storage.uplinks.list_recent(DEV_EUI, tenant_id=None, limit=100)
        assert sorted(r.f_cnt for r in page.items) == list(range(1, 65))
    finally:
        await h.bus.stop()
        await h.service.stop()
