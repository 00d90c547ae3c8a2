"""The network server service over the in-memory bus and a real SQLite storage."""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.bus import MemoryBus, Topic
from services.bus.base import Envelope
from services.bus.messages import (
    BaseMessage,
    DownlinkRequest,
    GatewayDownlink,
    GatewayTxAck,
    JoinAccept,
    LinkAdrDecision,
    utc_now,
)
from services.lorawan import (
    MHDR,
    JoinAcceptPayload,
    JoinRequestPayload,
    MType,
    PhyPayload,
)
from services.lorawan.crypto import encrypt_frm_payload
from services.lorawan.maccommand import LinkADRAns, LinkADRReq, LinkCheckReq
from services.lorawan.types import EUI64, DevAddr, NetID
from services.network_server import NetworkServerService, NetworkServerSettings
from services.storage import (
    Application,
    Device,
    DeviceProfile,
    DeviceSession,
    Storage,
    Tenant,
    build_storage,
)
from services.storage.db import create_engine
from services.storage.migrate import upgrade

from .helpers import KEY_A, KEY_B, gw_uplink, rx, session, uplink

KEK = bytes(range(32))
DEV_EUI = "0102030405060708"
GW1, GW2 = "AA555A0000000001", "AA555A0000000002"
WATCHED = (
    Topic.NS_UP,
    Topic.NS_UP_META,
    Topic.GW_DOWN,
    Topic.NS_ACK,
    Topic.NS_TX_ACK,
    Topic.NS_JOIN,
    Topic.JS_JOIN_REQUEST,
)


@dataclass
class Rig:
    bus: MemoryBus
    storage: Storage
    service: NetworkServerService
    seen: dict[str, list[BaseMessage]]

    async def up(self, data: bytes, *metas) -> None:  # type: ignore[no-untyped-def]
        for i, meta in enumerate(metas):
            await self.bus.publish(Topic.GW_UP, "26011BDA", gw_uplink(data, meta, f"u{i}"))

    async def until(self, cond: Callable[[], object], timeout: float = 3.0) -> None:
        """Poll ``cond`` (a function, or one returning an awaitable) until it is true."""

        async def poll() -> None:
            while True:
                value = cond()
                if inspect.isawaitable(value):
                    value = await value
                if value:
                    return
                await asyncio.sleep(0.01)

        await asyncio.wait_for(poll(), timeout)

    async def session(self, dev_eui: str = DEV_EUI) -> DeviceSession:
        stored = await self.storage.sessions.get_by_dev_eui(EUI64.from_hex(dev_eui))
        assert stored is not None
        return stored

    async def settle(self) -> None:
        """Let deliveries, dedup windows and their processing finish."""
        await asyncio.sleep(0.02)
        await self.service.wait_idle()
        await asyncio.sleep(0.02)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ns.db'}"
    await upgrade(url)
    storage = build_storage(create_engine(url), KEK)
    tenant = await storage.tenants.create(Tenant(name="t"))
    app = await storage.applications.create(Application(tenant_id=tenant.id, name="a"))
    prof = await storage.device_profiles.create(DeviceProfile(tenant_id=tenant.id, name="p"))
    for dev_eui in (DEV_EUI, "0102030405060709"):
        await storage.devices.create(
            Device(
                dev_eui=EUI64.from_hex(dev_eui),
                tenant_id=tenant.id,
                application_id=app.id,
                device_profile_id=prof.id,
            )
        )
    await storage.sessions.create(session(DEV_EUI, f_cnt_up=None))
    bus = MemoryBus(partitions=2)
    settings = NetworkServerSettings(dedup_window_ms=50)
    service = NetworkServerService(settings, bus, storage)
    seen: dict[str, list[BaseMessage]] = defaultdict(list)

    def collector(topic: str):  # type: ignore[no-untyped-def]
        async def handle(env: Envelope[BaseMessage]) -> None:
            seen[topic].append(env.message)

        return handle

    await service.start()
    for topic in WATCHED:
        bus.subscribe(topic, "test", collector(topic))
    await bus.start()
    try:
        yield Rig(bus, storage, service, seen)
    finally:
        await service.stop()
        await bus.stop()
        await storage.close()


# --------------------------------------------------------------------------- uplinks


