"""Gateway schemas."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from services.lorawan.types import EUI64
from services.storage.domain import Gateway, Location

from .common import EuiHex, PublicSchema, Schema
from .zone import ZoneName


class LocationSchema(Schema):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    altitude: float = Field(default=0.0, ge=-1000, le=100_000, description="metres")

    def to_domain(self) -> Location:
        return Location(latitude=self.latitude, longitude=self.longitude, altitude=self.altitude)

    @classmethod
    def from_domain(cls, location: Location | None) -> LocationSchema | None:
        if location is None:
            return None
        return cls(
            latitude=location.latitude, longitude=location.longitude, altitude=location.altitude
        )


class GatewayCreate(Schema):
    gw_eui: EuiHex
    name: str = Field(default="", max_length=100)
    zone: ZoneName | None = None
    location: LocationSchema | None = None
    tenant_id: uuid.UUID | None = Field(
        default=None, description="admin keys only: the owning tenant (none: unclaimed)"
    )

    def to_domain(self, tenant_id: uuid.UUID | None) -> Gateway:
        return Gateway(
            gw_eui=EUI64.from_hex(self.gw_eui),
            tenant_id=tenant_id,
            name=self.name,
            zone=self.zone,
            location=None if self.location is None else self.location.to_domain(),
        )


class GatewayUpdate(Schema):
    name: str | None = Field(default=None, max_length=100)
    zone: ZoneName | None = None
    location: LocationSchema | None = None
    tenant_id: uuid.UUID | None = Field(
        default=None, description="admin keys only: move the gateway to another tenant"
    )


class GatewayPublic(PublicSchema):
    gw_eui: str
    tenant_id: uuid.UUID | None
    name: str
    zone: str | None
    location: LocationSchema | None
    last_seen_at: datetime | None
    last_stats: dict[str, Any] | None
    created_at: datetime | None = None

    @classmethod
    def from_domain(cls, gateway: Gateway) -> GatewayPublic:
        return cls(
            gw_eui=str(gateway.gw_eui),
            tenant_id=gateway.tenant_id,
            name=gateway.name,
            zone=gateway.zone,
            location=LocationSchema.from_domain(gateway.location),
            last_seen_at=gateway.last_seen_at,
            last_stats=gateway.last_stats,
            created_at=gateway.created_at,
        )
