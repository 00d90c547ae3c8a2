"""SQLAlchemy ORM models (the database schema). Services never see these rows.

Portable across SQLite and PostgreSQL: EUIs and DevAddrs as upper-case hex strings, UUIDs via
``Uuid``, bytes as ``LargeBinary``, 32-bit counters as ``BigInteger``, documents as ``JSON``,
timestamps as timezone-aware UTC. Keys are stored encrypted (see ``crypto.py``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


EUI = String(16)
DEV_ADDR = String(8)
KEY_BLOB = LargeBinary()  # AES-GCM blob: 1 + 12 + 16 + 16 bytes for an AES-128 key
SEQ = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrement needs INTEGER


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        uuid.UUID: Uuid(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
        bytes: LargeBinary(),
    }


def _tenant_fk(nullable: bool = False) -> Mapped[Any]:
    return mapped_column(
        Uuid(), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=nullable, index=True
    )


def _device_fk(primary_key: bool = False) -> Mapped[Any]:
    return mapped_column(
        EUI,
        ForeignKey("devices.dev_eui", ondelete="CASCADE"),
        primary_key=primary_key,
        index=not primary_key,
    )


class TenantRow(Base):
    __tablename__ = "tenants"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class ApiKeyRow(Base):
    __tablename__ = "api_keys"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[uuid.UUID | None] = _tenant_fk(nullable=True)
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the secret
    is_admin: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]


class ZoneRow(Base):
    __tablename__ = "zones"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(Text)
    ledger_settings: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class GatewayRow(Base):
    __tablename__ = "gateways"
    gw_eui: Mapped[str] = mapped_column(EUI, primary_key=True)
    tenant_id: Mapped[uuid.UUID | None] = _tenant_fk(nullable=True)
    name: Mapped[str] = mapped_column(String(200))
    zone: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("zones.name", ondelete="SET NULL"), index=True
    )
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    altitude: Mapped[float | None] = mapped_column(Float)
    last_seen_at: Mapped[datetime | None]
    last_stats: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]


class ApplicationRow(Base):
    __tablename__ = "applications"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    integrations: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class DeviceProfileRow(Base):
    __tablename__ = "device_profiles"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    name: Mapped[str] = mapped_column(String(200))
    region: Mapped[str] = mapped_column(String(16))
    mac_version: Mapped[str] = mapped_column(String(8))
    reg_params_revision: Mapped[str] = mapped_column(String(32))
    supports_join: Mapped[bool] = mapped_column(Boolean)
    device_class: Mapped[str] = mapped_column(String(1))
    adr_policy: Mapped[str] = mapped_column(String(64))
    rx1_delay: Mapped[int] = mapped_column(Integer)
    rx1_dr_offset: Mapped[int] = mapped_column(Integer)
    rx2_dr: Mapped[int] = mapped_column(Integer)
    rx2_freq: Mapped[int] = mapped_column(BigInteger)
    uplink_interval: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]


class DeviceRow(Base):
    __tablename__ = "devices"
    dev_eui: Mapped[str] = mapped_column(EUI, primary_key=True)
    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    application_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    device_profile_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("device_profiles.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    join_eui: Mapped[str | None] = mapped_column(EUI)
    nwk_key: Mapped[bytes | None] = mapped_column(KEY_BLOB)
    app_key: Mapped[bytes | None] = mapped_column(KEY_BLOB)
    last_dev_nonce: Mapped[int | None] = mapped_column(Integer)
    join_nonce: Mapped[int] = mapped_column(BigInteger)
    enabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class DevNonceRow(Base):
    """Every DevNonce a device used (replay protection of LoRaWAN 1.0.0-1.0.3)."""

    __tablename__ = "dev_nonces"
    dev_eui: Mapped[str] = _device_fk(primary_key=True)
    dev_nonce: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime]


class DeviceSessionRow(Base):
    __tablename__ = "device_sessions"
    dev_eui: Mapped[str] = _device_fk(primary_key=True)
    session_id: Mapped[uuid.UUID]
    dev_addr: Mapped[str] = mapped_column(DEV_ADDR, index=True)  # not unique
    mac_version: Mapped[str] = mapped_column(String(8))
    f_nwk_s_int_key: Mapped[bytes] = mapped_column(KEY_BLOB)
    s_nwk_s_int_key: Mapped[bytes] = mapped_column(KEY_BLOB)
    nwk_s_enc_key: Mapped[bytes] = mapped_column(KEY_BLOB)
    app_s_key: Mapped[bytes | None] = mapped_column(KEY_BLOB)
    f_cnt_up: Mapped[int | None] = mapped_column(BigInteger)
    n_f_cnt_down: Mapped[int] = mapped_column(BigInteger)
    a_f_cnt_down: Mapped[int] = mapped_column(BigInteger)
    conf_f_cnt: Mapped[int] = mapped_column(BigInteger)
    rx1_delay: Mapped[int] = mapped_column(Integer)
    rx1_dr_offset: Mapped[int] = mapped_column(Integer)
    rx2_dr: Mapped[int] = mapped_column(Integer)
    rx2_freq: Mapped[int] = mapped_column(BigInteger)
    dr: Mapped[int] = mapped_column(Integer)
    tx_power_index: Mapped[int] = mapped_column(Integer)
    nb_trans: Mapped[int] = mapped_column(Integer)
    enabled_channels: Mapped[list[Any]]
    adr: Mapped[bool] = mapped_column(Boolean)
    pending_mac_commands: Mapped[list[Any]]
    mac_command_state: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer)


class QueueItemRow(Base):
    __tablename__ = "device_queue"
    seq: Mapped[int] = mapped_column(SEQ, primary_key=True, autoincrement=True)  # FIFO order
    id: Mapped[uuid.UUID] = mapped_column(unique=True)
    dev_eui: Mapped[str] = _device_fk()
    f_port: Mapped[int] = mapped_column(Integer)
    frm_payload: Mapped[bytes]
    confirmed: Mapped[bool] = mapped_column(Boolean)
    f_cnt_down: Mapped[int | None] = mapped_column(BigInteger)
    is_pending: Mapped[bool] = mapped_column(Boolean)
    sent_at: Mapped[datetime | None]
    acked: Mapped[bool | None] = mapped_column(Boolean)
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class UplinkRow(Base):
    __tablename__ = "uplink_log"
    __table_args__ = (
        UniqueConstraint("dev_eui", "session_id", "f_cnt"),
        Index("ix_uplink_log_dev_eui_received_at", "dev_eui", "received_at"),
        Index("ix_uplink_log_received_at", "received_at"),  # retention: oldest first
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # dedup id
    dev_eui: Mapped[str] = mapped_column(EUI, ForeignKey("devices.dev_eui", ondelete="CASCADE"))
    dev_addr: Mapped[str] = mapped_column(DEV_ADDR)
    session_id: Mapped[uuid.UUID]
    f_cnt: Mapped[int] = mapped_column(BigInteger)
    f_port: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[bytes]
    payload_sha256: Mapped[bytes] = mapped_column(LargeBinary(32))
    dr: Mapped[int] = mapped_column(Integer)
    freq: Mapped[int] = mapped_column(BigInteger)
    confirmed: Mapped[bool] = mapped_column(Boolean)
    rx_metadata: Mapped[list[Any]]
    received_at: Mapped[datetime]


class EventRow(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_dev_eui_created_at", "dev_eui", "created_at"),
        Index("ix_events_created_at", "created_at"),
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    dev_eui: Mapped[str] = mapped_column(EUI, ForeignKey("devices.dev_eui", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class DrccStateRow(Base):
    __tablename__ = "drcc_state"
    dev_eui: Mapped[str] = _device_fk(primary_key=True)
    policy: Mapped[str] = mapped_column(String(64))
    state: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class DrccDecisionRow(Base):
    __tablename__ = "drcc_decisions"
    __table_args__ = (
        Index("ix_drcc_decisions_dev_eui_created_at", "dev_eui", "created_at"),
        Index("ix_drcc_decisions_created_at", "created_at"),
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    dev_eui: Mapped[str] = mapped_column(EUI, ForeignKey("devices.dev_eui", ondelete="CASCADE"))
    policy: Mapped[str] = mapped_column(String(64))
    dr: Mapped[int] = mapped_column(Integer)
    tx_power_index: Mapped[int] = mapped_column(Integer)
    ch_mask: Mapped[list[Any]]
    nb_trans: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class AppSessionRow(Base):
    """The application side of a device's current session (AppSKey held by the app handler)."""

    __tablename__ = "app_sessions"
    dev_eui: Mapped[str] = _device_fk(primary_key=True)
    session_id: Mapped[uuid.UUID]
    dev_addr: Mapped[str] = mapped_column(DEV_ADDR)
    join_eui: Mapped[str | None] = mapped_column(EUI)
    mac_version: Mapped[str] = mapped_column(String(8))
    app_s_key: Mapped[bytes] = mapped_column(KEY_BLOB)
    last_a_f_cnt_down_reserved: Mapped[int | None] = mapped_column(BigInteger)
    n_f_cnt_down: Mapped[int | None] = mapped_column(BigInteger)
    a_f_cnt_down: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]


class IntegrationOutboxRow(Base):
    """An integration delivery (one MQTT publish or one webhook POST of one event) waiting to
    be made. Written in the same transaction as what caused the event (e.g. the uplink-log
    row), deleted once the broker or endpoint has acknowledged it; see
    services/app_handler/outbox.py."""

    __tablename__ = "integration_outbox"
    __table_args__ = (
        Index("ix_integration_outbox_due", "failed_at", "next_attempt_at"),
        Index("ix_integration_outbox_claim_id", "claim_id"),
    )
    key: Mapped[str] = mapped_column(String(200), primary_key=True)  # event id + target
    dev_eui: Mapped[str] = mapped_column(EUI)  # no FK: a deleted device's events still go out
    target: Mapped[str] = mapped_column(String(16))  # "mqtt" or "webhook"
    event: Mapped[str] = mapped_column(String(16))  # "up", "join", "ack", "txack"
    body: Mapped[dict[str, Any]]  # what the target needs: topic parts or URL/headers, event
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime]
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None]
    claim_id: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    failed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
