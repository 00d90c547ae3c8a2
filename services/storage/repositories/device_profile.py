"""Device profiles."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..domain import DeviceClass, DeviceProfile, Page
from ..errors import AlreadyExists, ConstraintViolation, NotFound
from ..models import DeviceProfileRow, TenantRow
from ._base import Repo, fetch_page, integrity_as

_FIELDS = (
    "name",
    "region",
    "mac_version",
    "reg_params_revision",
    "supports_join",
    "adr_policy",
    "rx1_delay",
    "rx1_dr_offset",
    "rx2_dr",
    "rx2_freq",
    "uplink_interval",
)


def _profile(row: DeviceProfileRow) -> DeviceProfile:
    return DeviceProfile(
        id=row.id,
        tenant_id=row.tenant_id,
        device_class=DeviceClass(row.device_class),
        created_at=row.created_at,
        **{f: getattr(row, f) for f in _FIELDS},
    )


def _write(row: DeviceProfileRow, profile: DeviceProfile) -> None:
    for f in _FIELDS:
        setattr(row, f, getattr(profile, f))
    row.device_class = DeviceClass(profile.device_class).value


class DeviceProfileRepo(Repo):
    async def create(self, profile: DeviceProfile) -> DeviceProfile:
        with integrity_as(AlreadyExists, f"device profile {profile.id} exists"):
            async with self._sessions() as s, s.begin():
                if await s.get(DeviceProfileRow, profile.id) is not None:
                    raise AlreadyExists(f"device profile {profile.id} exists")
                if await s.get(TenantRow, profile.tenant_id) is None:
                    raise ConstraintViolation(f"tenant {profile.tenant_id} does not exist")
                row = DeviceProfileRow(id=profile.id, tenant_id=profile.tenant_id)
                _write(row, profile)
                row.created_at = self._now()
                s.add(row)
        return _profile(row)

    async def get(
        self, profile_id: uuid.UUID, *, tenant_id: uuid.UUID | None
    ) -> DeviceProfile | None:
        row = await self._get_row(DeviceProfileRow, profile_id)
        if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
            return None
        return _profile(row)

    async def list(
        self, *, tenant_id: uuid.UUID | None, limit: int = 100, offset: int = 0
    ) -> Page[DeviceProfile]:
        stmt = select(DeviceProfileRow).order_by(DeviceProfileRow.created_at, DeviceProfileRow.id)
        if tenant_id is not None:
            stmt = stmt.where(DeviceProfileRow.tenant_id == tenant_id)
        async with self._sessions() as s:
            return await fetch_page(s, stmt, _profile, limit=limit, offset=offset)

    async def update(self, profile: DeviceProfile, *, tenant_id: uuid.UUID | None) -> DeviceProfile:
        async with self._sessions() as s, s.begin():
            row = await s.get(DeviceProfileRow, profile.id)
            if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
                raise NotFound(f"device profile {profile.id}")
            _write(row, profile)
        return _profile(row)

    async def delete(self, profile_id: uuid.UUID, *, tenant_id: uuid.UUID | None) -> None:
        """Delete the profile; refused (ConstraintViolation) while devices use it."""
        async with self._sessions() as s:
            try:
                async with s.begin():
                    row = await s.get(DeviceProfileRow, profile_id)
                    if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
                        raise NotFound(f"device profile {profile_id}")
                    await s.delete(row)
            except IntegrityError as exc:
                raise ConstraintViolation(
                    f"device profile {profile_id} is used by devices"
                ) from exc
