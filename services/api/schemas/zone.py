"""Zone schemas (groups of gateways with their own ledger ordering service)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from services.storage.domain import Zone

from .common import Description, PublicSchema, Schema

ZoneName = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
        description="lower-case letters, digits, '-' and '_' (at most 63)",
        examples=["zone-a"],
    ),
]


class ZoneCreate(Schema):
    name: ZoneName
    description: Description = ""
    ledger_settings: dict[str, Any] = Field(default_factory=dict)

    def to_domain(self) -> Zone:
        return Zone(
            name=self.name,
            description=self.description,
            ledger_settings=dict(self.ledger_settings),
        )


class ZoneUpdate(Schema):
    description: Description | None = None
    ledger_settings: dict[str, Any] | None = None


class ZonePublic(PublicSchema):
    name: str
    description: str
    ledger_settings: dict[str, Any]
    created_at: datetime | None = None

    @classmethod
    def from_domain(cls, zone: Zone) -> ZonePublic:
        return cls(
            name=zone.name,
            description=zone.description,
            ledger_settings=dict(zone.ledger_settings),
            created_at=zone.created_at,
        )
