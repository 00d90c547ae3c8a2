"""Retention of the device history: RetentionRepo.prune deletes the oldest rows of a table
written before a time, a bounded batch per call; HistoryRetention applies the settings."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import pytest

from services.app_handler.retention import HistoryRetention
from services.app_handler.settings import RetentionSettings
from services.lorawan.types import DevAddr
from services.storage import DrccDecision, Event, Storage, UplinkRecord

from .conftest import FakeClock, World

ADDR = DevAddr.from_hex("26011BDA")


async def _uplinks(storage: Storage, world: World, clock: FakeClock, n: int) -> None:
    """n uplinks of each device, one a minute, the clock moving on."""
    sid = uuid.uuid4()
    for f_cnt in range(n):
        for dev in (world.dev1, world.dev2):
            await storage.uplinks.insert(
                UplinkRecord(
                    dev_eui=dev.dev_eui, dev_addr=ADDR, session_id=sid, f_cnt=f_cnt,
                    f_port=1, payload=b"x", dr=5, freq=868_100_000, rx_metadata=[],
                    received_at=clock.now,
                )
            )  # fmt: skip
        clock.advance(60)


async def _f_cnts(storage: Storage, world: World) -> list[int]:
    page = await storage.uplinks.list_recent(world.dev1.dev_eui, tenant_id=None, limit=1000)
    return sorted(r.f_cnt for r in page.items)


async def test_prune_deletes_the_oldest_first_a_batch_at_a_time(
    storage: Storage, world: World, clock: FakeClock
) -> None:
    start = clock.now
    await _uplinks(storage, world, clock, 10)  # minute 0 .. 9, two devices
    before = start + timedelta(minutes=6)  # minutes 0-5: 12 rows
    assert await storage.retention.prune("uplink_log", before=before, limit=5) == 5
    assert await storage.retention.prune("uplink_log", before=before, limit=5) == 5
    assert await storage.retention.prune("uplink_log", before=before, limit=5) == 2
    assert await storage.retention.prune("uplink_log", before=before, limit=5) == 0
    assert await _f_cnts(storage, world) == [6, 7, 8, 9]  # the newest are kept
    other = await storage.uplinks.list_recent(world.dev2.dev_eui, tenant_id=None)
    assert sorted(r.f_cnt for r in other.items) == [6, 7, 8, 9]


async def test_prune_events_and_decisions(storage: Storage, world: World, clock: FakeClock) -> None:
    e = world.dev1.dev_eui
    start = clock.now
    for i in range(4):
        await storage.events.add(Event(dev_eui=e, kind="join", data={"i": i}, created_at=clock.now))
        await storage.drcc.record_decision(
            DrccDecision(
                dev_eui=e, policy="drcc", dr=i, tx_power_index=1, ch_mask=[0, 1, 2],
                nb_trans=1, reason="test", created_at=clock.now,
            )
        )  # fmt: skip
        clock.advance(3600)
    cut = start + timedelta(hours=2)
    assert await storage.retention.prune("events", before=cut, limit=100) == 2
    assert await storage.retention.prune("drcc_decisions", before=cut, limit=100) == 2
    events = await storage.events.list(e, tenant_id=None)
    assert sorted(ev.data["i"] for ev in events.items) == [2, 3]
    decisions = await storage.drcc.list_decisions(e, tenant_id=None)
    assert sorted(d.dr for d in decisions.items) == [2, 3]


async def test_the_job_keeps_what_its_settings_say(
    storage: Storage, world: World, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    await _uplinks(storage, world, clock, 30)  # 30 minutes of history; now is minute 30
    job = HistoryRetention(
        storage,
        RetentionSettings(uplink_log_s=10 * 60, events_s=0, drcc_decisions_s=0, batch=7),
        clock,
    )
    with caplog.at_level(logging.INFO, "hyperlora.app_handler.retention"):
        done = await job.prune_once()
    # the cut is minute 20: older rows go, minute 20 itself (exactly 10 minutes old) stays
    assert await _f_cnts(storage, world) == list(range(20, 30))
    assert done == {"uplink_log": 40} and job.deleted["uplink_log"] == 40
    assert "table=uplink_log rows=40" in caplog.text
    assert await job.prune_once() == {}  # nothing more to do
    clock.advance(5 * 60)
    assert await job.prune_once() == {"uplink_log": 10}


async def test_zero_keeps_for_ever(storage: Storage, world: World, clock: FakeClock) -> None:
    await _uplinks(storage, world, clock, 5)
    clock.advance(365 * 86_400)
    job = HistoryRetention(
        storage, RetentionSettings(uplink_log_s=0, events_s=0, drcc_decisions_s=0), clock
    )
    assert await job.prune_once() == {}
    assert await _f_cnts(storage, world) == [0, 1, 2, 3, 4]
    job.start()  # nothing to prune: no task
    assert job._task is None
    await job.stop()


def test_retention_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.app_handler.settings import AppHandlerSettings

    monkeypatch.setenv("HYPERLORA_APP_RETENTION__UPLINK_LOG_S", "86400")
    monkeypatch.setenv("HYPERLORA_APP_RETENTION__EVERY_S", "60")
    s = AppHandlerSettings().retention
    assert s.uplink_log_s == 86_400 and s.every_s == 60 and s.events_s == 30 * 86_400
    monkeypatch.setenv("HYPERLORA_APP_RETENTION__BATCH", "0")
    with pytest.raises(ValueError, match="batch"):
        AppHandlerSettings()
