"""DrccService over the in-memory bus and a real SQLite storage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.bus import MemoryBus, Topic
from services.bus.base import Envelope
from services.bus.messages import BaseMessage, GwSignal, LinkAdrDecision, UplinkMeta
from services.drcc.service import DrccService
from services.drcc.settings import DrccSettings
from services.lorawan.types import EUI64
from services.storage import Application, Device, DeviceProfile, Storage, Tenant, build_storage
from services.storage.db import create_engine
from services.storage.migrate import upgrade

KEK = bytes(range(32))
DRCC_DEV = "0102030405060708"
ADR_DEV = "0102030405060709"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
SETTINGS = DrccSettings(
    der_min_samples=4,
    snr_min_samples=4,  # no early raise: the DER rules decide after 4 uplinks
    min_seconds_between_decisions=0,
    min_uplinks_between_decisions=1,
)


def meta(
    f_cnt: int,
    dev_eui: str = DRCC_DEV,
    dr: int = 0,
    snr: float = 5.0,
    adr: bool = True,
    freq_hz: int = 868_100_000,
) -> UplinkMeta:
    return UplinkMeta(
        dedup_id=f"{dev_eui}-{f_cnt}",
        dev_eui=dev_eui,
        dev_addr="26011BDA",
        f_cnt=f_cnt,
        adr=adr,
        dr=dr,
        tx_power_index=1,
        nb_trans=1,
        freq_hz=freq_hz,
        region="EU868",
        signals=[GwSignal(gw_eui="AA555A0000000001", rssi=-100.0, snr=snr)],
        gw_count=1,
        received_at=T0 + timedelta(seconds=120 * f_cnt),
    )


@dataclass
class Rig:
    storage: Storage
    bus: MemoryBus
    service: DrccService
    decisions: list[LinkAdrDecision] = field(default_factory=list)

    async def send(self, *msgs: UplinkMeta) -> None:
        target = self.service.counters.handled + len(msgs)
        for m in msgs:
            await self.bus.publish(Topic.NS_UP_META, m.dev_eui, m)
        await until(lambda: self.service.counters.handled >= target)
        await until(lambda: self.bus.queue_depth(Topic.DRCC_LINK_ADR, "test") == 0)
        await asyncio.sleep(0.02)

    async def close(self) -> None:
        await self.service.stop()
        await self.bus.stop()


async def until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    async def poll() -> None:
        while not cond():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


async def start_rig(storage: Storage, settings: DrccSettings = SETTINGS) -> Rig:
    bus = MemoryBus(partitions=2)
    service = DrccService(settings, bus, storage)
    rig = Rig(storage, bus, service)

    async def collect(env: Envelope[BaseMessage]) -> None:
        assert isinstance(env.message, LinkAdrDecision)
        rig.decisions.append(env.message)

    await service.start()
    bus.subscribe(Topic.DRCC_LINK_ADR, "test", collect)
    await bus.start()
    return rig


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'drcc.db'}"
    await upgrade(url)
    st = build_storage(create_engine(url), KEK)
    tenant = await st.tenants.create(Tenant(name="t"))
    app = await st.applications.create(Application(tenant_id=tenant.id, name="a"))
    drcc = await st.device_profiles.create(
        DeviceProfile(tenant_id=tenant.id, name="drcc", adr_policy="drcc")
    )
    default = await st.device_profiles.create(DeviceProfile(tenant_id=tenant.id, name="std"))
    for dev_eui, prof in ((DRCC_DEV, drcc), (ADR_DEV, default)):
        await st.devices.create(
            Device(
                dev_eui=EUI64.from_hex(dev_eui),
                tenant_id=tenant.id,
                application_id=app.id,
                device_profile_id=prof.id,
            )
        )
    try:
        yield st
    finally:
        await st.close()


async def test_meta_stream_gives_a_published_and_recorded_decision(storage: Storage) -> None:
    rig = await start_rig(storage)
    try:
        await rig.send(*(meta(c) for c in range(1, 5)))
        assert len(rig.decisions) == 1
        d = rig.decisions[0]
        assert (d.dev_eui, d.policy, d.dr, d.tx_power_index) == (DRCC_DEV, "drcc", 5, 1)
        assert d.channels == list(range(8))  # the EU868 plan: 3 defaults + 5 CFList channels
        assert d.based_on_f_cnt == 4
        assert d.reason.startswith("healthy")
        page = await storage.drcc.list_decisions(EUI64.from_hex(DRCC_DEV), tenant_id=None)
        assert page.total == 1
        rec = page.items[0]
        assert (rec.policy, rec.dr, rec.ch_mask) == ("drcc", 5, list(range(8)))
        assert rec.details["decision_id"] == d.decision_id
        # the device has not applied it yet: the same decision is not published again
        await rig.send(meta(5), meta(6))
        assert len(rig.decisions) == 1
        assert rig.service.counters.skipped.get("same_as_pending") == 2
        # applied (an uplink at DR5): the pending decision is cleared from the state
        await rig.send(meta(7, dr=5, snr=-5.0))
        state = await storage.drcc.get_state(EUI64.from_hex(DRCC_DEV))
        assert state is not None and state.state["pending"] is None
        assert state.policy == "drcc"
    finally:
        await rig.close()


async def test_default_profile_uses_the_default_policy(storage: Storage) -> None:
    rig = await start_rig(storage)
    try:
        await rig.send(*(meta(c, dev_eui=ADR_DEV) for c in range(1, 20)))
        assert rig.decisions == []  # lorawan-adr waits for 20 uplinks
        await rig.send(meta(20, dev_eui=ADR_DEV))
        assert len(rig.decisions) == 1
        d = rig.decisions[0]
        assert d.policy == "lorawan-adr"
        assert d.dr == 5  # 5 + 20 - 10 = 15 dB -> 5 steps
    finally:
        await rig.close()


async def test_redelivery_is_ignored(storage: Storage) -> None:
    rig = await start_rig(storage)
    try:
        await rig.send(meta(1), meta(2), meta(2), meta(1))
        assert rig.service.counters.uplinks == 2
        assert rig.service.counters.duplicates == 2
        await rig.service.stop()  # writes the states held in memory
        state = await storage.drcc.get_state(EUI64.from_hex(DRCC_DEV))
        assert state is not None
        assert [r["f_cnt"] for r in state.state["history"]] == [1, 2]
    finally:
        await rig.close()


async def test_restart_continues_from_the_stored_state(storage: Storage) -> None:
    rig = await start_rig(storage)
    try:
        await rig.send(meta(1), meta(2), meta(3))
        assert rig.decisions == []  # 3 samples < 4
    finally:
        await rig.close()
    # a new service instance on the same database: one more uplink is enough
    rig2 = await start_rig(storage)
    try:
        await rig2.send(meta(3))  # redelivered after the restart: still ignored
        assert rig2.service.counters.duplicates == 1
        await rig2.send(meta(4))
        assert len(rig2.decisions) == 1 and rig2.decisions[0].dr == 5
    finally:
        await rig2.close()
    # and the pending decision survives another restart
    rig3 = await start_rig(storage)
    try:
        await rig3.send(meta(5))
        assert rig3.decisions == []
        assert rig3.service.counters.skipped.get("same_as_pending") == 1
    finally:
        await rig3.close()


async def test_adr_bit_off_and_unknown_devices_are_not_controlled(storage: Storage) -> None:
    rig = await start_rig(storage)
    try:
        await rig.send(*(meta(c, adr=False) for c in range(1, 6)))
        await rig.send(meta(1, dev_eui="0102030405060700"))
        assert rig.decisions == []
        assert rig.service.counters.skipped == {"adr_bit_off": 5, "unknown_device": 1}
    finally:
        await rig.close()


async def test_channel_usage_is_aggregated_from_every_uplink(storage: Storage) -> None:
    rig = await start_rig(storage)
    try:
        await rig.send(meta(1, adr=False, freq_hz=868_300_000), meta(2, adr=False))
        now = (T0 + timedelta(seconds=300)).timestamp()
        load = rig.service.core.usage.channel_load(now)
        assert load[868_300_000.0] > 0 and load[868_100_000.0] > 0
    finally:
        await rig.close()


async def test_app_runs_until_stopped(tmp_path: Path) -> None:
    from services.drcc.app import run
    from services.storage import StorageSettings

    stop = asyncio.Event()
    task = asyncio.create_task(
        run(
            SETTINGS,
            storage_settings=StorageSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"),
            stop=stop,
            install_signal_handlers=False,
        )
    )
    await asyncio.sleep(0.5)
    assert not task.done()
    stop.set()
    await asyncio.wait_for(task, 10)
