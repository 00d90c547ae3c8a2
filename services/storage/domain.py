"""Domain objects the repositories take and return (plain dataclasses, no ORM rows).

One dataclass per entity. Server-managed fields (``id`` for new objects, ``created_at``,
``updated_at``, ``version``) have defaults, so the same class serves to create an object: build
it without them and the repository returns the stored copy with them filled in.

Identifiers use the protocol types of :mod:`services.lorawan.types` (``EUI64``, ``DevAddr``,
``AES128Key``); keys are held in clear here and encrypted only in the database.
Datetimes are timezone-aware UTC.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from services.lorawan.types import EUI64, AES128Key, DevAddr

T = TypeVar("T")


def new_id() -> uuid.UUID:
    return uuid.uuid4()


@dataclass(slots=True, kw_only=True)
class Page(Generic[T]):
    """One page of a listing: ``items`` from ``offset``, at most ``limit``, of ``total``."""

    items: list[T]
    total: int
    limit: int
    offset: int


# --- tenants and API keys -------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class Tenant:
    name: str
    id: uuid.UUID = field(default_factory=new_id)
    created_at: datetime | None = None


@dataclass(slots=True, kw_only=True)
class ApiKey:
    """An API key. Only the SHA-256 of its secret is stored; the secret is shown once."""

    name: str
    tenant_id: uuid.UUID | None = None  # None: not bound to a tenant (admin keys)
    is_admin: bool = False
    id: uuid.UUID = field(default_factory=new_id)
    created_at: datetime | None = None


# --- zones and gateways ---------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class Zone:
    """A group of gateways with its own ledger ordering service."""

    name: str
    description: str = ""
    ledger_settings: dict[str, Any] = field(default_factory=dict)  # placeholder
    created_at: datetime | None = None


@dataclass(slots=True, kw_only=True)
class Location:
    latitude: float
    longitude: float
    altitude: float = 0.0


@dataclass(slots=True, kw_only=True)
class Gateway:
    gw_eui: EUI64
    tenant_id: uuid.UUID | None = None  # None: seen on the air but not yet claimed
    name: str = ""
    zone: str | None = None
    location: Location | None = None
    last_seen_at: datetime | None = None
    last_stats: dict[str, Any] | None = None
    created_at: datetime | None = None


# --- applications and device profiles -------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class Webhook:
    url: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class Integrations:
    mqtt_enabled: bool = True
    webhooks: list[Webhook] = field(default_factory=list)
    codec: str | None = None  # payload codec name, None: raw bytes


@dataclass(slots=True, kw_only=True)
class Application:
    tenant_id: uuid.UUID
    name: str
    description: str = ""
    integrations: Integrations = field(default_factory=Integrations)
    id: uuid.UUID = field(default_factory=new_id)
    created_at: datetime | None = None


class DeviceClass(StrEnum):
    A = "A"
    B = "B"
    C = "C"


@dataclass(slots=True, kw_only=True)
class DeviceProfile:
    tenant_id: uuid.UUID
    name: str
    region: str = "EU868"
    mac_version: str = "1.0.3"  # services.lorawan.version.MacVersion value
    reg_params_revision: str = "RP002-1.0.3"
    supports_join: bool = True  # OTAA
    device_class: DeviceClass = DeviceClass.A
    adr_policy: str = "default"
    rx1_delay: int = 1  # seconds
    rx1_dr_offset: int = 0
    rx2_dr: int = 0
    rx2_freq: int = 869_525_000  # Hz
    uplink_interval: int = 3600  # seconds, expected
    id: uuid.UUID = field(default_factory=new_id)
    created_at: datetime | None = None


# --- devices, sessions, queue ---------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class Device:
    dev_eui: EUI64
    tenant_id: uuid.UUID
    application_id: uuid.UUID
    device_profile_id: uuid.UUID
    name: str = ""
    description: str = ""
    join_eui: EUI64 | None = None
    nwk_key: AES128Key | None = None  # the only root key of 1.0.x devices ("AppKey" there)
    app_key: AES128Key | None = None  # 1.1 only
    enabled: bool = True
    # Managed by check_and_record_dev_nonce / next_join_nonce; update() leaves them alone.
    last_dev_nonce: int | None = None
    join_nonce: int = 0  # last JoinNonce handed out (0: none yet)
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(slots=True, kw_only=True)
class DeviceSession:
    """The network (and, embedded, application) session of an activated device.

    ``f_cnt_up`` is the last accepted full 32-bit uplink counter (None: nothing received since
    the session started). ``version`` is the optimistic lock: ``DeviceSessionRepo.save`` writes
    only if the stored version still equals it.
    """

    dev_eui: EUI64
    dev_addr: DevAddr
    mac_version: str
    f_nwk_s_int_key: AES128Key
    s_nwk_s_int_key: AES128Key
    nwk_s_enc_key: AES128Key
    app_s_key: AES128Key | None = None
    session_id: uuid.UUID = field(default_factory=new_id)  # new at each join/activation
    f_cnt_up: int | None = None
    n_f_cnt_down: int = 0
    a_f_cnt_down: int = 0
    conf_f_cnt: int = 0
    rx1_delay: int = 1
    rx1_dr_offset: int = 0
    rx2_dr: int = 0
    rx2_freq: int = 869_525_000
    dr: int = 0
    tx_power_index: int = 0
    nb_trans: int = 1
    enabled_channels: list[int] = field(default_factory=lambda: [0, 1, 2])
    adr: bool = False
    pending_mac_commands: list[Any] = field(default_factory=list)
    mac_command_state: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 0


@dataclass(slots=True, kw_only=True)
class QueueItem:
    """A downlink waiting for a device (FIFO per device)."""

    dev_eui: EUI64
    f_port: int
    frm_payload: bytes  # AppSKey-encrypted by the app handler for f_cnt_down (NS has no AppSKey)
    confirmed: bool = False
    expires_at: datetime | None = None
    id: uuid.UUID = field(default_factory=new_id)
    f_cnt_down: int | None = None  # assigned when sent
    is_pending: bool = False  # confirmed, sent, waiting for the ACK
    sent_at: datetime | None = None
    acked: bool | None = None  # None: not known (unconfirmed, or still pending)
    created_at: datetime | None = None


# --- logs -----------------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class UplinkRecord:
    """One deduplicated uplink. Unique per (dev_eui, session_id, f_cnt)."""

    dev_eui: EUI64
    dev_addr: DevAddr
    session_id: uuid.UUID
    f_cnt: int  # full 32-bit
    f_port: int | None
    payload: bytes  # decrypted FRMPayload
    dr: int
    freq: int  # Hz
    rx_metadata: list[dict[str, Any]] = field(default_factory=list)  # one entry per gateway
    received_at: datetime | None = None
    confirmed: bool = False
    id: uuid.UUID = field(default_factory=new_id)  # the dedup id
    payload_sha256: bytes = b""  # filled by the repository when empty


@dataclass(slots=True, kw_only=True)
class OutboxEntry:
    """One integration delivery waiting to be made: an MQTT publish or a webhook POST of one
    event. ``key`` is unique per event and target, so writing the same delivery twice keeps
    one row. ``body`` holds what the target needs (see services.app_handler.outbox)."""

    key: str
    dev_eui: EUI64
    target: str  # "mqtt" or "webhook"
    event: str  # "up", "join", "ack", "txack"
    body: dict[str, Any]
    attempts: int = 0
    next_attempt_at: datetime | None = None  # None: now
    lease_owner: str | None = None  # the relay that will deliver it
    lease_until: datetime | None = None
    last_error: str | None = None
    failed_at: datetime | None = None  # gave up (kept for operators)
    created_at: datetime | None = None


@dataclass(slots=True, kw_only=True)
class Event:
    """A device event for operators (join, ack, error, ...)."""

    dev_eui: EUI64
    kind: str  # e.g. "join", "ack", "error"
    data: dict[str, Any] = field(default_factory=dict)
    id: uuid.UUID = field(default_factory=new_id)
    created_at: datetime | None = None


# --- DRCC -----------------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class DrccState:
    """Per-device state of a DRCC/ADR policy (its own JSON)."""

    dev_eui: EUI64
    policy: str
    state: dict[str, Any] = field(default_factory=dict)
    updated_at: datetime | None = None


@dataclass(slots=True, kw_only=True)
class DrccDecision:
    """A link-adaptation decision (the content of a LinkADRReq) with its reason."""

    dev_eui: EUI64
    policy: str
    dr: int
    tx_power_index: int
    ch_mask: list[int]  # enabled channel indexes
    nb_trans: int
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    id: uuid.UUID = field(default_factory=new_id)
    created_at: datetime | None = None