async def test_two_gateways_make_one_ns_up_with_both(rig: Rig) -> None:
    s = session(DEV_EUI)
    data = uplink(s, 1, payload=b"\x10\x20")
    await rig.up(data, rx(GW1, snr=3.0), rx(GW2, snr=8.0))
    await rig.until(lambda: len(rig.seen[Topic.NS_UP]) == 1)
    await rig.settle()
    (msg,) = rig.seen[Topic.NS_UP]
    assert {r.gw_eui for r in msg.rx} == {GW1, GW2}
    assert msg.f_cnt == 1 and msg.frm_payload == uplink(s, 1, payload=b"\x10\x20")[9:-4]
    assert msg.dev_eui == DEV_EUI and msg.application_id is not None
    assert len(rig.seen[Topic.NS_UP_META]) == 1
    assert rig.seen[Topic.NS_UP_META][0].gw_count == 2
    assert rig.seen[Topic.GW_DOWN] == []  # unconfirmed, nothing to say
    assert rig.service.counters.duplicates == 1 and rig.service.counters.uplinks == 1
    stored = await rig.storage.sessions.get_by_dev_eui(EUI64.from_hex(DEV_EUI))
    assert stored is not None and stored.f_cnt_up == 1


async def test_confirmed_uplink_is_acked_on_the_best_gateway_in_rx1(rig: Rig) -> None:
    s = session(DEV_EUI)
    data = uplink(s, 1, confirmed=True)
    await rig.up(data, rx(GW1, snr=2.0, tmst=5_000_000), rx(GW2, snr=9.0, tmst=7_000_000))
    await rig.until(lambda: len(rig.seen[Topic.GW_DOWN]) == 1)
    await rig.settle()
    (down,) = rig.seen[Topic.GW_DOWN]
    assert isinstance(down, GatewayDownlink)
    assert down.gw_eui == GW2 and down.tmst == 8_000_000
    assert (down.freq_hz, down.sf, down.bw_hz, down.power_dbm) == (868_100_000, 7, 125_000, 14)
    assert down.invert_polarity and down.dev_eui == DEV_EUI
    phy = PhyPayload.from_bytes(down.phy_payload)
    assert phy.mhdr.m_type is MType.UNCONFIRMED_DATA_DOWN
    assert phy.mac_payload().fhdr.f_ctrl.ack
    assert phy.validate_downlink_data_mic("1.0.3", 0, KEY_A)
    stored = await rig.storage.sessions.get_by_dev_eui(EUI64.from_hex(DEV_EUI))
    assert stored is not None and stored.n_f_cnt_down == 1
    assert rig.seen[Topic.NS_UP][0].n_f_cnt_down == 1  # counters after the answer


async def test_rejections_are_counted_and_the_service_keeps_serving(rig: Rig) -> None:
    good = session(DEV_EUI)
    await rig.up(uplink(good, 5), rx(GW1))
    await rig.until(lambda: rig.service.counters.uplinks == 1)
    await rig.up(uplink(session(DEV_EUI, key=KEY_B), 6), rx(GW1))  # wrong key
    await rig.up(uplink(good, 4), rx(GW1))  # replay
    await rig.up(uplink(session(dev_addr=DevAddr.from_hex("01020304")), 1), rx(GW1))
    await rig.up(b"\x40\x01", rx(GW1))  # truncated
    await asyncio.sleep(0.15)  # past the dedup window and its late period
    await rig.up(uplink(good, 5), rx(GW1, tmst=9))  # NbTrans repetition: not forwarded
    await rig.settle()
    await rig.up(uplink(good, 7), rx(GW1))
    await rig.until(lambda: rig.service.counters.uplinks == 2)
    await rig.settle()
    c = rig.service.counters
    assert (c.mic_mismatch, c.f_cnt_replay, c.unknown_dev_addr, c.malformed) == (1, 1, 1, 1)
    assert c.retransmissions == 1
    assert [m.f_cnt for m in rig.seen[Topic.NS_UP]] == [5, 7]


