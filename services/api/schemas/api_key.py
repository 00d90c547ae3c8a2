"""API key schemas. The secret appears once, in the answer to the create request."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from services.storage.domain import ApiKey

from .common import Name, PublicSchema, Schema


class ApiKeyCreate(Schema):
    name: Name
    tenant_id: uuid.UUID | None = Field(
        default=None,
        description="tenant of the key; tenant keys may omit it (their own tenant is used)",
    )
    is_admin: bool = Field(
        default=False, description="an admin key (no tenant): only an admin key may create one"
    )


class ApiKeyPublic(PublicSchema):
    id: uuid.UUID
    name: str
    tenant_id: uuid.UUID | None
    is_admin: bool
    created_at: datetime | None = None

    @classmethod
    def from_domain(cls, key: ApiKey) -> ApiKeyPublic:
        return cls(
            id=key.id,
            name=key.name,
            tenant_id=key.tenant_id,
            is_admin=key.is_admin,
            created_at=key.created_at,
        )


class ApiKeyCreated(ApiKeyPublic):
    """The new key with its secret: shown this once, only its SHA-256 is stored."""

    secret: str

    @classmethod
    def with_secret(cls, key: ApiKey, secret: str) -> ApiKeyCreated:
        return cls(**ApiKeyPublic.from_domain(key).model_dump(), secret=secret)
