"""Device and application lookups for the integrations, cached for a few seconds."""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable

from services.lorawan.errors import InvalidKey
from services.lorawan.types import EUI64
from services.storage import Application, Storage

from .core.events import DeviceInfo, Webhook

MAX_ENTRIES = 50_000


class DeviceDirectory:
    """``get(dev_eui)`` -> :class:`DeviceInfo` (None for an unknown device), with a TTL cache."""

    def __init__(
        self,
        storage: Storage,
        ttl_s: float = 10.0,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self._storage = storage
        self._ttl = ttl_s
        self._monotonic = monotonic
        self._max = max_entries
        self._cache: OrderedDict[str, tuple[float, DeviceInfo | None]] = OrderedDict()
        # applications, shared by many devices: one lookup per application and TTL
        self._apps: dict[uuid.UUID, tuple[float, Application | None]] = {}

    def invalidate(self, dev_eui: str | None = None) -> None:
        if dev_eui is None:
            self._cache.clear()
            self._apps.clear()
        else:
            self._cache.pop(dev_eui.upper(), None)

    async def get(self, dev_eui: str) -> DeviceInfo | None:
        key = dev_eui.upper()
        now = self._monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        info = await self._load(key)
        if self._ttl > 0:
            self._cache[key] = (now + self._ttl, info)
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
