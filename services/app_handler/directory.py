"""Device and application lookups for the integrations, cached for a few seconds."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable

from services.lorawan.errors import InvalidKey
from services.lorawan.types import EUI64
from services.storage import Application, Storage

from .core.events import DeviceInfo, Webhook

MAX_ENTRIES = 50_000

log = logging.getLogger("hyperlora.app_handler.directory")


class DeviceDirectory:
    """``get(dev_eui)`` -> :class:`DeviceInfo` (None for an unknown device), cached.

    An entry is fresh for ``ttl_s`` times a random factor in [1 - ``jitter``, 1], so the
    entries of devices first seen together (a restart, a burst) do not all expire in the
    same second and reload at once. For one more ``ttl_s`` after that, a lookup returns the
    stale entry at once and reloads it in the background (one load per device at a time);
    older entries are reloaded before the lookup returns. A change to a device or its
    application is therefore seen within ``ttl_s`` by a device that talks often, and on
    its next uplink after ``ttl_s`` by one that talks rarely. ``invalidate`` forgets an
    entry at once (a join does: the device may have moved)."""

    def __init__(
        self,
        storage: Storage,
        ttl_s: float = 10.0,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        max_entries: int = MAX_ENTRIES,
        jitter: float = 0.2,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._storage = storage
        self._ttl = ttl_s
        self._monotonic = monotonic
        self._max = max_entries
        self._jitter = jitter
        self._rand = rand
        # dev_eui -> (fresh until, stale after, info)
        self._cache: OrderedDict[str, tuple[float, float, DeviceInfo | None]] = OrderedDict()
        # applications, shared by many devices: one lookup per application and TTL
        self._apps: dict[uuid.UUID, tuple[float, Application | None]] = {}
        # loads under way (tasks: they also hold background refreshes alive)
        self._loading: dict[str, asyncio.Future[DeviceInfo | None]] = {}
        self.loads = 0  # storage lookups of a device (for tests and the benchmark)
        self.stale_served = 0

    def invalidate(self, dev_eui: str | None = None) -> None:
        if dev_eui is None:
            self._cache.clear()
            self._apps.clear()
            self._loading.clear()
        else:
            key = dev_eui.upper()
            self._cache.pop(key, None)
            self._loading.pop(key, None)  # a load under way may have read the old row

    async def get(self, dev_eui: str) -> DeviceInfo | None:
        key = dev_eui.upper()
        hit = self._cache.get(key)
        if hit is not None:
            now = self._monotonic()
            if now < hit[0]:
                return hit[2]
            if now < hit[1]:
                self.stale_served += 1
                if key not in self._loading:
                    self._start_load(key)
                return hit[2]
        pending = self._loading.get(key) or self._start_load(key)
        return await asyncio.shield(pending)

    def _start_load(self, key: str) -> asyncio.Future[DeviceInfo | None]:
        """Begin loading ``key`` (registered at once, so lookups meanwhile wait for it)."""
        task = asyncio.ensure_future(self._load_and_cache(key))
        self._loading[key] = task
        task.add_done_callback(functools.partial(self._loaded, key))
        return task

    @staticmethod
    def _loaded(key: str, task: asyncio.Future[DeviceInfo | None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()  # retrieved here: a background refresh has no waiter
        if exc is not None:
            log.warning("app_handler.directory.load_failed dev_eui=%s error=%r", key, exc)

    async def _load_and_cache(self, key: str) -> DeviceInfo | None:
        me = asyncio.current_task()
        try:
            self.loads += 1
            info = await self._load(key)
        finally:
            current = self._loading.get(key)
            still_wanted = current is me  # not invalidated meanwhile
            if still_wanted:
                del self._loading[key]
        if still_wanted and self._ttl > 0:
            now = self._monotonic()
            fresh = now + self._ttl * (1.0 - self._jitter * self._rand())
            self._cache[key] = (fresh, now + 2 * self._ttl, info)
            self._cache.move_to_end(key)
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return info

    async def _load(self, dev_eui: str) -> DeviceInfo | None:
        try:
            eui = EUI64.from_hex(dev_eui)
        except InvalidKey:
            return None
        device = await self._storage.devices.get(eui, tenant_id=None)
        if device is None:
            return None
        app = await self._application(device.application_id)
        integrations = app.integrations if app is not None else None
        return DeviceInfo(
            dev_eui=dev_eui,
            tenant_id=str(device.tenant_id),
            application_id=str(device.application_id),
            application_name=app.name if app is not None else None,
            device_name=device.name or None,
            codec=integrations.codec if integrations is not None else None,
            mqtt_enabled=integrations.mqtt_enabled if integrations is not None else True,
            webhooks=tuple(
                Webhook(url=w.url, headers=dict(w.headers))
                for w in (integrations.webhooks if integrations is not None else [])
            ),
        )

    async def _application(self, application_id: uuid.UUID) -> Application | None:
        now = self._monotonic()
        hit = self._apps.get(application_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        app = await self._storage.applications.get(application_id, tenant_id=None)
        if self._ttl > 0:
            if len(self._apps) >= self._max:
                self._apps.clear()
            self._apps[application_id] = (now + self._ttl, app)
        return app
