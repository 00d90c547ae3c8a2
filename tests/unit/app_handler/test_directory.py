"""DeviceDirectory: cached device lookups for the integrations (expiry, background refresh,
one load per device at a time, invalidation)."""

from __future__ import annotations

import asyncio
import uuid
from types import SimpleNamespace
from typing import Any

import pytest

from services.app_handler.directory import DeviceDirectory

EUI = "0102030405060708"
APP = uuid.uuid4()


class FakeStorage:
    """devices.get / applications.get over dicts; each device lookup can be held open."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {EUI: "first"}
        self.device_calls = 0
        self.gate: asyncio.Event | None = None
        self.fail = False
        self.devices = SimpleNamespace(get=self._device)
        self.applications = SimpleNamespace(get=self._application)

    async def _device(self, eui: Any, *, tenant_id: Any) -> Any:
        self.device_calls += 1
        name = self.names.get(str(eui))  # read before waiting: what the row said then
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise ConnectionError("database away")
        if name is None:
            return None
        return SimpleNamespace(tenant_id=uuid.uuid4(), application_id=APP, name=name)

    async def _application(self, app_id: Any, *, tenant_id: Any) -> Any:
        integrations = SimpleNamespace(codec=None, mqtt_enabled=True, webhooks=[])
        return SimpleNamespace(name="app", integrations=integrations)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def directory(storage: FakeStorage, clock: Clock, **kw: Any) -> DeviceDirectory:
    return DeviceDirectory(storage, 10.0, monotonic=clock, rand=lambda: 0.0, **kw)  # type: ignore[arg-type]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_fresh_entries_are_served_from_memory() -> None:
    st, clock = FakeStorage(), Clock()
    d = directory(st, clock)
    info = await d.get(EUI.lower())
    assert info is not None and info.device_name == "first"
    clock.t += 9.9
    assert (await d.get(EUI)) is info
    assert st.device_calls == 1


async def test_a_stale_entry_is_served_at_once_and_refreshed_in_the_background() -> None:
    st, clock = FakeStorage(), Clock()
    d = directory(st, clock)
    await d.get(EUI)
    st.names[EUI] = "renamed"
    clock.t += 12  # past the TTL, within the grace period
    stale = await d.get(EUI)
    assert stale is not None and stale.device_name == "first"
    assert await d.get(EUI) is stale  # the refresh is under way: no second load
    await settle()
    assert st.device_calls == 2
    fresh = await d.get(EUI)
    assert fresh is not None and fresh.device_name == "renamed"
    assert d.stale_served == 2


async def test_an_entry_older_than_twice_the_ttl_is_reloaded_before_answering() -> None:
    st, clock = FakeStorage(), Clock()
    d = directory(st, clock)
    await d.get(EUI)
    st.names[EUI] = "renamed"
    clock.t += 20.5
    info = await d.get(EUI)
    assert info is not None and info.device_name == "renamed"
    assert d.stale_served == 0


async def test_concurrent_misses_share_one_load() -> None:
    st, clock = FakeStorage(), Clock()
    st.gate = asyncio.Event()
    d = directory(st, clock)
    waiting = [asyncio.ensure_future(d.get(EUI)) for _ in range(20)]
    await settle()
    st.gate.set()
    infos = await asyncio.gather(*waiting)
    assert st.device_calls == 1
    assert all(i is infos[0] for i in infos)


async def test_invalidate_drops_the_entry_and_a_load_under_way() -> None:
    st, clock = FakeStorage(), Clock()
    d = directory(st, clock)
    await d.get(EUI)
    st.gate = asyncio.Event()
    clock.t += 25
    old_load = asyncio.ensure_future(d.get(EUI))  # reads "first", then waits
    await settle()
    st.names[EUI] = "moved"
    d.invalidate(EUI)
    new_load = asyncio.ensure_future(d.get(EUI))
    await settle()
    st.gate.set()
    old, new = await old_load, await new_load
    assert old is not None and old.device_name == "first"
    assert new is not None and new.device_name == "moved"
    assert (await d.get(EUI)) is new  # the load begun before invalidate was not cached


async def test_expiry_is_spread_by_the_jitter() -> None:
    st, clock = FakeStorage(), Clock()
    draws = iter([0.0, 1.0])
    d = DeviceDirectory(
        st,  # type: ignore[arg-type]
        10.0,
        monotonic=clock,
        rand=lambda: next(draws),
        jitter=0.2,
    )
    st.names["0102030405060709"] = "other"
    await d.get(EUI)  # fresh for 10 s
    await d.get("0102030405060709")  # fresh for 8 s
    clock.t += 9
    await d.get(EUI)
    await d.get("0102030405060709")
    assert d.stale_served == 1


async def test_a_failed_refresh_keeps_the_stale_entry(caplog: pytest.LogCaptureFixture) -> None:
    st, clock = FakeStorage(), Clock()
    d = directory(st, clock)
    first = await d.get(EUI)
    st.fail = True
    clock.t += 12
    assert await d.get(EUI) is first
    await settle()
    assert "directory.load_failed" in caplog.text
    assert await d.get(EUI) is first  # still served (and refreshed again) within the grace
    await settle()
    clock.t += 10  # beyond it the lookup itself fails: the bus retries the uplink
    with pytest.raises(ConnectionError):
        await d.get(EUI)


async def test_unknown_devices_are_cached_too() -> None:
    st, clock = FakeStorage(), Clock()
    d = directory(st, clock)
    assert await d.get("FFFFFFFFFFFFFFFF") is None
    assert await d.get("FFFFFFFFFFFFFFFF") is None
    assert st.device_calls == 1
    assert await d.get("not-an-eui") is None