async def test_rx1_tx_ack_error_retries_in_rx2(rig: Rig) -> None:
    await rig.up(uplink(session(DEV_EUI), 1, confirmed=True), rx(GW1, tmst=1_000))
    await rig.until(lambda: len(rig.seen[Topic.GW_DOWN]) == 1)
    first = rig.seen[Topic.GW_DOWN][0]
    await rig.bus.publish(
        Topic.GW_TX_ACK,
        GW1,
        GatewayTxAck(downlink_id=first.downlink_id, gw_eui=GW1, error="TOO_LATE"),
    )
    await rig.until(lambda: len(rig.seen[Topic.GW_DOWN]) == 2)
    second = rig.seen[Topic.GW_DOWN][1]
    assert second.phy_payload == first.phy_payload
    assert (second.tmst, second.freq_hz, second.sf, second.power_dbm) == (
        2_001_000,
        869_525_000,
        12,
        27,
    )
    await rig.bus.publish(
        Topic.GW_TX_ACK, GW1, GatewayTxAck(downlink_id=second.downlink_id, gw_eui=GW1)
    )
    await rig.until(lambda: len(rig.seen[Topic.NS_TX_ACK]) == 1)
    assert rig.seen[Topic.NS_TX_ACK][0].error is None
    assert rig.service.counters.tx_ack_errors == 1


# --------------------------------------------------------------------------- queue, MAC


@pytest.mark.parametrize("device_acks", [True, False])
async def test_queued_confirmed_downlink_goes_out_with_its_counter(
    rig: Rig, device_acks: bool
) -> None:
    s = session(DEV_EUI)
    request = DownlinkRequest(
        request_id="req-1",
        dev_eui=DEV_EUI,
        f_port=5,
        frm_payload=encrypt_frm_payload(KEY_B, s.dev_addr, 3, False, b"hello"),
        encrypted=True,
        f_cnt_down=3,
        confirmed=True,
    )
    await rig.bus.publish(Topic.AS_DOWN_REQUEST, DEV_EUI, request)
    await rig.bus.publish(Topic.AS_DOWN_REQUEST, DEV_EUI, request)  # redelivery: idempotent

    async def queued() -> int:
        return await rig.storage.queue.count_queued(EUI64.from_hex(DEV_EUI), now=utc_now())

    await rig.until(queued)
    await rig.settle()
    assert await queued() == 1
    await rig.up(uplink(s, 1), rx(GW1))
    await rig.until(lambda: len(rig.seen[Topic.GW_DOWN]) == 1)
    phy = PhyPayload.from_bytes(rig.seen[Topic.GW_DOWN][0].phy_payload)
    macp = phy.mac_payload()
    assert phy.mhdr.m_type is MType.CONFIRMED_DATA_DOWN
    assert (macp.fhdr.f_cnt, macp.f_port) == (3, 5)
    assert encrypt_frm_payload(KEY_B, s.dev_addr, 3, False, macp.frm_payload) == b"hello"
    assert not macp.fhdr.f_ctrl.f_pending
    assert (await rig.session()).n_f_cnt_down == 4
    await rig.settle()
    # the device's next uplink acknowledges it (ACK bit) or not
    await rig.up(uplink(s, 2, ack=device_acks), rx(GW1))
    await rig.until(lambda: len(rig.seen[Topic.NS_ACK]) == 1)
    ack = rig.seen[Topic.NS_ACK][0]
    assert ack.acknowledged is device_acks and ack.request_id == "req-1" and ack.f_cnt_down == 3
    assert ack.reason == (None if device_acks else "no_ack")
    await rig.settle()
    assert len(rig.seen[Topic.GW_DOWN]) == 1  # nothing else to send
    assert "queue" not in (await rig.session()).mac_command_state


async def test_item_gone_stale_in_the_queue_is_dropped_with_a_nack(rig: Rig) -> None:
    request = DownlinkRequest(
        request_id="req-3",
        dev_eui=DEV_EUI,
        f_port=7,
        frm_payload=b"\x01",
        encrypted=True,
        f_cnt_down=2,
    )
    await rig.bus.publish(Topic.AS_DOWN_REQUEST, DEV_EUI, request)
    await rig.until(lambda: rig.storage.queue.count_queued(EUI64.from_hex(DEV_EUI), now=utc_now()))
    stored = await rig.session()
    stored.n_f_cnt_down = 5  # e.g. MAC-only frames went out meanwhile
    await rig.storage.sessions.save(stored)
    await rig.up(uplink(session(DEV_EUI), 1), rx(GW1))
    await rig.until(lambda: len(rig.seen[Topic.NS_ACK]) == 1)
    await rig.settle()
    nack = rig.seen[Topic.NS_ACK][0]
    assert (nack.acknowledged, nack.reason, nack.request_id) == (False, "f_cnt_stale", "req-3")
    assert nack.current_f_cnt_down == 5
    assert rig.seen[Topic.GW_DOWN] == []
    assert rig.service.counters.stale_queue_items == 1


