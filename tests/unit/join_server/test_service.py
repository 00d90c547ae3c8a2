"""The adapter over a real SQLite storage: DevNonce rules, idempotency, DevAddr, the bus."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest
from prometheus_client import REGISTRY

from services.bus.base import RetryPolicy
from services.bus.memory import MemoryBus
from services.bus.messages import AppSKeyDelivery, BaseMessage, JoinAccept
from services.bus.topics import Topic
from services.join_server import JoinServerService, JoinServerSettings
from services.join_server.answers import EVENT_KIND
from services.lorawan.join import JoinAcceptPayload
from services.lorawan.keys import derive_session_keys_10, derive_session_keys_11
from services.lorawan.phy_payload import PhyPayload
from services.lorawan.types import EUI64, AES128Key, DevAddr, NetID
from services.storage import DeviceSession, Storage

from .conftest import (
    APP_KEY,
    DEV_EUI,
    JOIN_EUI,
    NWK_KEY,
    FakeClock,
    join_request,
    register,
    seeded_rng,
    session_ids,
)

KEK_HEX = "000102030405060708090A0B0C0D0E0F"
NET_ID = NetID.from_hex("000013")


class RecordingBus:
    """Just enough of a Bus for handle(): records publishes, can fail the next N of them."""

    def __init__(self) -> None:
        self.published: list[tuple[str, str, BaseMessage]] = []
        self.fail_next = 0
        self.subscriptions: list[tuple[str, str]] = []

    async def publish(
        self,
        topic: str,
        key: str,
        message: BaseMessage,
        *,
        headers: Mapping[str, bytes] | None = None,
    ) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("broker unavailable")
        self.published.append((topic, key, message))

    def subscribe(self, topic: str, group: str, handler: Any, concurrency: int = 4) -> None:
        self.subscriptions.append((topic, group))

    def of(self, topic: Topic) -> list[Any]:
        return [m for t, _, m in self.published if t == topic.value]


def make_service(
    storage: Storage, bus: Any, clock: FakeClock, rng: Any = None, **settings: Any
) -> JoinServerService:
    values: dict[str, Any] = {"net_id": "000013", "kek_label": "kek1", "kek": KEK_HEX}
    values.update(settings)
    return JoinServerService(
        JoinServerSettings(**values),
        bus,
        storage,
        clock=clock,
        rng=rng or seeded_rng(7),
        new_session_id=session_ids(),
    )


def decrypt(accept: JoinAccept) -> JoinAcceptPayload:
    phy = PhyPayload.from_bytes(accept.phy_payload or b"")
    phy.decrypt_join_accept_payload(NWK_KEY)
    assert isinstance(phy.payload, JoinAcceptPayload)
    return phy.payload


@pytest.mark.parametrize("mac_version", ["1.0.2", "1.0.4", "1.1.0"])
async def test_join_publishes_network_keys_and_wrapped_app_s_key(
    storage: Storage, clock: FakeClock, mac_version: str
) -> None:
    await register(storage, mac_version)
    bus = RecordingBus()
    svc = make_service(storage, bus, clock)
    answer = await svc.handle(join_request(0x0042))

    assert [t for t, _, _ in bus.published] == ["js.app_s_key", "js.join.accept"]
    assert all(k == str(DEV_EUI) for _, k, _ in bus.published)
    assert answer.accepted and bus.of(Topic.JS_JOIN_ACCEPT) == [answer]
    plain = decrypt(answer)
    assert plain.join_nonce == 1 == answer.join_nonce  # the device's first JoinNonce
    assert plain.dev_addr.belongs_to(NET_ID) and str(plain.dev_addr) == answer.dev_addr
    if mac_version.startswith("1.1"):
        keys = derive_session_keys_11(NWK_KEY, APP_KEY, 1, JOIN_EUI, 0x0042)
    else:
        keys = derive_session_keys_10(NWK_KEY, 1, NET_ID, 0x0042)
    assert answer.f_nwk_s_int_key == str(keys.f_nwk_s_int_key)
    assert answer.nwk_s_enc_key == str(keys.nwk_s_enc_key)
    [delivery] = bus.of(Topic.JS_APP_S_KEY)
    assert isinstance(delivery, AppSKeyDelivery)
    assert delivery.kek_label == "kek1" and len(delivery.app_s_key_wrapped) == 48
    assert svc.wrapper.unwrap("kek1", delivery.app_s_key_wrapped) == keys.app_s_key
    assert (delivery.session_id, delivery.dev_addr) == (answer.session_id, answer.dev_addr)
    assert str(keys.app_s_key) not in answer.model_dump_json()

    device = await storage.devices.get(DEV_EUI, tenant_id=None)
    assert device is not None and device.join_nonce == 1 and device.last_dev_nonce == 0x0042
    events = (await storage.events.list(DEV_EUI, tenant_id=None)).items
    [event] = [e for e in events if e.kind == EVENT_KIND]
    assert event.data["dedup_id"] == answer.dedup_id
    assert not any("key" in name for name in event.data)  # no secrets in operator events
    assert svc.counters["accepted"] == 1


async def test_dev_nonce_any_reuse_rejected_for_1_0_3(storage: Storage, clock: FakeClock) -> None:
    await register(storage, "1.0.3")
    bus = RecordingBus()
    svc = make_service(storage, bus, clock)
    results = [(n, (await svc.handle(join_request(n))).reason) for n in (500, 7, 500, 7, 8)]
    assert results == [
        (500, None),
        (7, None),
        (500, "dev_nonce_reused"),
        (7, "dev_nonce_reused"),
        (8, None),
    ]
    device = await storage.devices.get(DEV_EUI, tenant_id=None)
    assert device is not None and device.join_nonce == 3  # rejections consume no JoinNonce
    assert svc.counters["rejected:dev_nonce_reused"] == 2


@pytest.mark.parametrize("mac_version", ["1.0.4", "1.1.0"])
async def test_dev_nonce_must_increase_for_1_0_4_and_1_1(
    storage: Storage, clock: FakeClock, mac_version: str
) -> None:
    await register(storage, mac_version)
    svc = make_service(storage, RecordingBus(), clock)
    results = [(n, (await svc.handle(join_request(n))).reason) for n in (5, 3, 5, 6, 0xFFFF)]
    assert results == [
        (5, None),
        (3, "dev_nonce_reused"),
        (5, "dev_nonce_reused"),
        (6, None),
        (0xFFFF, None),
    ]
    accepted = [m for m in svc._bus.of(Topic.JS_JOIN_ACCEPT) if m.accepted]  # type: ignore[attr-defined]
    assert [a.join_nonce for a in accepted] == [1, 2, 3]  # strictly increasing JoinNonces


async def test_bad_mic_rejected_and_consumes_no_dev_nonce(
    storage: Storage, clock: FakeClock
) -> None:
    await register(storage, "1.0.4")
    bus = RecordingBus()
    svc = make_service(storage, bus, clock)
    before = (
        REGISTRY.get_sample_value(
            "hyperlora_join_server_rejected_total", {"reason": "mic_mismatch"}
        )
        or 0.0
    )
    bad = await svc.handle(join_request(10, key=AES128Key(bytes(16))))
    assert not bad.accepted and bad.reason == "mic_mismatch" and bad.phy_payload is None
    assert bus.of(Topic.JS_APP_S_KEY) == []
    after = REGISTRY.get_sample_value(
        "hyperlora_join_server_rejected_total", {"reason": "mic_mismatch"}
    )
    assert after == before + 1
    assert (await svc.handle(join_request(10))).accepted  # the nonce was not recorded


async def test_unknown_and_disabled_devices(storage: Storage, clock: FakeClock) -> None:
    bus = RecordingBus()
    svc = make_service(storage, bus, clock)
    unknown = await svc.handle(join_request(1))
    assert (unknown.accepted, unknown.reason) == (False, "unknown_device")
    other = EUI64.from_hex("0004A30B001C0531")
    await register(storage, "1.0.3", dev_eui=other, enabled=False)
    disabled = await svc.handle(join_request(1, dev_eui=other))
    assert disabled.reason == "device_disabled"
    assert [m.reason for m in bus.of(Topic.JS_JOIN_ACCEPT)] == ["unknown_device", "device_disabled"]


@pytest.mark.parametrize("mac_version", ["1.0.3", "1.0.4", "1.1.0"])
async def test_redelivery_is_answered_identically(
    storage: Storage, clock: FakeClock, mac_version: str
) -> None:
    await register(storage, mac_version)
    bus = RecordingBus()
    svc = make_service(storage, bus, clock)
    req = join_request(77, dedup_id="dedup-1")
    first = await svc.handle(req)
    clock.advance(30)
    again = await svc.handle(req)  # same dedup_id: the bus redelivered it
    assert again == first
    [d1, d2] = bus.of(Topic.JS_APP_S_KEY)
    assert d1 == d2
    # a restarted join server (empty memory) finds the answer in the device's events
    svc2 = make_service(storage, bus, clock, rng=seeded_rng(99))
    assert await svc2.handle(req) == first
    device = await storage.devices.get(DEV_EUI, tenant_id=None)
    assert device is not None and device.join_nonce == 1  # one JoinNonce, one session
    assert (svc.counters["redelivered"], svc2.counters["redelivered"]) == (1, 1)
    # the same frame under another dedup_id is a replay
    assert (await svc2.handle(join_request(77))).reason == "dev_nonce_reused"


async def test_late_redelivery_after_a_newer_join_is_refused(
    storage: Storage, clock: FakeClock
) -> None:
    await register(storage, "1.0.3")
    svc = make_service(storage, RecordingBus(), clock)
    old = join_request(1, dedup_id="old")
    assert (await svc.handle(old)).accepted
    assert (await svc.handle(join_request(2, dedup_id="new"))).accepted
    stale = await svc.handle(old)
    assert (stale.accepted, stale.reason) == (False, "stale_redelivery")
    svc2 = make_service(storage, RecordingBus(), clock)
    assert (await svc2.handle(old)).reason == "stale_redelivery"


async def test_retry_after_publish_failure_reuses_the_answer(
    storage: Storage, clock: FakeClock
) -> None:
    await register(storage, "1.0.4")
    bus = RecordingBus()
    svc = make_service(storage, bus, clock)
    req = join_request(3)
    bus.fail_next = 1
    with pytest.raises(ConnectionError):  # left to the bus to retry
        await svc.handle(req)
    assert svc.counters["errors"] == 1
    answer = await svc.handle(req)
    assert answer.accepted and answer.join_nonce == 1


async def test_retry_after_storage_failure_keeps_the_claimed_dev_nonce(
    storage: Storage, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await register(storage, "1.0.3")
    svc = make_service(storage, RecordingBus(), clock)
    real = storage.devices.next_join_nonce
    calls = {"n": 0}

    async def flaky(dev_eui: EUI64) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("database is locked")
        return await real(dev_eui)

    monkeypatch.setattr(storage.devices, "next_join_nonce", flaky)
    req = join_request(9)
    with pytest.raises(OSError):
        await svc.handle(req)
    answer = await svc.handle(req)  # DevNonce 9 already recorded, but by this very request
    assert answer.accepted
    assert (await svc.handle(join_request(9))).reason == "dev_nonce_reused"


class ScriptedRng:
    def __init__(self, values: list[int]) -> None:
        self.values = values

    def getrandbits(self, k: int, /) -> int:
        return self.values.pop(0)


async def test_dev_addr_in_use_is_avoided(storage: Storage, clock: FakeClock) -> None:
    other = EUI64.from_hex("0004A30B001C0599")
    await register(storage, "1.0.3", dev_eui=other)
    busy = DevAddr.for_net_id(NET_ID, 5)
    await storage.sessions.create(
        DeviceSession(
            dev_eui=other,
            dev_addr=busy,
            mac_version="1.0.3",
            f_nwk_s_int_key=NWK_KEY,
            s_nwk_s_int_key=NWK_KEY,
            nwk_s_enc_key=NWK_KEY,
        )
    )
    await register(storage, "1.0.3")
    svc = make_service(storage, RecordingBus(), clock, rng=ScriptedRng([5, 5, 9]))
    answer = await svc.handle(join_request(1))
    assert answer.dev_addr == str(DevAddr.for_net_id(NET_ID, 9))
    # every candidate taken: the last one is used anyway (the MIC separates sessions)
    svc2 = make_service(
        storage, RecordingBus(), clock, rng=ScriptedRng([5] * 3), dev_addr_attempts=2
    )
    assert (await svc2.handle(join_request(2))).dev_addr == str(busy)


async def test_us915_join_carries_the_sub_band_cf_list(storage: Storage, clock: FakeClock) -> None:
    await register(storage, "1.0.3", region="US915")
    svc = make_service(storage, RecordingBus(), clock)
    answer = await svc.handle(join_request(1, region="US915"))
    plain = decrypt(answer)
    assert plain.cf_list is not None and plain.cf_list.ch_masks[:5] == (0xFF00, 0, 0, 0, 2)
    assert (answer.rx2_dr, answer.rx2_freq_hz) == (8, 923_300_000)


async def test_through_the_memory_bus(storage: Storage, clock: FakeClock) -> None:
    await register(storage, "1.1.0")
    bus = MemoryBus(partitions=2, retry=RetryPolicy(max_attempts=2, backoff_initial_s=0.001))
    svc = make_service(storage, bus, clock)
    got: dict[str, list[BaseMessage]] = {"accept": [], "key": []}
    done = asyncio.Event()

    async def on_accept(env: Any) -> None:
        got["accept"].append(env.message)
        done.set()

    async def on_key(env: Any) -> None:
        got["key"].append(env.message)

    await svc.start()
    bus.subscribe(Topic.JS_JOIN_ACCEPT.value, "network_server", on_accept)
    bus.subscribe(Topic.JS_APP_S_KEY.value, "app_handler", on_key)
    await bus.start()
    try:
        req = join_request(1)
        await bus.publish(Topic.JS_JOIN_REQUEST.value, req.dev_eui, req)
        await asyncio.wait_for(done.wait(), timeout=10)
    finally:
        await svc.stop()
        await bus.stop()
    [accept] = got["accept"]
    assert isinstance(accept, JoinAccept) and accept.accepted and accept.dedup_id == req.dedup_id
    assert decrypt(accept).dl_settings.opt_neg is True
    [key] = got["key"]
    assert isinstance(key, AppSKeyDelivery) and key.session_id == accept.session_id
    assert bus.counters.dead_lettered == 0


async def test_start_subscribes_the_join_server_group(storage: Storage, clock: FakeClock) -> None:
    bus = RecordingBus()
    svc = make_service(storage, bus, clock)
    await svc.start()
    await svc.start()  # idempotent
    assert bus.subscriptions == [("js.join.request", "join_server")]
    await svc.stop()


async def test_composition_root_starts_and_stops(tmp_path: Any) -> None:
    from services.bus.settings import BusSettings
    from services.join_server.app import run
    from services.storage import StorageSettings

    stop = asyncio.Event()
    task = asyncio.create_task(
        run(
            JoinServerSettings(),
            BusSettings(backend="memory"),
            StorageSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'js.db'}"),
            stop=stop,
            install_signal_handlers=False,
        )
    )
    await asyncio.sleep(0.3)
    assert not task.done()
    stop.set()
    await asyncio.wait_for(task, timeout=30)
    assert (tmp_path / "js.db").exists()
