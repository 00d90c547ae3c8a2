"""The DRCC state kept in JSON form and in memory: incremental history, coalesced writes,
restarts (clean and after a crash) keeping the decisions consistent."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.bus import MemoryBus, Topic
from services.bus.base import Envelope
from services.bus.messages import BaseMessage, LinkAdrDecision, UplinkMeta
from services.drcc.core import DeviceView, record_from_json, record_to_json
from services.drcc.der import f_cnt_distance
from services.drcc.plugin import GatewaySignal, UplinkRecord
from services.drcc.service import DrccService
from services.drcc.settings import DrccSettings
from services.lorawan.types import EUI64
from services.storage import Application, Device, DeviceProfile, Storage, Tenant, build_storage
from services.storage.db import create_engine
from services.storage.migrate import upgrade
from tests.unit.drcc.test_service import (  # noqa: F401  (storage: fixture re-exported)
    ADR_DEV,
    DRCC_DEV,
    KEK,
    SETTINGS,
    T0,
    meta,
    storage,
)

# -- the history, incrementally ------------------------------------------------------------


def reference_add(history: list[dict[str, Any]], rec: UplinkRecord, keep: int) -> list[Any]:
    """The history update as it was before it became incremental (every record converted)."""
    hist = [record_from_json(r) for r in history]
    hist.append(rec)
    if len(hist) > 1:
        last = max(hist, key=lambda r: (r.time_s, r.f_cnt))
        hist.sort(key=lambda r: -f_cnt_distance(r.f_cnt, last.f_cnt))
    hist = hist[-keep:]
    out = []
    for r in hist:
        d = asdict(r)
        d["gateways"] = [asdict(g) for g in r.gateways]
        out.append(d)
    return out


def record(f_cnt: int, t: float) -> UplinkRecord:
    return UplinkRecord(
        time_s=t,
        f_cnt=f_cnt,
        dr=f_cnt % 6,
        tx_power_index=1,
        freq_hz=868_100_000.0,
        gateway_count=1,
        max_snr_db=-3.5,
        max_rssi_dbm=-101.0,
        gateways=(GatewaySignal("AA555A0000000001", -3.5, -101.0),),
    )


# counters near 0 and near the 32-bit wrap, in arrival order that may go back in time
steps = st.lists(
    st.tuples(
        st.integers(min_value=-3, max_value=40),  # counter step
        st.floats(min_value=-50, max_value=500, allow_nan=False),  # time step
        st.booleans(),  # reload the view from its JSON (a cache miss)
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(steps, st.sampled_from([0, 2**32 - 30]), st.integers(min_value=1, max_value=12))
def test_incremental_history_equals_the_full_rebuild(
    moves: list[tuple[int, float, bool]], start: int, keep: int
) -> None:
    view = DeviceView()
    expected: list[dict[str, Any]] = []
    f_cnt, t = start, 1000.0
    for df, dt, reload in moves:
        f_cnt, t = (f_cnt + df) % 2**32, t + dt
        if f_cnt in view.f_cnts():
            continue  # the core drops duplicates before adding
        rec = record(f_cnt, t)
        expected = reference_add(expected, rec, keep)
        view.add_record(rec, keep)
        assert view.history == expected
        assert [record_to_json(r) for r in view.uplink_records()] == expected
        if reload:
            view = DeviceView.from_json(view.to_json())


def test_record_to_json_is_asdict() -> None:
    rec = record(7, 12.5)
    d = asdict(rec)
    d["gateways"] = [asdict(g) for g in rec.gateways]
    assert record_to_json(rec) == d
    assert list(record_to_json(rec)) == list(d)  # same key order: same stored JSON text


def test_to_json_is_a_detached_snapshot() -> None:
    view = DeviceView(channels=[0, 1, 2], pending={"dr": 3}, policy="drcc")
    view.add_record(record(1, 1.0), 4)
    snap = view.to_json()
    assert snap == {
        "history": [record_to_json(record(1, 1.0))],
        "channels": [0, 1, 2],
        "tx_power_index": 0,
        "pending": {"dr": 3},
        "policy": "drcc",
        "policy_state": {},
    }
    view.add_record(record(2, 2.0), 4)
    assert view.channels is not None and view.pending is not None
    view.channels.append(3)
    view.pending["dr"] = 4
    view.policy_state["x"] = 1
    assert len(snap["history"]) == 1 and snap["channels"] == [0, 1, 2]
    assert snap["pending"] == {"dr": 3} and snap["policy_state"] == {}


# -- coalesced writes ----------------------------------------------------------------------


async def bounded(cond: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        assert loop.time() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


class Driver:
    """A DrccService fed directly (one uplink at a time), its decisions collected."""

    def __init__(self, storage: Storage, settings: DrccSettings) -> None:  # noqa: F811
        self.bus = MemoryBus(partitions=2)
        self.service = DrccService(settings, self.bus, storage)
        self.decisions: list[LinkAdrDecision] = []

    async def start(self) -> Driver:
        async def collect(env: Envelope[BaseMessage]) -> None:
            assert isinstance(env.message, LinkAdrDecision)
            self.decisions.append(env.message)

        await self.service.start()
        self.bus.subscribe(Topic.DRCC_LINK_ADR, "test", collect)
        await self.bus.start()
        return self

    async def send(self, m: UplinkMeta) -> None:
        env = Envelope(Topic.NS_UP_META, m.dev_eui, 0, 0, {}, m, b"")
        await self.service.on_uplink_meta(env)
        await bounded(
            lambda: len(self.decisions) == self.service.counters.decisions, "decision delivery"
        )

    async def stop(self) -> None:
        await self.service.stop()
        await self.bus.stop()

    async def crash(self) -> None:
        """Gone without writing what it held in memory."""
        flusher = self.service._flusher
        assert flusher is not None
        flusher.cancel()
        self.service._states.clear()
        await self.bus.stop()


async def stored_f_cnts(storage: Storage, dev_eui: str) -> list[int]:  # noqa: F811
    state = await storage.drcc.get_state(EUI64.from_hex(dev_eui))
    return [] if state is None else [int(r["f_cnt"]) for r in state.state["history"]]


COALESCED = SETTINGS.model_copy(update={"state_write_every": 4, "state_write_s": 3600.0})


async def test_state_is_written_every_n_uplinks_and_with_each_decision(
    storage: Storage,  # noqa: F811
) -> None:
    d = await Driver(storage, COALESCED).start()
    try:
        # ADR_DEV (lorawan-adr waits for 20 uplinks): only the policy change writes at once
        for c in range(1, 5):
            await d.send(meta(c, dev_eui=ADR_DEV, adr=False))
        assert await stored_f_cnts(storage, ADR_DEV) == [1]
        await d.send(meta(5, dev_eui=ADR_DEV, adr=False))  # the 4th unwritten one
        assert await stored_f_cnts(storage, ADR_DEV) == [1, 2, 3, 4, 5]
        await d.send(meta(6, dev_eui=ADR_DEV, adr=False))
        assert await stored_f_cnts(storage, ADR_DEV) == [1, 2, 3, 4, 5]
        # DRCC_DEV decides on its 4th uplink (SETTINGS): written with the decision
        for c in range(1, 4):
            await d.send(meta(c))
        await d.send(meta(4))
        assert len(d.decisions) == 1
        state = await storage.drcc.get_state(EUI64.from_hex(DRCC_DEV))
        assert state is not None and state.state["pending"]["dr"] == 5
        assert [r["f_cnt"] for r in state.state["history"]] == [1, 2, 3, 4]
    finally:
        await d.stop()
    # stop() wrote what was held in memory
    assert await stored_f_cnts(storage, ADR_DEV) == [1, 2, 3, 4, 5, 6]


async def test_unsaved_state_is_written_after_state_write_s(storage: Storage) -> None:  # noqa: F811
    quick = SETTINGS.model_copy(update={"state_write_every": 100, "state_write_s": 0.2})
    d = await Driver(storage, quick).start()
    try:
        await d.send(meta(1, dev_eui=ADR_DEV, adr=False))
        await d.send(meta(2, dev_eui=ADR_DEV, adr=False))
        assert await stored_f_cnts(storage, ADR_DEV) == [1]

        async def written() -> None:
            loop = asyncio.get_running_loop()
            end = loop.time() + 10.0
            while (got := await stored_f_cnts(storage, ADR_DEV)) != [1, 2]:
                assert loop.time() < end, f"state not written by the flusher: {got}"
                await asyncio.sleep(0.05)

        await written()
        # written and idle: dropped from memory, the next uplink reads the database again
        await bounded(lambda: not d.service._states, "the idle state to leave memory")
        await d.send(meta(3, dev_eui=ADR_DEV, adr=False))
        assert d.service.counters.uplinks == 3 and d.service.counters.duplicates == 0
    finally:
        await d.stop()
    assert await stored_f_cnts(storage, ADR_DEV) == [1, 2, 3]


def device_uplinks() -> list[Callable[[int], UplinkMeta]]:
    """The script: per step, the uplink of each device given its current DR."""
    out: list[Callable[[int], UplinkMeta]] = []
    f_cnt = {DRCC_DEV: 0, ADR_DEV: 0}
    for step in range(60):
        for dev in (DRCC_DEV, ADR_DEV):
            # a frame lost now and then, more often at fast data rates
            f_cnt[dev] += 2 if step % 7 == 3 else 1

            def make(dr: int, dev: str = dev, c: int = f_cnt[dev], step: int = step) -> UplinkMeta:
                m = meta(c, dev_eui=dev, dr=dr, snr=8.0 - 2.5 * dr + (step % 3))
                gap = 3 if dr >= 4 and step % 3 == 0 else 0
                return m.model_copy(
                    update={
                        "f_cnt": c + gap * (step // 3),
                        "received_at": T0 + timedelta(seconds=60 * step + (dev == ADR_DEV)),
                    }
                )

            out.append(make)
    return out


async def run_script(
    storage: Storage,  # noqa: F811
    settings: DrccSettings,
    break_at: int,
    crash: bool,
) -> list[tuple[Any, ...]]:
    """Play the script, restarting the service after ``break_at`` uplinks (a clean stop, or
    a crash followed by the redelivery of every uplink since the start). Devices apply each
    decision from their next uplink."""
    script = device_uplinks()
    dr = {DRCC_DEV: 0, ADR_DEV: 0}
    sent: list[UplinkMeta] = []
    published: list[LinkAdrDecision] = []
    d = await Driver(storage, settings).start()
    for i, make in enumerate(script):
        if i == break_at:
            published += d.decisions
            if crash:
                await d.crash()
            else:
                await d.stop()
            d = await Driver(storage, settings).start()
            for m in sent:  # at-least-once: already handled ones are duplicates
                await d.send(m)
            # a clean stop wrote everything; a crash lost some (never a decision: none again)
            redone = d.service.counters.uplinks
            assert (redone > 0) if crash else (redone == 0), redone
            assert d.decisions == []
        m = make(dr[DRCC_DEV if i % 2 == 0 else ADR_DEV])
        sent.append(m)
        seen = len(d.decisions)
        await d.send(m)
        for dec in d.decisions[seen:]:
            dr[dec.dev_eui] = dec.dr
    await d.stop()
    published += d.decisions
    return [
        (x.dev_eui, x.policy, x.dr, x.tx_power_index, tuple(x.channels), x.nb_trans,
         x.based_on_f_cnt)
        for x in published
    ]  # fmt: skip


@contextlib.asynccontextmanager
async def fresh_storage(path: Path) -> AsyncIterator[Storage]:
    """A new database with the two devices of test_service (its fixture, outside pytest)."""
    url = f"sqlite+aiosqlite:///{path / 'drcc.db'}"
    await upgrade(url)
    st_ = build_storage(create_engine(url), KEK)
    try:
        tenant = await st_.tenants.create(Tenant(name="t"))
        app = await st_.applications.create(Application(tenant_id=tenant.id, name="a"))
        drcc = await st_.device_profiles.create(
            DeviceProfile(tenant_id=tenant.id, name="drcc", adr_policy="drcc")
        )
        std = await st_.device_profiles.create(DeviceProfile(tenant_id=tenant.id, name="std"))
        for dev_eui, prof in ((DRCC_DEV, drcc), (ADR_DEV, std)):
            await st_.devices.create(
                Device(
                    dev_eui=EUI64.from_hex(dev_eui),
                    tenant_id=tenant.id,
                    application_id=app.id,
                    device_profile_id=prof.id,
                )
            )
        yield st_
    finally:
        await st_.close()


async def test_restart_after_coalesced_writes_keeps_the_decisions(tmp_path: Path) -> None:
    runs: dict[str, list[tuple[Any, ...]]] = {}
    cases = {
        # reference: every uplink written, a clean restart
        "write_through": (SETTINGS.model_copy(update={"state_write_every": 1}), False),
        "coalesced_stop": (SETTINGS.model_copy(update={"state_write_every": 16}), False),
        # a crash loses the unwritten history; redelivered, it gives the same decisions
        "coalesced_crash": (SETTINGS.model_copy(update={"state_write_every": 16}), True),
    }
    for name, (s, crash) in cases.items():
        path = tmp_path / name
        path.mkdir()
        async with fresh_storage(path) as st_:
            runs[name] = await run_script(st_, s, break_at=51, crash=crash)
    ref = runs["write_through"]
    assert len({r[0] for r in ref}) == 2 and len(ref) >= 4, ref  # both devices decided
    assert any(r[6] > 26 for r in ref), ref  # and some decisions came after the restart
    assert runs["coalesced_stop"] == ref
    assert runs["coalesced_crash"] == ref