async def test_stale_counter_is_refused(rig: Rig) -> None:
    stored = await rig.storage.sessions.get_by_dev_eui(EUI64.from_hex(DEV_EUI))
    assert stored is not None
    stored.n_f_cnt_down = 10
    await rig.storage.sessions.save(stored)
    request = DownlinkRequest(
        request_id="req-2",
        dev_eui=DEV_EUI,
        f_port=5,
        frm_payload=b"\x00",
        encrypted=True,
        f_cnt_down=9,
    )
    await rig.bus.publish(Topic.AS_DOWN_REQUEST, DEV_EUI, request)
    await rig.until(lambda: len(rig.seen[Topic.NS_ACK]) == 1)
    nack = rig.seen[Topic.NS_ACK][0]
    assert not nack.acknowledged and nack.reason == "f_cnt_stale"
    assert nack.current_f_cnt_down == 10


async def test_link_adr_decision_rides_the_next_downlink(rig: Rig) -> None:
    decision = LinkAdrDecision(
        decision_id="d1",
        dev_eui=DEV_EUI,
        dr=3,
        tx_power_index=2,
        channels=[0, 1],
        policy="drcc",
    )
    await rig.bus.publish(Topic.DRCC_LINK_ADR, DEV_EUI, decision)

    async def queued() -> bool:
        return bool((await rig.session()).pending_mac_commands)

    await rig.until(queued)
    s = session(DEV_EUI)
    await rig.up(uplink(s, 1, f_opts=[LinkCheckReq()], f_port=None), rx(GW1))
    await rig.until(lambda: len(rig.seen[Topic.GW_DOWN]) == 1)
    macp = PhyPayload.from_bytes(rig.seen[Topic.GW_DOWN][0].phy_payload).mac_payload()
    cmds = macp.fhdr.f_opts_commands(uplink=False)
    assert [c.name() for c in cmds] == ["LinkCheckAns", "LinkADRReq"]
    assert cmds[1] == LinkADRReq(data_rate=3, tx_power=2, ch_mask=3, ch_mask_cntl=0, nb_trans=1)
    await rig.settle()
    ok = LinkADRAns(power_ack=True, data_rate_ack=True, channel_mask_ack=True)
    await rig.up(uplink(s, 2, f_opts=[ok], f_port=None, tx_dr=3), rx(GW1, sf=9))
    await rig.until(lambda: rig.service.counters.uplinks == 2)
    await rig.settle()
    stored = await rig.storage.sessions.get_by_dev_eui(EUI64.from_hex(DEV_EUI))
    assert stored is not None
    assert (stored.dr, stored.tx_power_index, stored.enabled_channels) == (3, 2, [0, 1])
    assert stored.pending_mac_commands == []


# --------------------------------------------------------------------------- joins


