"""/api/devices: registration. Root keys are write-only (responses say ``has_nwk_key``)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query, status

from services.lorawan.types import EUI64, AES128Key
from services.lorawan.version import MacVersion
from services.storage import Device, DeviceProfile, Storage

from ..deps import DevEuiPath, PageParams, StorageDep, TenantScope
from ..errors import validation_error
from ..schemas.common import Page
from ..schemas.device import DeviceCreate, DevicePublic, DeviceUpdate
from ._common import API_PREFIX, not_found, page_of

router = APIRouter(prefix=f"{API_PREFIX}/devices", tags=["devices"])


def _key(text: str | None) -> AES128Key | None:
    return None if text is None else AES128Key.from_hex(text)


async def reference_checks(
    storage: Storage,
    scope: uuid.UUID | None,
    application_id: uuid.UUID,
    profile_id: uuid.UUID,
    tenant_id: uuid.UUID | None = None,
) -> tuple[uuid.UUID, DeviceProfile]:
    """The tenant of the application and the profile; 422 when either is not visible."""
    application = await storage.applications.get(application_id, tenant_id=scope)
    if application is None or (tenant_id is not None and application.tenant_id != tenant_id):
        raise validation_error(
            ("body", "application_id"), "application not found", str(application_id)
        )
    profile = await storage.device_profiles.get(profile_id, tenant_id=application.tenant_id)
    if profile is None:
        raise validation_error(
            ("body", "device_profile_id"),
            "device profile not found in the application's tenant",
            str(profile_id),
        )
    return application.tenant_id, profile


def check_root_keys(profile: DeviceProfile, device: Device) -> None:
    if not profile.supports_join:
        return
    if device.nwk_key is None:
        raise validation_error(
            ("body", "nwk_key"), "nwk_key is required for OTAA (the profile supports join)"
        )
    if MacVersion.parse(profile.mac_version).is_11 and device.app_key is None:
        raise validation_error(
            ("body", "app_key"), "app_key is required for OTAA with LoRaWAN 1.1 profiles"
        )


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_device(
    body: DeviceCreate, scope: TenantScope, storage: StorageDep
) -> DevicePublic:
    tenant_id, profile = await reference_checks(
        storage, scope, body.application_id, body.device_profile_id
    )
    device = Device(
        dev_eui=EUI64.from_hex(body.dev_eui),
        tenant_id=tenant_id,
        application_id=body.application_id,
        device_profile_id=body.device_profile_id,
        name=body.name,
        description=body.description,
        join_eui=None if body.join_eui is None else EUI64.from_hex(body.join_eui),
        nwk_key=_key(body.nwk_key),
        app_key=_key(body.app_key),
        enabled=body.enabled,
    )
    check_root_keys(profile, device)
    return DevicePublic.from_domain(await storage.devices.create(device))


@router.get("")
async def list_devices(
    scope: TenantScope,
    storage: StorageDep,
    page: PageParams,
    application_id: uuid.UUID | None = Query(default=None, description="only this application"),
) -> Page[DevicePublic]:
    result = await storage.devices.list(
        tenant_id=scope, application_id=application_id, limit=page.limit, offset=page.offset
    )
    return page_of(result, DevicePublic.from_domain)


async def visible_device(storage: Storage, dev_eui: str, scope: uuid.UUID | None) -> Device:
    """The device if the caller may see it; 404 otherwise (missing and foreign alike)."""
    device = await storage.devices.get(EUI64.from_hex(dev_eui), tenant_id=scope)
    if device is None:
        raise not_found("device")
    return device


@router.get("/{dev_eui}")
async def get_device(dev_eui: DevEuiPath, scope: TenantScope, storage: StorageDep) -> DevicePublic:
    return DevicePublic.from_domain(await visible_device(storage, dev_eui, scope))


@router.patch("/{dev_eui}")
async def update_device(
    dev_eui: DevEuiPath, body: DeviceUpdate, scope: TenantScope, storage: StorageDep
) -> DevicePublic:
    """Change the given fields. A key set to null is removed; an absent key is kept."""
    device = await visible_device(storage, dev_eui, scope)
    given = body.model_fields_set
    if body.application_id is not None:
        device.application_id = body.application_id
    if body.device_profile_id is not None:
        device.device_profile_id = body.device_profile_id
    _, profile = await reference_checks(
        storage, scope, device.application_id, device.device_profile_id, device.tenant_id
    )
    if body.name is not None:
        device.name = body.name
    if body.description is not None:
        device.description = body.description
    if "join_eui" in given:
        device.join_eui = None if body.join_eui is None else EUI64.from_hex(body.join_eui)
    if "nwk_key" in given:
        device.nwk_key = _key(body.nwk_key)
    if "app_key" in given:
        device.app_key = _key(body.app_key)
    if body.enabled is not None:
        device.enabled = body.enabled
    check_root_keys(profile, device)
    return DevicePublic.from_domain(await storage.devices.update(device, tenant_id=scope))


@router.delete("/{dev_eui}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_device(dev_eui: DevEuiPath, scope: TenantScope, storage: StorageDep) -> None:
    """Delete the device with its session, queue and logs."""
    await storage.devices.delete(EUI64.from_hex(dev_eui), tenant_id=scope)
