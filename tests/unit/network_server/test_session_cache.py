"""The uplink path's session cache: the cache itself, and the network server staying exact
when the cache is stale (sessions changed behind its back, e.g. by another instance)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.bus import Topic
from services.bus.base import Envelope
from services.bus.messages import ApplicationUplink, DownlinkRequest, SessionChanged
from services.lorawan.errors import FrameCounterReplay
from services.lorawan.region import get_region
from services.lorawan.types import EUI64, DevAddr
from services.network_server.core import uplink as up
from services.network_server.service import NetworkServerService
from services.network_server.session_cache import SessionCache
from services.network_server.settings import NetworkServerSettings
from services.storage import build_storage
from services.storage.domain import DeviceSession

from .helpers import KEY_A, KEY_B, T0, frame, rx, session, uplink
from .test_adapter import DEV_EUI, GW1, KEK, Rig, rig  # noqa: F401 (fixture)

ADDR = DevAddr.from_hex("26011BDA")
OTHER = DevAddr.from_hex("26011BDB")


def _s(dev_eui: str, dev_addr: DevAddr = ADDR, version: int = 1) -> DeviceSession:
    return session(dev_eui, dev_addr=dev_addr, version=version)


# --------------------------------------------------------------------------- the cache


def test_put_get_update_and_invalidate() -> None:
    cache = SessionCache()
    a, b = _s("0000000000000001"), _s("0000000000000002")
    assert cache.get(ADDR) is None
    cache.put(ADDR, [a, b], cache.epoch)
    assert cache.get(ADDR) == [a, b] and (cache.hits, cache.misses) == (1, 1)
    newer = _s("0000000000000001", version=2)
    newer.session_id = a.session_id
    cache.update(newer)
    got = cache.get(ADDR)
    assert got is not None and got[0] is newer
    cache.invalidate_dev_eui(b.dev_eui)  # drops the whole DevAddr entry it belongs to
    assert cache.get(ADDR) is None


def test_update_with_another_session_drops_the_entry() -> None:
    cache = SessionCache()
    a = _s("0000000000000001")
    cache.put(ADDR, [a], cache.epoch)
    cache.update(_s("0000000000000001"))  # a new session id: not the cached one
    assert cache.get(ADDR) is None


def test_a_lookup_racing_an_invalidation_is_not_cached() -> None:
    cache = SessionCache()
    epoch = cache.epoch
    cache.invalidate_dev_addr(ADDR)  # e.g. a join while the database read was under way
    cache.put(ADDR, [_s("0000000000000001")], epoch)
    assert cache.get(ADDR) is None
    cache.put(ADDR, [], cache.epoch)  # nothing under that DevAddr: not cached either
    assert cache.get(ADDR) is None


def test_a_device_under_a_new_dev_addr_drops_its_old_entry() -> None:
    cache = SessionCache()
    cache.put(ADDR, [_s("0000000000000001")], cache.epoch)
    cache.put(OTHER, [_s("0000000000000001", dev_addr=OTHER)], cache.epoch)
    assert cache.get(ADDR) is None and cache.get(OTHER) is not None


def test_the_cache_is_bounded_least_recently_used_first() -> None:
    cache = SessionCache(max_dev_addrs=2)
    addrs = [DevAddr.from_hex(f"2601000{i}") for i in range(3)]
    cache.put(addrs[0], [_s("0000000000000001", addrs[0])], cache.epoch)
    cache.put(addrs[1], [_s("0000000000000002", addrs[1])], cache.epoch)
    cache.get(addrs[0])
    cache.put(addrs[2], [_s("0000000000000003", addrs[2])], cache.epoch)
    assert len(cache) == 2 and cache.get(addrs[1]) is None and cache.get(addrs[0]) is not None
    cache.invalidate_dev_eui("0000000000000002")  # evicted: nothing to drop, no error
    assert SessionCache(max_dev_addrs=0).get(addrs[0]) is None


# --------------------------------------------------------------------------- stale cache


def _ups(r: Rig) -> list[ApplicationUplink]:
    return [m for m in r.seen[Topic.NS_UP] if isinstance(m, ApplicationUplink)]


async def test_uplinks_are_served_from_the_cache(rig: Rig) -> None:  # noqa: F811
    s = await rig.session()
    for f_cnt in (1, 2, 3):
        await rig.up(uplink(s, f_cnt), rx(GW1))
        await rig.settle()
    assert [u.f_cnt for u in _ups(rig)] == [1, 2, 3]
    cache = rig.service.adapter.session_cache
    assert cache.hits >= 2
    stored = await rig.session()
    assert stored.f_cnt_up == 3


async def test_a_counter_advanced_by_another_instance_is_a_replay(rig: Rig) -> None:  # noqa: F811
    s = await rig.session()
    await rig.up(uplink(s, 1), rx(GW1))
    await rig.settle()
    # another network server instance (its own storage objects, no shared listeners) accepts
    # FCnt 2 and 3: this instance's cache still says 1
    other = build_storage(rig.storage.engine, KEK)
    await other.sessions.advance_f_cnt_up(EUI64.from_hex(DEV_EUI), 3)
    await rig.up(uplink(s, 2), rx(GW1, tmst=2_000_000))
    await rig.settle()
    assert [u.f_cnt for u in _ups(rig)] == [1]  # refused: already accepted elsewhere
    assert rig.service.counters.f_cnt_replay == 1
    await rig.up(uplink(s, 4), rx(GW1, tmst=3_000_000))
    await rig.settle()
    assert [u.f_cnt for u in _ups(rig)] == [1, 4]
    assert (await rig.session()).f_cnt_up == 4
    if other.batch_writer is not None:
        await other.batch_writer.close()


async def test_a_session_replaced_behind_the_cache_is_found(rig: Rig) -> None:  # noqa: F811
    s = await rig.session()
    await rig.up(uplink(s, 1), rx(GW1))
    await rig.settle()
    # a new activation with other keys, written by another process (no listener here)
    other = build_storage(rig.storage.engine, KEK)
    fresh = session(DEV_EUI, key=KEY_B, f_cnt_up=None)
    fresh.session_id = uuid.uuid4()
    await other.sessions.create(fresh)
    assert rig.service.adapter.session_cache.get(ADDR) is not None  # stale: old keys
    await rig.up(uplink(fresh, 1), rx(GW1, tmst=2_000_000))
    await rig.settle()
    ups = _ups(rig)
    assert [(u.f_cnt, u.session_id) for u in ups] == [
        (1, str(s.session_id)),
        (1, str(fresh.session_id)),
    ]
    assert rig.service.counters.mic_mismatch == 0
    # and the old session's keys no longer pass
    await rig.up(uplink(session(DEV_EUI, key=KEY_A), 2), rx(GW1, tmst=3_000_000))
    await rig.settle()
    assert len(_ups(rig)) == 2 and rig.service.counters.mic_mismatch == 1
    if other.batch_writer is not None:
        await other.batch_writer.close()


async def test_a_session_changed_through_the_shared_storage_invalidates(rig: Rig) -> None:  # noqa: F811
    s = await rig.session()
    await rig.up(uplink(s, 1), rx(GW1))
    await rig.settle()
    assert rig.service.adapter.session_cache.get(ADDR) is not None
    await rig.storage.sessions.delete(EUI64.from_hex(DEV_EUI))  # e.g. the API, same process
    assert rig.service.adapter.session_cache.get(ADDR) is None
    await rig.up(uplink(s, 2), rx(GW1, tmst=2_000_000))
    await rig.settle()
    assert [u.f_cnt for u in _ups(rig)] == [1]
    assert rig.service.counters.unknown_dev_addr == 1


# --------------------------------------------------------------------------- rebase_checked


def _ctx(f_cnt: int, stored: int | None, retransmission: bool = False) -> up.UplinkContext:
    s = session(DEV_EUI, f_cnt_up=stored)
    ctx = up.decode(frame(uplink(s, f_cnt)), get_region("EU868"), T0)
    up.select_session(ctx, [s])
    ctx.retransmission = retransmission
    return ctx


def test_rebase_checked_keeps_the_counter_rule_against_the_fresh_session() -> None:
    ctx = _ctx(5, 3)
    fresh = session(DEV_EUI, f_cnt_up=4, version=7)
    up.rebase_checked(ctx, fresh)  # 5 > 4: still new, now on version 7
    assert ctx.require_session().version == 7 and ctx.stored_f_cnt_up == 4
    with pytest.raises(FrameCounterReplay):
        up.rebase_checked(_ctx(5, 3), session(DEV_EUI, f_cnt_up=5))  # accepted meanwhile
    with pytest.raises(FrameCounterReplay):  # a repetition of a frame no longer the last
        up.rebase_checked(_ctx(5, 5, retransmission=True), session(DEV_EUI, f_cnt_up=6))
    up.rebase_checked(_ctx(5, 5, retransmission=True), session(DEV_EUI, f_cnt_up=5))


# --------------------------------------------------------------------------- other instances


async def _queue_through_another_instance(
    r: Rig, f_cnt_down: int, *, broadcast: bool
) -> NetworkServerService:
    """A second instance (its own storage objects, no listener shared with ``rig``) takes an
    application downlink for the device, as the other partition owner would."""
    other_storage = build_storage(r.storage.engine, KEK)
    other = NetworkServerService(
        NetworkServerSettings(dedup_window_ms=50, session_broadcast=broadcast),
        r.bus,
        other_storage,
    )
    request = DownlinkRequest(
        request_id="req-x",
        dev_eui=DEV_EUI,
        f_port=5,
        frm_payload=b"\x01\x02",
        encrypted=True,
        f_cnt_down=f_cnt_down,
    )
    env = Envelope(Topic.AS_DOWN_REQUEST, DEV_EUI, 0, 0, {}, request, b"")
    await other.adapter.on_down_request(env)
    return other


@pytest.mark.parametrize("broadcast", [True, False])
async def test_a_downlink_queued_through_another_instance_goes_out_on_the_next_uplink(
    rig: Rig,  # noqa: F811
    broadcast: bool,
) -> None:
    s = await rig.session()
    await rig.up(uplink(s, 1), rx(GW1))
    await rig.settle()
    assert rig.service.adapter.session_cache.get(ADDR) is not None  # cached, no queue in it
    assert s.n_f_cnt_down is not None
    other = await _queue_through_another_instance(rig, s.n_f_cnt_down, broadcast=broadcast)
    await rig.settle()
    await rig.up(uplink(s, 2), rx(GW1, tmst=2_000_000))
    await rig.settle()
    sent = [d for d in rig.seen[Topic.GW_DOWN] if d.phy_payload]
    if broadcast:
        # the other instance announced the change: this one dropped its copy, read the
        # session with the queued item and sends it in the very next RX window
        assert len(sent) == 1
        assert rig.service.counters.session_invalidations == 1
        assert other.counters.session_broadcasts == 1
    else:
        # without the announcement (the behaviour before session 4): the stale copy hides the
        # queue for one uplink, and the item goes out one uplink later
        assert sent == []
        await rig.up(uplink(s, 3), rx(GW1, tmst=3_000_000))
        await rig.settle()
        assert len([d for d in rig.seen[Topic.GW_DOWN] if d.phy_payload]) == 1
    if other.storage.batch_writer is not None:
        await other.storage.batch_writer.close()


async def test_an_instance_ignores_its_own_and_old_announcements(rig: Rig) -> None:  # noqa: F811
    s = await rig.session()
    await rig.up(uplink(s, 1), rx(GW1))
    await rig.settle()
    adapter = rig.service.adapter
    for origin, at in ((adapter.instance_id, T0), ("other", datetime(2020, 1, 1, tzinfo=UTC))):
        msg = SessionChanged(dev_eui=DEV_EUI, dev_addr=str(ADDR), origin=origin, changed_at=at)
        await adapter.on_session_changed(
            Envelope(Topic.NS_SESSION_CHANGED, DEV_EUI, 0, 0, {}, msg, b"")
        )
    assert adapter.session_cache.get(ADDR) is not None
    assert adapter.counters.session_invalidations == 0