async def test_join_request_then_accept(rig: Rig) -> None:
    dev_eui = EUI64.from_hex("0102030405060709")
    req = PhyPayload(
        MHDR(MType.JOIN_REQUEST),
        JoinRequestPayload(EUI64.from_hex("70B3D57ED0000000"), dev_eui, 77),
    )
    req.set_join_request_mic(KEY_A)
    await rig.bus.publish(
        Topic.GW_UP, str(dev_eui), gw_uplink(req.to_bytes(), rx(GW1, sf=12, snr=1.0), "j1")
    )
    await rig.bus.publish(
        Topic.GW_UP, str(dev_eui), gw_uplink(req.to_bytes(), rx(GW2, sf=12, snr=6.0, tmst=50), "j2")
    )
    await rig.until(lambda: len(rig.seen[Topic.JS_JOIN_REQUEST]) == 1)
    jr = rig.seen[Topic.JS_JOIN_REQUEST][0]
    assert jr.dev_nonce == 77 and jr.dr == 0 and len(jr.rx) == 2 and jr.net_id == "000000"

    ja = PhyPayload(
        MHDR(MType.JOIN_ACCEPT),
        JoinAcceptPayload(1, NetID.from_hex("000000"), DevAddr.from_hex("26011BDA")),
    )
    ja.set_join_accept_mic(KEY_A)
    ja.encrypt_join_accept_payload(KEY_A)
    sid = str(uuid.uuid4())
    await rig.bus.publish(
        Topic.JS_JOIN_ACCEPT,
        str(dev_eui),
        JoinAccept(
            dedup_id=jr.dedup_id,
            dev_eui=str(dev_eui),
            join_eui=jr.join_eui,
            accepted=True,
            dev_addr="26011BDA",
            session_id=sid,
            phy_payload=ja.to_bytes(),
            mac_version="1.0.3",
            f_nwk_s_int_key=KEY_B,
            s_nwk_s_int_key=KEY_B,
            nwk_s_enc_key=KEY_B,
        ),
    )
    await rig.until(lambda: len(rig.seen[Topic.NS_JOIN]) == 1)
    await rig.settle()
    (down,) = rig.seen[Topic.GW_DOWN]
    assert down.gw_eui == GW2 and down.tmst == 5_000_050 and down.sf == 12
    assert down.phy_payload == ja.to_bytes()
    joined = await rig.storage.sessions.get_by_dev_eui(dev_eui)
    assert joined is not None and str(joined.session_id) == sid and joined.app_s_key is None
    assert rig.seen[Topic.NS_JOIN][0].session_id == sid


async def test_lorawan_11_session_end_to_end(rig: Rig) -> None:
    """1.1 ABP: encrypted FOpts up, LinkCheckAns in encrypted FOpts down, MIC with ConfFCnt."""
    s11 = session("0102030405060709", mac_version="1.1.0", dev_addr=DevAddr.from_hex("26011BDB"))
    await rig.storage.sessions.create(s11)
    data = uplink(s11, 0x10, confirmed=True, f_opts=[LinkCheckReq()], f_port=None)
    await rig.up(data, rx(GW1, snr=4.5, tmst=10), rx(GW2, snr=-2.0, tmst=20))
    await rig.until(lambda: len(rig.seen[Topic.GW_DOWN]) == 1)
    down = rig.seen[Topic.GW_DOWN][0]
    assert down.gw_eui == GW1 and down.tmst == 1_000_010
    phy = PhyPayload.from_bytes(down.phy_payload)
    assert phy.validate_downlink_data_mic("1.1.0", 0x10, s11.s_nwk_s_int_key)
    assert not phy.validate_downlink_data_mic("1.1.0", 0, s11.s_nwk_s_int_key)
    phy.decrypt_f_opts(s11.nwk_s_enc_key)
    (ans,) = phy.mac_payload().fhdr.f_opts_commands(uplink=False)
    assert ans.name() == "LinkCheckAns" and ans.gw_cnt == 2 and ans.margin == 12
    await rig.settle()
    # no FPort: forwarded (the app handler logs every uplink) with an empty payload
    assert [(m.f_port, m.frm_payload) for m in rig.seen[Topic.NS_UP]] == [(None, b"")]
    assert len(rig.seen[Topic.NS_UP_META]) == 1


async def test_repeated_confirmed_uplink_is_acked_again_but_forwarded_once(rig: Rig) -> None:
    data = uplink(session(DEV_EUI), 3, confirmed=True)
    await rig.up(data, rx(GW1))
    await rig.until(lambda: len(rig.seen[Topic.GW_DOWN]) == 1)
    await asyncio.sleep(0.15)  # the device heard no ACK and sends the same frame again
    await rig.up(data, rx(GW1, tmst=3_000_000))
    await rig.until(lambda: len(rig.seen[Topic.GW_DOWN]) == 2)
    await rig.settle()
    counters = [
        PhyPayload.from_bytes(d.phy_payload).mac_payload().fhdr for d in rig.seen[Topic.GW_DOWN]
    ]
    assert [(f.f_cnt, f.f_ctrl.ack) for f in counters] == [(0, True), (1, True)]
    assert rig.seen[Topic.GW_DOWN][1].tmst == 4_000_000
    assert len(rig.seen[Topic.NS_UP]) == 1 and rig.service.counters.retransmissions == 1


