"""Tenant schemas."""

from __future__ import annotations

import uuid
from datetime import datetime

from services.storage.domain import Tenant

from .common import Name, PublicSchema, Schema


class TenantCreate(Schema):
    name: Name


class TenantUpdate(Schema):
    name: Name | None = None


class TenantPublic(PublicSchema):
    id: uuid.UUID
    name: str
    created_at: datetime | None = None

    @classmethod
    def from_domain(cls, tenant: Tenant) -> TenantPublic:
        return cls(id=tenant.id, name=tenant.name, created_at=tenant.created_at)
