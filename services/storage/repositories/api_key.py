"""API keys: only the SHA-256 of the secret is stored; the secret is returned once."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

from sqlalchemy import select

from services.lorawan.errors import InvalidParameter

from ..domain import ApiKey, Page
from ..errors import AlreadyExists, ConstraintViolation, NotFound
from ..models import ApiKeyRow, TenantRow
from ._base import Repo, fetch_page, integrity_as

SECRET_PREFIX = "hlk_"
MIN_SECRET_LENGTH = 16


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        is_admin=row.is_admin,
        created_at=row.created_at,
    )


class ApiKeyRepo(Repo):
    async def create(self, key: ApiKey, *, secret: str | None = None) -> tuple[ApiKey, str]:
        """Store the key; return it with its secret (shown once, only its SHA-256 is kept).

        The secret is generated unless the operator gives one (a bootstrap admin key from
        settings, for one): at least ``MIN_SECRET_LENGTH`` characters, and not already in use
        (AlreadyExists).
        """
        if key.tenant_id is None and not key.is_admin:
            raise ConstraintViolation("a non-admin API key must belong to a tenant")
        if secret is None:
            secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        elif len(secret) < MIN_SECRET_LENGTH:
            raise InvalidParameter(f"an API key secret needs {MIN_SECRET_LENGTH}+ characters")
        with integrity_as(AlreadyExists, f"API key {key.id} or its secret exists"):
            async with self._sessions() as s, s.begin():
                if await s.get(ApiKeyRow, key.id) is not None:
                    raise AlreadyExists(f"API key {key.id} exists")
                if key.tenant_id is not None and await s.get(TenantRow, key.tenant_id) is None:
                    raise ConstraintViolation(f"tenant {key.tenant_id} does not exist")
                row = ApiKeyRow(
                    id=key.id,
                    tenant_id=key.tenant_id,
                    name=key.name,
                    key_hash=hash_secret(secret),
                    is_admin=key.is_admin,
                    created_at=self._now(),
                )
                s.add(row)
        return _key(row), secret

    async def authenticate(self, secret: str) -> ApiKey | None:
        """The key whose secret this is, or None. Looks up by hash, compares in constant time."""
        digest = hash_secret(secret)
        async with self._sessions() as s:
            row = await s.scalar(select(ApiKeyRow).where(ApiKeyRow.key_hash == digest))
        if row is None or not hmac.compare_digest(row.key_hash.encode(), digest.encode()):
            return None
        return _key(row)

    async def get(self, key_id: uuid.UUID, *, tenant_id: uuid.UUID | None) -> ApiKey | None:
        async with self._sessions() as s:
            row = await s.get(ApiKeyRow, key_id)
        if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
            return None
        return _key(row)

    async def list(
        self, *, tenant_id: uuid.UUID | None, limit: int = 100, offset: int = 0
    ) -> Page[ApiKey]:
        stmt = select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.id)
        if tenant_id is not None:
            stmt = stmt.where(ApiKeyRow.tenant_id == tenant_id)
        async with self._sessions() as s:
            return await fetch_page(s, stmt, _key, limit=limit, offset=offset)

    async def delete(self, key_id: uuid.UUID, *, tenant_id: uuid.UUID | None) -> None:
        async with self._sessions() as s, s.begin():
            row = await s.get(ApiKeyRow, key_id)
            if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
                raise NotFound(f"API key {key_id}")
            await s.delete(row)
