"""DRCC / ADR: per-device policy state and the log of link-adaptation decisions."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from services.lorawan.types import EUI64

from ..domain import DrccDecision, DrccState, Page
from ..errors import AlreadyExists, NotFound, StaleVersion
from ..models import DeviceRow, DrccDecisionRow, DrccStateRow
from ._base import Repo, eui_of, eui_str, fetch_page, integrity_as, scope_to_device_tenant


def _state(row: DrccStateRow) -> DrccState:
    return DrccState(
        dev_eui=eui_of(row.dev_eui),
        policy=row.policy,
        state=dict(row.state),
        updated_at=row.updated_at,
    )


def _decision(row: DrccDecisionRow) -> DrccDecision:
    return DrccDecision(
        id=row.id,
        dev_eui=eui_of(row.dev_eui),
        policy=row.policy,
        dr=row.dr,
        tx_power_index=row.tx_power_index,
        ch_mask=list(row.ch_mask),
        nb_trans=row.nb_trans,
        reason=row.reason,
        details=dict(row.details),
        created_at=row.created_at,
    )


class DrccRepo(Repo):
    async def get_state(self, dev_eui: EUI64) -> DrccState | None:
        async with self._sessions() as s:
            row = await s.get(DrccStateRow, eui_str(dev_eui))
            return None if row is None else _state(row)

    async def save_state(self, state: DrccState) -> DrccState:
        """Insert or replace the device's state (last writer wins)."""
        key = eui_str(state.dev_eui)
        for _attempt in range(3):
            try:
                async with self._sessions() as s, s.begin():
                    if await s.get(DeviceRow, key) is None:
                        raise NotFound(f"device {state.dev_eui}")
                    row = await s.get(DrccStateRow, key)
                    if row is None:
                        row = DrccStateRow(dev_eui=key)
                        s.add(row)
                    row.policy = state.policy
                    row.state = dict(state.state)
                    row.updated_at = self._now()
                return _state(row)
            except IntegrityError:
                continue  # inserted concurrently: update it on the next attempt
        raise StaleVersion(f"DRCC state of {state.dev_eui}: concurrent writes did not settle")

    async def record_decision(self, decision: DrccDecision) -> DrccDecision:
        key = eui_str(decision.dev_eui)
        with integrity_as(AlreadyExists, f"decision {decision.id} exists"):
            async with self._sessions() as s, s.begin():
                if await s.get(DeviceRow, key) is None:
                    raise NotFound(f"device {decision.dev_eui}")
                row = DrccDecisionRow(
                    id=decision.id,
                    dev_eui=key,
                    policy=decision.policy,
                    dr=decision.dr,
                    tx_power_index=decision.tx_power_index,
                    ch_mask=list(decision.ch_mask),
                    nb_trans=decision.nb_trans,
                    reason=decision.reason,
                    details=dict(decision.details),
                    created_at=decision.created_at or self._now(),
                )
                s.add(row)
        return _decision(row)

    async def list_decisions(
        self,
        dev_eui: EUI64,
        *,
        tenant_id: uuid.UUID | None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[DrccDecision]:
        """Newest first."""
        stmt = select(DrccDecisionRow).where(DrccDecisionRow.dev_eui == eui_str(dev_eui))
        stmt = scope_to_device_tenant(stmt, DrccDecisionRow.dev_eui, tenant_id)
        stmt = stmt.order_by(DrccDecisionRow.created_at.desc(), DrccDecisionRow.id)
        async with self._sessions() as s:
            return await fetch_page(s, stmt, _decision, limit=limit, offset=offset)
