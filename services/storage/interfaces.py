"""Repository protocols: the storage interface services are written against.

The SQLAlchemy implementations live in :mod:`services.storage.repositories`; tests of other
services may substitute in-memory fakes that satisfy these protocols.

Tenant isolation: every method that reads or changes an object owned by a tenant takes a
keyword-only ``tenant_id``. ``None`` means admin (no filter); any other value restricts the call
to that tenant, and an object of another tenant behaves as missing (:class:`NotFound` / None).
Internal services (network server, join server, DRCC) pass ``tenant_id=None``.
Listings take ``limit`` / ``offset`` and return a :class:`Page` with the total count.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from services.lorawan.types import EUI64, DevAddr

from .domain import (
    ApiKey,
    Application,
    Device,
    DeviceProfile,
    DeviceSession,
    DrccDecision,
    DrccState,
    Event,
    Gateway,
    Page,
    QueueItem,
    Tenant,
    UplinkRecord,
    Zone,
)
from .repositories.app_session import AppSession
from .repositories.session_batch import SessionWrite

TenantId = uuid.UUID | None


class TenantRepository(Protocol):
    async def create(self, tenant: Tenant) -> Tenant: ...
    async def get(self, tenant_id: uuid.UUID) -> Tenant | None: ...
    async def list(self, *, limit: int = 100, offset: int = 0) -> Page[Tenant]: ...
    async def update(self, tenant: Tenant) -> Tenant: ...
    async def delete(self, tenant_id: uuid.UUID) -> None: ...


class ApiKeyRepository(Protocol):
    async def create(self, key: ApiKey, *, secret: str | None = None) -> tuple[ApiKey, str]:
        """Store the key; return it with its secret (shown once, only its SHA-256 is kept).

        ``secret``: an operator-chosen secret instead of a generated one.
        """
        ...

    async def authenticate(self, secret: str) -> ApiKey | None: ...
    async def get(self, key_id: uuid.UUID, *, tenant_id: TenantId) -> ApiKey | None: ...
    async def list(
        self, *, tenant_id: TenantId, limit: int = 100, offset: int = 0
    ) -> Page[ApiKey]: ...
    async def delete(self, key_id: uuid.UUID, *, tenant_id: TenantId) -> None: ...


class ZoneRepository(Protocol):
    async def create(self, zone: Zone) -> Zone: ...
    async def get(self, name: str) -> Zone | None: ...
    async def list(self, *, limit: int = 100, offset: int = 0) -> Page[Zone]: ...
    async def update(self, zone: Zone) -> Zone: ...
    async def delete(self, name: str) -> None: ...


class GatewayRepository(Protocol):
    async def create(self, gateway: Gateway) -> Gateway: ...
    async def get(self, gw_eui: EUI64, *, tenant_id: TenantId) -> Gateway | None: ...
    async def list(
        self,
        *,
        tenant_id: TenantId,
        zone: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[Gateway]: ...
    async def update(self, gateway: Gateway, *, tenant_id: TenantId) -> Gateway: ...
    async def delete(self, gw_eui: EUI64, *, tenant_id: TenantId) -> None: ...
    async def record_seen(
        self, gw_eui: EUI64, *, seen_at: datetime, stats: dict[str, Any] | None = None
    ) -> Gateway:
        """Upsert last_seen_at (and last_stats when given); creates an unclaimed gateway."""
        ...


class ApplicationRepository(Protocol):
    async def create(self, application: Application) -> Application: ...
    async def get(
        self, application_id: uuid.UUID, *, tenant_id: TenantId
    ) -> Application | None: ...
    async def list(
        self, *, tenant_id: TenantId, limit: int = 100, offset: int = 0
    ) -> Page[Application]: ...
    async def update(self, application: Application, *, tenant_id: TenantId) -> Application: ...
    async def delete(self, application_id: uuid.UUID, *, tenant_id: TenantId) -> None: ...


class DeviceProfileRepository(Protocol):
    async def create(self, profile: DeviceProfile) -> DeviceProfile: ...
    async def get(self, profile_id: uuid.UUID, *, tenant_id: TenantId) -> DeviceProfile | None: ...
    async def list(
        self, *, tenant_id: TenantId, limit: int = 100, offset: int = 0
    ) -> Page[DeviceProfile]: ...
    async def update(self, profile: DeviceProfile, *, tenant_id: TenantId) -> DeviceProfile: ...
    async def delete(self, profile_id: uuid.UUID, *, tenant_id: TenantId) -> None: ...


class DeviceRepository(Protocol):
    async def create(self, device: Device) -> Device: ...
    async def get(self, dev_eui: EUI64, *, tenant_id: TenantId) -> Device | None: ...
    async def list(
        self,
        *,
        tenant_id: TenantId,
        application_id: uuid.UUID | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[Device]: ...
    async def update(self, device: Device, *, tenant_id: TenantId) -> Device:
        """Write name, description, join_eui, keys, enabled, profile (not the nonce state)."""
        ...

    async def delete(self, dev_eui: EUI64, *, tenant_id: TenantId) -> None: ...
    async def check_and_record_dev_nonce(
        self, dev_eui: EUI64, dev_nonce: int, strict_increasing: bool
    ) -> None:
        """Atomically accept a DevNonce or raise ``DevNonceReused``.

        ``strict_increasing`` (LoRaWAN 1.0.4 and 1.1): the DevNonce must exceed the last one.
        Otherwise (1.0.0-1.0.3): it must never have been used by this device.
        """
        ...

    async def next_join_nonce(self, dev_eui: EUI64) -> int:
        """Atomically increment and return the device's JoinNonce (first value: 1)."""
        ...


