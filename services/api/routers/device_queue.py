"""/api/devices/{dev_eui}/queue: submit an application downlink, list and flush the queue.

A submitted downlink is not written to the queue here: it goes on the bus as a plain
``DownlinkRequest`` (``encrypted=False``) on ``as.down.submit``; the application handler
encrypts it with the AppSKey for the counter it reserves and hands it to the network server,
which stores it in the device queue (see docs/ARCHITECTURE.md, "Downlink payload encryption").
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query, status

from services.bus.messages import DownlinkRequest
from services.bus.topics import Topic

from ..deps import BusDep, DevEuiPath, PageParams, StorageDep, TenantScope
from ..schemas.common import Page
from ..schemas.queue import DownlinkCreate, DownlinkSubmitted, QueueFlushed, QueueItemPublic
from ._common import API_PREFIX, page_of
from .devices import visible_device

router = APIRouter(prefix=f"{API_PREFIX}/devices", tags=["device queue"])

AS_DOWN_SUBMIT = Topic.AS_DOWN_SUBMIT


@router.post("/{dev_eui}/queue", status_code=status.HTTP_202_ACCEPTED)
async def submit_downlink(
    dev_eui: DevEuiPath,
    body: DownlinkCreate,
    scope: TenantScope,
    storage: StorageDep,
    bus: BusDep,
) -> DownlinkSubmitted:
    """Accept a downlink for delivery; the answer's ``request_id`` identifies it in events."""
    device = await visible_device(storage, dev_eui, scope)
    request = DownlinkRequest(
        request_id=uuid.uuid4().hex,
        dev_eui=str(device.dev_eui),
        f_port=body.f_port,
        frm_payload=body.payload,
        encrypted=False,
        confirmed=body.confirmed,
    )
    await bus.publish(AS_DOWN_SUBMIT, str(device.dev_eui), request)
    return DownlinkSubmitted(request_id=request.request_id, dev_eui=str(device.dev_eui))


@router.get("/{dev_eui}/queue")
async def list_queue(
    dev_eui: DevEuiPath,
    scope: TenantScope,
    storage: StorageDep,
    page: PageParams,
    include_sent: bool = Query(default=False, description="also items already transmitted"),
) -> Page[QueueItemPublic]:
    """The network server's queue for the device (payloads as queued, base64)."""
    device = await visible_device(storage, dev_eui, scope)
    result = await storage.queue.list(
        device.dev_eui,
        tenant_id=scope,
        include_sent=include_sent,
        limit=page.limit,
        offset=page.offset,
    )
    return page_of(result, QueueItemPublic.from_domain)


@router.delete("/{dev_eui}/queue")
async def flush_queue(dev_eui: DevEuiPath, scope: TenantScope, storage: StorageDep) -> QueueFlushed:
    device = await visible_device(storage, dev_eui, scope)
    deleted = await storage.queue.flush(device.dev_eui, tenant_id=scope)
    return QueueFlushed(dev_eui=str(device.dev_eui), deleted=deleted)
