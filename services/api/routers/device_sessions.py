"""ABP activation, the session state (without keys), and the device's recent uplinks.

ABP keys go where OTAA keys go: the network session keys into the NS device session, the
AppSKey to the application handler only, over ``js.app_s_key`` (in clear, ``kek_label`` ""),
exactly as the join server hands it over after a join. The AppSKey is published first, so a
session never exists without its AppSKey having been sent.
"""

from __future__ import annotations

from fastapi import APIRouter, status

from services.bus import Topic
from services.bus.messages import AppSKeyDelivery
from services.lorawan.errors import LoRaWANError
from services.lorawan.region import get_region
from services.lorawan.types import AES128Key, DevAddr
from services.lorawan.version import MacVersion
from services.storage import DeviceSession

from ..deps import BusDep, DevEuiPath, EventHubDep, PageParams, StorageDep, TenantScope
from ..errors import validation_error
from ..schemas.common import Page
from ..schemas.session import DeviceActivation, DeviceSessionPublic, UplinkPublic
from ._common import API_PREFIX, not_found, page_of
from .devices import visible_device

router = APIRouter(prefix=f"{API_PREFIX}/devices", tags=["device sessions"])

NO_JOIN_EUI = "0000000000000000"


def _enabled_channels(region_name: str) -> list[int]:
    try:
        return [ch.index for ch in get_region(region_name).default_channels()]
    except LoRaWANError:
        return [0, 1, 2]


@router.post("/{dev_eui}/activate", status_code=status.HTTP_201_CREATED)
async def activate_device(
    dev_eui: DevEuiPath,
    body: DeviceActivation,
    scope: TenantScope,
    storage: StorageDep,
    bus: BusDep,
    hub: EventHubDep,
) -> DeviceSessionPublic:
    """ABP: create the session with the given DevAddr and keys (replaces any session)."""
    device = await visible_device(storage, dev_eui, scope)
    profile = await storage.device_profiles.get(device.device_profile_id, tenant_id=None)
    if profile is None:  # pragma: no cover - a device always has its profile (FK)
        raise not_found("device profile")
    mac_version = MacVersion.parse(profile.mac_version)
    if mac_version.is_11 and body.nwk_s_key is not None:
        raise validation_error(
            ("body", "nwk_s_key"),
            "LoRaWAN 1.1 profile: give f_nwk_s_int_key, s_nwk_s_int_key and nwk_s_enc_key",
        )
    if not mac_version.is_11 and body.nwk_s_key is None:
        raise validation_error(
            ("body", "nwk_s_key"), f"LoRaWAN {mac_version.value} profile: give nwk_s_key"
        )
    if body.nwk_s_key is not None:
        f_nwk = s_nwk = enc = AES128Key.from_hex(body.nwk_s_key)
    else:
        assert body.f_nwk_s_int_key and body.s_nwk_s_int_key and body.nwk_s_enc_key
        f_nwk = AES128Key.from_hex(body.f_nwk_s_int_key)
        s_nwk = AES128Key.from_hex(body.s_nwk_s_int_key)
        enc = AES128Key.from_hex(body.nwk_s_enc_key)
    session = DeviceSession(
        dev_eui=device.dev_eui,
        dev_addr=DevAddr.from_hex(body.dev_addr),
        mac_version=mac_version.value,
        f_nwk_s_int_key=f_nwk,
        s_nwk_s_int_key=s_nwk,
        nwk_s_enc_key=enc,
        app_s_key=None,  # the NS never holds it: sent to the app handler below
        f_cnt_up=body.f_cnt_up,
        n_f_cnt_down=body.n_f_cnt_down,
        a_f_cnt_down=body.a_f_cnt_down,
        rx1_delay=profile.rx1_delay,
        rx1_dr_offset=profile.rx1_dr_offset,
        rx2_dr=profile.rx2_dr,
        rx2_freq=profile.rx2_freq,
        enabled_channels=_enabled_channels(profile.region),
        adr=False,
    )
    await bus.publish(
        Topic.JS_APP_S_KEY,
        str(device.dev_eui),
        AppSKeyDelivery(
            dev_eui=str(device.dev_eui),
            join_eui=NO_JOIN_EUI if device.join_eui is None else str(device.join_eui),
            dev_addr=body.dev_addr,
            session_id=str(session.session_id),
            mac_version=mac_version.value,
            kek_label="",
            app_s_key_wrapped=body.app_s_key,
        ),
    )
    stored = await storage.sessions.create(session)
    hub.publish(
        {
            "type": "activation",
            "tenant_id": str(device.tenant_id),
            "application_id": str(device.application_id),
            "dev_eui": str(device.dev_eui),
            "dev_addr": str(stored.dev_addr),
            "session_id": str(stored.session_id),
        }
    )
    return DeviceSessionPublic.from_domain(stored)


@router.get("/{dev_eui}/session")
async def get_device_session(
    dev_eui: DevEuiPath, scope: TenantScope, storage: StorageDep
) -> DeviceSessionPublic:
    """The session state (counters, RX settings, DevAddr); keys are never returned."""
    device = await visible_device(storage, dev_eui, scope)
    session = await storage.sessions.get_by_dev_eui(device.dev_eui)
    if session is None:
        raise not_found("device session")
    return DeviceSessionPublic.from_domain(session)


@router.delete("/{dev_eui}/session", status_code=status.HTTP_204_NO_CONTENT)
async def delete_device_session(
    dev_eui: DevEuiPath, scope: TenantScope, storage: StorageDep
) -> None:
    """Deactivate the device (it must join, or be activated, again)."""
    device = await visible_device(storage, dev_eui, scope)
    await storage.sessions.delete(device.dev_eui)


@router.get("/{dev_eui}/uplinks")
async def list_device_uplinks(
    dev_eui: DevEuiPath, scope: TenantScope, storage: StorageDep, page: PageParams
) -> Page[UplinkPublic]:
    """Recent deduplicated uplinks, newest first."""
    device = await visible_device(storage, dev_eui, scope)
    result = await storage.uplinks.list_recent(
        device.dev_eui, tenant_id=scope, limit=page.limit, offset=page.offset
    )
    return page_of(result, UplinkPublic.from_domain)
