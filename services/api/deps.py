"""FastAPI dependencies, declared once as ``Annotated`` aliases.

Tests swap them through ``app.dependency_overrides[get_storage] = ...``. The objects live on
``app.state`` (set by :func:`services.api.app.create_app`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BeforeValidator

from services.bus import Bus
from services.ledger.base import Ledger
from services.ledger.writer import LedgerWriter
from services.migration import MigrationService
from services.storage import ApiKey, Storage

from .events import EventHub
from .schemas.common import DEFAULT_LIMIT, MAX_LIMIT, normalise_hex
from .settings import ApiSettings


def get_storage(request: Request) -> Storage:
    storage: Storage = request.app.state.storage
    return storage


def get_bus(request: Request) -> Bus:
    bus: Bus = request.app.state.bus
    return bus


def get_event_hub(request: Request) -> EventHub:
    hub: EventHub = request.app.state.event_hub
    return hub


def get_settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


def get_ledger(request: Request) -> Ledger:
    """The ledger (``app.state.ledger``); 503 when the API runs without one."""
    ledger: Ledger | None = getattr(request.app.state, "ledger", None)
    if ledger is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="ledger not configured")
    return ledger


def get_ledger_writer(request: Request) -> LedgerWriter | None:
    """The ledger writer when it runs in this process (backlog per lane), else None."""
    writer: LedgerWriter | None = getattr(request.app.state, "ledger_writer", None)
    return writer


def get_migration(request: Request) -> MigrationService | None:
    """The migration service when zones are migrated (two or more zones), else None."""
    migration: MigrationService | None = getattr(request.app.state, "migration", None)
    return migration


def require_migration(request: Request) -> MigrationService:
    """The migration service; 503 when the API runs without one."""
    migration = get_migration(request)
    if migration is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="migration not configured")
    return migration


StorageDep = Annotated[Storage, Depends(get_storage)]
BusDep = Annotated[Bus, Depends(get_bus)]
EventHubDep = Annotated[EventHub, Depends(get_event_hub)]
SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
LedgerDep = Annotated[Ledger, Depends(get_ledger)]
LedgerWriterDep = Annotated[LedgerWriter | None, Depends(get_ledger_writer)]
OptionalMigrationDep = Annotated[MigrationService | None, Depends(get_migration)]
MigrationDep = Annotated[MigrationService, Depends(require_migration)]

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="`Authorization: Bearer <API key>`",
)
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


async def current_key(request: Request, storage: StorageDep, credentials: BearerDep) -> ApiKey:
    if credentials is None or not credentials.credentials:
        raise unauthorized("missing API key (Authorization: Bearer <key>)")
    key = await storage.api_keys.authenticate(credentials.credentials)
    if key is None:
        raise unauthorized("invalid API key")
    request.state.api_key = key
    return key


CurrentKey = Annotated[ApiKey, Depends(current_key)]


async def admin_key(key: CurrentKey) -> ApiKey:
    if not key.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="admin API key required")
    return key


AdminKey = Annotated[ApiKey, Depends(admin_key)]


def tenant_scope(key: CurrentKey) -> uuid.UUID | None:
    """The tenant filter for repository calls: None for admin keys (everything)."""
    return None if key.is_admin else key.tenant_id


TenantScope = Annotated[uuid.UUID | None, Depends(tenant_scope)]


@dataclass(frozen=True, slots=True)
class Pagination:
    limit: int
    offset: int


def pagination(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size")] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, description="items to skip")] = 0,
) -> Pagination:
    return Pagination(limit=limit, offset=offset)


PageParams = Annotated[Pagination, Depends(pagination)]


def _eui(value: object) -> str:
    return normalise_hex(value, 8, "EUI-64")


DevEuiPath = Annotated[
    str,
    BeforeValidator(_eui),
    Path(description="DevEUI, 16 hex digits", examples=["70B3D57ED0000001"]),
]
GwEuiPath = Annotated[str, BeforeValidator(_eui), Path(description="gateway EUI, 16 hex digits")]