class DeviceSessionRepository(Protocol):
    async def create(self, session: DeviceSession) -> DeviceSession:
        """Store a new session (a join), replacing any previous one of the device."""
        ...

    async def get_by_dev_eui(self, dev_eui: EUI64) -> DeviceSession | None: ...
    async def candidates_by_dev_addr(self, dev_addr: DevAddr) -> list[DeviceSession]: ...
    async def save(self, session: DeviceSession) -> DeviceSession:
        """Write if the stored version equals ``session.version``; else raise ``StaleVersion``.

        Returns the stored copy (version + 1). ``f_cnt_up`` never moves backwards here.
        """
        ...

    async def advance_f_cnt_up(
        self, dev_eui: EUI64, f_cnt: int, *, session_id: uuid.UUID | None = None
    ) -> None:
        """Atomically set f_cnt_up to ``f_cnt`` if greater, else raise ``FrameCounterReplay``.

        With ``session_id``, also refuses if the session was replaced by a new join.
        Does not change ``version``.
        """
        ...

    async def save_many(self, writes: Sequence[SessionWrite]) -> list[int | Exception]:
        """Group commit of the uplink path: every write (a save at the session's version and,
        with ``advance``, the counter advance) in one transaction; per write, the new
        version or its own error (StaleVersion, FrameCounterReplay, NotFound)."""
        ...

    def on_change(self, listener: Callable[[EUI64], None]) -> None:
        """Call ``listener(dev_eui)`` after a session is created, saved, advanced or deleted
        (not by ``save_many``): in-process caches invalidate on it."""
        ...

    async def delete(self, dev_eui: EUI64) -> None: ...


class DeviceQueueRepository(Protocol):
    async def enqueue(self, item: QueueItem) -> QueueItem: ...
    async def get(self, item_id: uuid.UUID) -> QueueItem | None: ...
    async def peek_next(self, dev_eui: EUI64, *, now: datetime) -> QueueItem | None:
        """The oldest item not yet sent and not expired."""
        ...

    async def count_queued(self, dev_eui: EUI64, *, now: datetime) -> int: ...
    async def get_pending(self, dev_eui: EUI64) -> QueueItem | None:
        """The confirmed item sent and waiting for its ACK, if any."""
        ...

    async def mark_sent(
        self, item_id: uuid.UUID, *, f_cnt_down: int, sent_at: datetime, pending: bool
    ) -> QueueItem: ...
    async def mark_acked(self, item_id: uuid.UUID, *, acked: bool) -> QueueItem: ...
    async def list(
        self,
        dev_eui: EUI64,
        *,
        tenant_id: TenantId,
        include_sent: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[QueueItem]: ...
    async def delete(self, item_id: uuid.UUID, *, tenant_id: TenantId) -> None: ...
    async def flush(self, dev_eui: EUI64, *, tenant_id: TenantId) -> int:
        """Delete every item of the device; return how many."""
        ...


class UplinkLogRepository(Protocol):
    async def insert(self, record: UplinkRecord) -> bool:
        """Insert once; False (and nothing written) if (dev_eui, session_id, f_cnt) exists."""
        ...

    async def insert_many(self, records: Sequence[UplinkRecord]) -> list[bool | Exception]:
        """Group commit: ``insert`` of each record in one transaction; per record, True,
        False (already there) or its own error (NotFound: unknown device)."""
        ...

    async def get(self, dev_eui: EUI64, f_cnt: int, *, tenant_id: TenantId) -> UplinkRecord | None:
        """The record of that FCnt (from the most recent session having one)."""
        ...

    async def get_by_id(
        self, record_id: uuid.UUID, *, tenant_id: TenantId
    ) -> UplinkRecord | None: ...

    async def list_recent(
        self, dev_eui: EUI64, *, tenant_id: TenantId, limit: int = 100, offset: int = 0
    ) -> Page[UplinkRecord]: ...


class EventRepository(Protocol):
    async def add(self, event: Event) -> Event: ...
    async def list(
        self, dev_eui: EUI64, *, tenant_id: TenantId, limit: int = 100, offset: int = 0
    ) -> Page[Event]: ...


class DrccRepository(Protocol):
    async def get_state(self, dev_eui: EUI64) -> DrccState | None: ...
    async def save_state(self, state: DrccState) -> DrccState: ...
    async def record_decision(self, decision: DrccDecision) -> DrccDecision: ...
    async def list_decisions(
        self, dev_eui: EUI64, *, tenant_id: TenantId, limit: int = 100, offset: int = 0
    ) -> Page[DrccDecision]: ...


class AppSessionRepository(Protocol):
    """Application sessions (AppSKey and downlink counter reservations), for the app handler.

    The domain type is :class:`services.storage.repositories.app_session.AppSession`.
    """

    async def create(self, session: AppSession) -> AppSession:
        """Store the device's new session (replacing any previous one); the same
        ``session_id`` again returns the stored copy unchanged."""
        ...

    async def get(self, dev_eui: EUI64) -> AppSession | None: ...
    async def record_ns_counters(
        self,
        dev_eui: EUI64,
        session_id: uuid.UUID,
        *,
        n_f_cnt_down: int | None = None,
        a_f_cnt_down: int | None = None,
    ) -> bool:
        """Remember the NS's next downlink counters (never backwards); False if the session
        is not the current one."""
        ...

    async def reserve_f_cnt_down(
        self,
        dev_eui: EUI64,
        session_id: uuid.UUID,
        *,
        expected_last: int | None,
        f_cnt_down: int,
    ) -> bool:
        """Compare-and-set the last reserved downlink counter; False if it changed."""
        ...

    async def delete(self, dev_eui: EUI64) -> None: ...
