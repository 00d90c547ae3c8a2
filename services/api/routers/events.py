"""GET /api/events: the live event stream (server-sent events, ``text/event-stream``).

Each event is one SSE message: ``event:`` its ``type`` (uplink, join, ack, activation, ...),
``id:`` the hub's sequence number, ``data:`` the event as JSON. Tenant keys see their tenant's
events only; ``dev_eui`` and ``application_id`` narrow the stream further. Idle streams get a
keep-alive comment.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.encoders import jsonable_encoder
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BeforeValidator

from services.lorawan.types import EUI64

from ..deps import EventHubDep, SettingsDep, StorageDep, TenantScope
from ..events import Subscription
from ..schemas.common import normalise_hex
from ._common import API_PREFIX, not_found

router = APIRouter(prefix=API_PREFIX, tags=["events"])


def _eui(value: object) -> str:
    return normalise_hex(value, 8, "EUI-64")


DevEuiQuery = Annotated[
    str | None, BeforeValidator(lambda v: None if v in (None, "") else _eui(v)), Query()
]


async def event_subscription(
    scope: TenantScope,
    storage: StorageDep,
    hub: EventHubDep,
    dev_eui: DevEuiQuery = None,
    application_id: Annotated[uuid.UUID | None, Query()] = None,
) -> AsyncIterator[Subscription]:
    """Subscribe before the response starts (so refusals are proper 404/503 answers)."""
    if (
        dev_eui is not None
        and await storage.devices.get(EUI64.from_hex(dev_eui), tenant_id=scope) is None
    ):
        raise not_found("device")
    if (
        application_id is not None
        and await storage.applications.get(application_id, tenant_id=scope) is None
    ):
        raise not_found("application")
    with hub.subscribe(tenant_id=scope, dev_eui=dev_eui, application_id=application_id) as sub:
        yield sub


SubscriptionDep = Annotated[Subscription, Depends(event_subscription)]


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def encode_event(event: dict[str, Any]) -> Any:
    """JSON-ready copy: UUIDs and datetimes as strings, bytes as base64."""
    return jsonable_encoder(event, custom_encoder={bytes: _b64})


@router.get("/events", response_class=EventSourceResponse)
async def stream_events(
    sub: SubscriptionDep, settings: SettingsDep
) -> AsyncIterator[ServerSentEvent]:
    """Live device events as server-sent events (query filters: dev_eui, application_id)."""
    while True:
        try:
            item = await asyncio.wait_for(sub.get(), timeout=settings.event_keepalive_s)
        except TimeoutError:
            yield ServerSentEvent(comment="keep-alive")
            continue
        if item is None:  # the hub closed (shutdown)
            return
        seq, event = item
        yield ServerSentEvent(
            data=encode_event(event), event=str(event.get("type", "event")), id=str(seq)
        )
