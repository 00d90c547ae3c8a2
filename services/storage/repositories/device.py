"""Devices: registration, root keys (encrypted at rest), DevNonce and JoinNonce state."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.lorawan.errors import DevNonceReused, InvalidParameter
from services.lorawan.types import EUI64, AES128Key

from ..domain import Device, Page
from ..errors import AlreadyExists, ConstraintViolation, NotFound
from ..models import ApplicationRow, DeviceProfileRow, DeviceRow, DevNonceRow
from ._base import KeyRepo, eui_of, eui_str, fetch_page, integrity_as

TABLE = "devices"
MAX_DEV_NONCE = 0xFFFF
MAX_JOIN_NONCE = 0xFFFFFF


class DeviceRepo(KeyRepo):
    # --- key encryption ---------------------------------------------------------------------

    def _seal(self, key: AES128Key | None, column: str, dev_eui: str) -> bytes | None:
        if key is None:
            return None
        return self._cipher.encrypt(key.value, table=TABLE, column=column, row_id=dev_eui)

    def _open(self, blob: bytes | None, column: str, dev_eui: str) -> AES128Key | None:
        if blob is None:
            return None
        return AES128Key(self._cipher.decrypt(blob, table=TABLE, column=column, row_id=dev_eui))

    def _device(self, row: DeviceRow) -> Device:
        return Device(
            dev_eui=eui_of(row.dev_eui),
            tenant_id=row.tenant_id,
            application_id=row.application_id,
            device_profile_id=row.device_profile_id,
            name=row.name,
            description=row.description,
            join_eui=None if row.join_eui is None else eui_of(row.join_eui),
            nwk_key=self._open(row.nwk_key, "nwk_key", row.dev_eui),
            app_key=self._open(row.app_key, "app_key", row.dev_eui),
            enabled=row.enabled,
            last_dev_nonce=row.last_dev_nonce,
            join_nonce=row.join_nonce,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @staticmethod
    async def _check_refs(s: AsyncSession, device: Device) -> None:
        app = await s.get(ApplicationRow, device.application_id)
        if app is None or app.tenant_id != device.tenant_id:
            raise ConstraintViolation(
                f"application {device.application_id} not found in tenant {device.tenant_id}"
            )
        profile = await s.get(DeviceProfileRow, device.device_profile_id)
        if profile is None or profile.tenant_id != device.tenant_id:
            raise ConstraintViolation(
                f"device profile {device.device_profile_id} not found in tenant {device.tenant_id}"
            )

    # --- CRUD -------------------------------------------------------------------------------

    async def create(self, device: Device) -> Device:
        key = eui_str(device.dev_eui)
        now = self._now()
        with integrity_as(AlreadyExists, f"device {device.dev_eui} exists"):
            async with self._sessions() as s, s.begin():
                if await s.get(DeviceRow, key) is not None:
                    raise AlreadyExists(f"device {device.dev_eui} exists")
                await self._check_refs(s, device)
                row = DeviceRow(
                    dev_eui=key,
                    tenant_id=device.tenant_id,
                    application_id=device.application_id,
                    device_profile_id=device.device_profile_id,
                    name=device.name,
                    description=device.description,
                    join_eui=None if device.join_eui is None else eui_str(device.join_eui),
                    nwk_key=self._seal(device.nwk_key, "nwk_key", key),
                    app_key=self._seal(device.app_key, "app_key", key),
                    last_dev_nonce=None,
                    join_nonce=0,
                    enabled=device.enabled,
                    created_at=now,
                    updated_at=now,
                )
                s.add(row)
        return self._device(row)

    async def get(self, dev_eui: EUI64, *, tenant_id: uuid.UUID | None) -> Device | None:
        row = await self._get_row(DeviceRow, eui_str(dev_eui))
        if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
            return None
        return self._device(row)

    async def list(
        self,
        *,
        tenant_id: uuid.UUID | None,
        application_id: uuid.UUID | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[Device]:
        stmt = select(DeviceRow).order_by(DeviceRow.dev_eui)
        if tenant_id is not None:
            stmt = stmt.where(DeviceRow.tenant_id == tenant_id)
        if application_id is not None:
            stmt = stmt.where(DeviceRow.application_id == application_id)
        async with self._sessions() as s:
            return await fetch_page(s, stmt, self._device, limit=limit, offset=offset)

    async def update(self, device: Device, *, tenant_id: uuid.UUID | None) -> Device:
        """Write name, description, join_eui, keys, enabled, application and profile.

        The tenant and the nonce state (last_dev_nonce, join_nonce) are not changed here.
        """
        key = eui_str(device.dev_eui)
        async with self._sessions() as s, s.begin():
            row = await s.get(DeviceRow, key)
            if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
                raise NotFound(f"device {device.dev_eui}")
            device_in_tenant = Device(
                dev_eui=device.dev_eui,
                tenant_id=row.tenant_id,
                application_id=device.application_id,
                device_profile_id=device.device_profile_id,
            )
            await self._check_refs(s, device_in_tenant)
            row.application_id = device.application_id
            row.device_profile_id = device.device_profile_id
            row.name = device.name
            row.description = device.description
            row.join_eui = None if device.join_eui is None else eui_str(device.join_eui)
            row.nwk_key = self._seal(device.nwk_key, "nwk_key", key)
            row.app_key = self._seal(device.app_key, "app_key", key)
            row.enabled = device.enabled
            row.updated_at = self._now()
        return self._device(row)

    async def delete(self, dev_eui: EUI64, *, tenant_id: uuid.UUID | None) -> None:
        """Delete the device with its session, queue, logs and DRCC state."""
        async with self._sessions() as s, s.begin():
            row = await s.get(DeviceRow, eui_str(dev_eui))
            if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
                raise NotFound(f"device {dev_eui}")
            await s.delete(row)

    # --- join state -------------------------------------------------------------------------

    async def check_and_record_dev_nonce(
        self, dev_eui: EUI64, dev_nonce: int, strict_increasing: bool
    ) -> None:
        """Atomically accept a DevNonce or raise ``DevNonceReused``.

        ``strict_increasing`` (LoRaWAN 1.0.4 and 1.1, where DevNonce is a counter): it must
        exceed the last accepted one. Otherwise (1.0.0-1.0.3, random DevNonce): it must never
        have been used by this device; every value is kept in ``dev_nonces``.
        """
        if not 0 <= dev_nonce <= MAX_DEV_NONCE:
            raise InvalidParameter(f"DevNonce out of range: {dev_nonce}")
        key = eui_str(dev_eui)
        async with self._sessions() as s:
            if strict_increasing:
                async with s.begin():
                    result = await s.execute(
                        update(DeviceRow)
                        .where(DeviceRow.dev_eui == key)
                        .where(
                            (DeviceRow.last_dev_nonce.is_(None))
                            | (DeviceRow.last_dev_nonce < dev_nonce)
                        )
                        .values(last_dev_nonce=dev_nonce, updated_at=self._now())
                        .execution_options(synchronize_session=False)
                    )
                    if _rowcount(result) == 1:
                        return
                    last = await s.scalar(
                        select(DeviceRow.last_dev_nonce).where(DeviceRow.dev_eui == key)
                    )
                    exists = await s.get(DeviceRow, key) is not None
                if not exists:
                    raise NotFound(f"device {dev_eui}")
                raise DevNonceReused(
                    f"DevEUI {dev_eui}: DevNonce {dev_nonce} not greater than last {last}"
                )
            try:
                async with s.begin():
                    if await s.get(DeviceRow, key) is None:
                        raise NotFound(f"device {dev_eui}")
                    s.add(DevNonceRow(dev_eui=key, dev_nonce=dev_nonce, created_at=self._now()))
                    await s.flush()
                    await s.execute(
                        update(DeviceRow)
                        .where(DeviceRow.dev_eui == key)
                        .values(last_dev_nonce=dev_nonce, updated_at=self._now())
                        .execution_options(synchronize_session=False)
                    )
            except IntegrityError as exc:
                raise DevNonceReused(
                    f"DevEUI {dev_eui}: DevNonce {dev_nonce} already used"
                ) from exc

    async def next_join_nonce(self, dev_eui: EUI64) -> int:
        """Atomically increment and return the device's JoinNonce (first value: 1)."""
        key = eui_str(dev_eui)
        async with self._sessions() as s, s.begin():
            result = await s.execute(
                update(DeviceRow)
                .where(DeviceRow.dev_eui == key)
                .where(DeviceRow.join_nonce < MAX_JOIN_NONCE)
                .values(join_nonce=DeviceRow.join_nonce + 1, updated_at=self._now())
                .execution_options(synchronize_session=False)
            )
            if _rowcount(result) == 0:
                if await s.get(DeviceRow, key) is None:
                    raise NotFound(f"device {dev_eui}")
                raise InvalidParameter(f"DevEUI {dev_eui}: JoinNonce exhausted (24 bits)")
            value = await s.scalar(select(DeviceRow.join_nonce).where(DeviceRow.dev_eui == key))
        return int(value or 0)


def _rowcount(result: Any) -> int:
    return int(result.rowcount)
