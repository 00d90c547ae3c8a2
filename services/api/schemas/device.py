"""Device schemas. Root keys (nwk_key, app_key) are write-only: never in a response."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from services.storage.domain import Device

from .common import Description, EuiHex, KeyHex, PublicSchema, Schema


class DeviceCreate(Schema):
    dev_eui: EuiHex
    application_id: uuid.UUID
    device_profile_id: uuid.UUID
    name: str = Field(default="", max_length=100)
    description: Description = ""
    join_eui: EuiHex | None = None
    nwk_key: KeyHex | None = Field(
        default=None,
        description="OTAA root key (the AppKey of LoRaWAN 1.0.x devices); write-only",
    )
    app_key: KeyHex | None = Field(default=None, description="LoRaWAN 1.1 AppKey; write-only")
    enabled: bool = True


class DeviceUpdate(Schema):
    """Partial update. Setting a key to null removes it."""

    application_id: uuid.UUID | None = None
    device_profile_id: uuid.UUID | None = None
    name: str | None = Field(default=None, max_length=100)
    description: Description | None = None
    join_eui: EuiHex | None = None
    nwk_key: KeyHex | None = None
    app_key: KeyHex | None = None
    enabled: bool | None = None


class DevicePublic(PublicSchema):
    dev_eui: str
    tenant_id: uuid.UUID
    application_id: uuid.UUID
    device_profile_id: uuid.UUID
    name: str
    description: str
    join_eui: str | None
    has_nwk_key: bool
    has_app_key: bool
    enabled: bool
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_domain(cls, device: Device) -> DevicePublic:
        return cls(
            dev_eui=str(device.dev_eui),
            tenant_id=device.tenant_id,
            application_id=device.application_id,
            device_profile_id=device.device_profile_id,
            name=device.name,
            description=device.description,
            join_eui=None if device.join_eui is None else str(device.join_eui),
            has_nwk_key=device.nwk_key is not None,
            has_app_key=device.app_key is not None,
            enabled=device.enabled,
            created_at=device.created_at,
            updated_at=device.updated_at,
        )
