"""The log of deduplicated uplinks (idempotent: one record per device, session and FCnt)."""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from services.lorawan.types import EUI64

from ..domain import Page, UplinkRecord
from ..errors import NotFound
from ..models import DeviceRow, UplinkRow
from ._base import (
    Repo,
    dev_addr_of,
    dev_addr_str,
    eui_of,
    eui_str,
    fetch_page,
    scope_to_device_tenant,
)


def _record(row: UplinkRow) -> UplinkRecord:
    return UplinkRecord(
        id=row.id,
        dev_eui=eui_of(row.dev_eui),
        dev_addr=dev_addr_of(row.dev_addr),
        session_id=row.session_id,
        f_cnt=row.f_cnt,
        f_port=row.f_port,
        payload=bytes(row.payload),
        payload_sha256=bytes(row.payload_sha256),
        dr=row.dr,
        freq=row.freq,
        confirmed=row.confirmed,
        rx_metadata=list(row.rx_metadata),
        received_at=row.received_at,
    )


class UplinkLogRepo(Repo):
    async def insert(self, record: UplinkRecord) -> bool:
        """Insert once; False (and nothing written) if the frame is already recorded.

        A frame is the same when (dev_eui, session_id, f_cnt) or the dedup id match, so a
        redelivered message never doubles a record.
        """
        key = eui_str(record.dev_eui)
        digest = record.payload_sha256 or hashlib.sha256(record.payload).digest()
        async with self._sessions() as s:
            try:
                async with s.begin():
                    s.add(
                        UplinkRow(
                            id=record.id,
                            dev_eui=key,
                            dev_addr=dev_addr_str(record.dev_addr),
                            session_id=record.session_id,
                            f_cnt=record.f_cnt,
                            f_port=record.f_port,
                            payload=bytes(record.payload),
                            payload_sha256=digest,
                            dr=record.dr,
                            freq=record.freq,
                            confirmed=record.confirmed,
                            rx_metadata=list(record.rx_metadata),
                            received_at=record.received_at or self._now(),
                        )
                    )
                return True
            except IntegrityError:
                pass
            if await s.get(DeviceRow, key) is None:
                raise NotFound(f"device {record.dev_eui}")
            return False

    async def get(
        self, dev_eui: EUI64, f_cnt: int, *, tenant_id: uuid.UUID | None
    ) -> UplinkRecord | None:
        """The record of that FCnt (from the most recent session having one)."""
        stmt = (
            select(UplinkRow)
            .where(UplinkRow.dev_eui == eui_str(dev_eui), UplinkRow.f_cnt == f_cnt)
            .order_by(UplinkRow.received_at.desc())
            .limit(1)
        )
        stmt = scope_to_device_tenant(stmt, UplinkRow.dev_eui, tenant_id)
        async with self._sessions() as s:
            row = await s.scalar(stmt)
            return None if row is None else _record(row)

    async def get_by_id(
        self, record_id: uuid.UUID, *, tenant_id: uuid.UUID | None
    ) -> UplinkRecord | None:
        stmt = scope_to_device_tenant(
            select(UplinkRow).where(UplinkRow.id == record_id), UplinkRow.dev_eui, tenant_id
        )
        async with self._sessions() as s:
            row = await s.scalar(stmt)
            return None if row is None else _record(row)

    async def list_recent(
        self,
        dev_eui: EUI64,
        *,
        tenant_id: uuid.UUID | None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[UplinkRecord]:
        """Newest first."""
        stmt = select(UplinkRow).where(UplinkRow.dev_eui == eui_str(dev_eui))
        stmt = scope_to_device_tenant(stmt, UplinkRow.dev_eui, tenant_id)
        stmt = stmt.order_by(UplinkRow.received_at.desc(), UplinkRow.f_cnt.desc())
        async with self._sessions() as s:
            return await fetch_page(s, stmt, _record, limit=limit, offset=offset)