async def test_repetition_is_forwarded_again_by_an_instance_that_never_forwarded_it(
    rig: Rig,
) -> None:
    """kill -9 after the counter was stored but before ns.up went out: the redelivered copy
    is a retransmission to the next instance, which has not forwarded it, so it does (the app
    handler drops a copy it already has); this instance's own repetitions are not."""
    data = uplink(session(DEV_EUI), 8)
    await rig.up(data, rx(GW1))
    await rig.until(lambda: len(rig.seen[Topic.NS_UP]) == 1)
    await asyncio.sleep(0.15)
    await rig.up(data, rx(GW1, tmst=2_000_000))  # NbTrans repetition, same instance
    await rig.settle()
    assert len(rig.seen[Topic.NS_UP]) == 1
    rig.service.adapter._forwarded.clear()  # what a fresh instance remembers
    await asyncio.sleep(0.15)
    await rig.up(data, rx(GW1, tmst=3_000_000))
    await rig.until(lambda: len(rig.seen[Topic.NS_UP]) == 2)
    again = rig.seen[Topic.NS_UP][1]
    assert again.f_cnt == 8 and again.frm_payload == rig.seen[Topic.NS_UP][0].frm_payload
    assert rig.service.counters.retransmissions == 2 and rig.service.counters.uplinks == 1


# --------------------------------------------------------------------------- completions


def _env(data: bytes, meta, uplink_id: str = "u0") -> Envelope[BaseMessage]:  # type: ignore[no-untyped-def]
    return Envelope(Topic.GW_UP, "26011BDA", 0, 0, {}, gw_uplink(data, meta, uplink_id), b"")


async def test_gw_up_returns_the_completion_of_its_dedup_group(rig: Rig) -> None:
    s = session(DEV_EUI)
    data = uplink(s, 1)
    on_gw_up = rig.service.adapter.on_gw_up
    first = await on_gw_up(_env(data, rx(GW1), "u1"))
    second = await on_gw_up(_env(data, rx(GW2), "u2"))
    assert first is not None and first is second  # every copy: its group's completion
    assert not first.done()  # the window is open
    await asyncio.wait_for(first, 2.0)
    # done only once the frame was handled: its ns.up is out and the counter stored
    assert len(rig.seen[Topic.NS_UP]) == 1
    assert (await rig.session()).f_cnt_up == 1
    # not an uplink, or a bad CRC: rejected at once
    assert await on_gw_up(_env(b"\x20" + data[1:], rx(GW1), "u4")) is None
    assert await on_gw_up(_env(uplink(s, 2), rx(GW1, crc_ok=False), "u5")) is None
    await rig.settle()


async def test_window_closes_early_for_a_device_heard_by_one_gateway(rig: Rig) -> None:
    s = session(DEV_EUI)
    on_gw_up = rig.service.adapter.on_gw_up
    for f_cnt in (1, 2):  # the first frames wait for the full window
        completion = await on_gw_up(_env(uplink(s, f_cnt), rx(GW1)))
        assert completion is not None
        await asyncio.wait_for(completion, 2.0)
    runner = rig.service.adapter.runner
    assert runner.early_closed == 0
    completion = await on_gw_up(_env(uplink(s, 3), rx(GW1)))
    assert completion is not None
    assert runner.early_closed == 1  # closed at the first copy, not at the window's end
    # a second gateway's copy of frame 3 (nothing ran in between: well within the late
    # period) is a late duplicate: rejected at once and counted, never a new uplink
    assert await on_gw_up(_env(uplink(s, 3), rx(GW2))) is None
    assert rig.service.counters.late_duplicates == 1
    await asyncio.wait_for(completion, 2.0)
    assert [m.f_cnt for m in rig.seen[Topic.NS_UP]] == [1, 2, 3]
    # frame 4 now waits for two gateways
    completion = await on_gw_up(_env(uplink(s, 4), rx(GW1)))
    assert completion is not None
    assert runner.early_closed == 1  # one gateway is not enough any more
    assert await on_gw_up(_env(uplink(s, 4), rx(GW2))) is completion
    assert runner.early_closed == 2
    await asyncio.wait_for(completion, 2.0)
    assert [m.f_cnt for m in rig.seen[Topic.NS_UP]] == [1, 2, 3, 4]
    await rig.settle()
