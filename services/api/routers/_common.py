"""Helpers shared by the routers: owning tenant of a new object, page conversion."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TypeVar

from fastapi import HTTPException, status

from services.storage import Page as DomainPage
from services.storage import Storage

from ..errors import validation_error
from ..schemas.common import Page

API_PREFIX = "/api"  # every management route lives below it

D = TypeVar("D")
P = TypeVar("P")


def page_of(page: DomainPage[D], convert: Callable[[D], P]) -> Page[P]:
    return Page[P](
        items=[convert(item) for item in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


def not_found(what: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"{what} not found")


async def owner_tenant(
    storage: Storage, scope: uuid.UUID | None, requested: uuid.UUID | None
) -> uuid.UUID:
    """The tenant a new object belongs to.

    Tenant keys: their own tenant (``tenant_id`` may be omitted; another tenant's id is
    reported as not found). Admin keys: ``tenant_id`` is required and must exist.
    """
    if scope is not None:
        if requested is not None and requested != scope:
            raise validation_error(("body", "tenant_id"), "tenant not found", str(requested))
        return scope
    if requested is None:
        raise validation_error(("body", "tenant_id"), "tenant_id is required with an admin key")
    if await storage.tenants.get(requested) is None:
        raise validation_error(("body", "tenant_id"), "tenant not found", str(requested))
    return requested
