"""Application sessions: the AppSKey of each device's current session, and the downlink
counter reservations of the application handler (the only holder of AppSKeys).

One row per device (the current session; a new join or ABP activation replaces it). The
AppSKey is encrypted at rest like every key (AES-GCM under the storage KEK, bound to
``app_sessions.app_s_key:<dev_eui>/<session_id>``).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, Update, bindparam, case, delete, select, update

from services.lorawan.errors import InvalidParameter
from services.lorawan.types import EUI64, AES128Key, DevAddr

from ..batch_conn import BatchConn
from ..errors import NotFound, StaleVersion
from ..models import AppSessionRow, DeviceRow
from ._base import KeyRepo, dev_addr_of, dev_addr_str, eui_of, eui_str, integrity_as

TABLE = "app_sessions"
MAX_F_CNT = 0xFFFFFFFF


@dataclass(slots=True, kw_only=True)
class AppSession:
    """The application side of a device session (held by the application handler only).

    ``n_f_cnt_down`` / ``a_f_cnt_down`` are the network server's next downlink counters as
    last reported (None: not reported yet); ``last_a_f_cnt_down_reserved`` is the last counter
    the application handler encrypted a downlink for (None: none yet).
    """

    dev_eui: EUI64
    session_id: uuid.UUID
    dev_addr: DevAddr
    mac_version: str
    app_s_key: AES128Key
    join_eui: EUI64 | None = None
    last_a_f_cnt_down_reserved: int | None = None
    n_f_cnt_down: int | None = None
    a_f_cnt_down: int | None = None
    created_at: datetime | None = None


def _row_id(dev_eui: str, session_id: uuid.UUID) -> str:
    return f"{dev_eui}/{session_id}"


def _check_counter(value: int | None, what: str) -> None:
    if value is not None and not 0 <= value <= MAX_F_CNT:
        raise InvalidParameter(f"{what} out of range: {value}")


class AppSessionRepo(KeyRepo):
    def _session(self, row: AppSessionRow) -> AppSession:
        key = self._cipher.decrypt(
            row.app_s_key,
            table=TABLE,
            column="app_s_key",
            row_id=_row_id(row.dev_eui, row.session_id),
        )
        return AppSession(
            dev_eui=eui_of(row.dev_eui),
            session_id=row.session_id,
            dev_addr=dev_addr_of(row.dev_addr),
            join_eui=None if row.join_eui is None else eui_of(row.join_eui),
            mac_version=row.mac_version,
            app_s_key=AES128Key(key),
            last_a_f_cnt_down_reserved=row.last_a_f_cnt_down_reserved,
            n_f_cnt_down=row.n_f_cnt_down,
            a_f_cnt_down=row.a_f_cnt_down,
            created_at=row.created_at,
        )

    async def create(self, session: AppSession) -> AppSession:
        """Store the device's new session, replacing the previous one.

        Idempotent: if the stored session already has this ``session_id`` (a redelivered key
        delivery), it is returned unchanged, counters and reservations included.
        """
        key = eui_str(session.dev_eui)
        for name in ("last_a_f_cnt_down_reserved", "n_f_cnt_down", "a_f_cnt_down"):
            _check_counter(getattr(session, name), name)
        with integrity_as(StaleVersion, f"app session of {session.dev_eui}: created concurrently"):
            async with self._sessions() as s, s.begin():
                if await s.get(DeviceRow, key) is None:
                    raise NotFound(f"device {session.dev_eui}")
                current = await s.get(AppSessionRow, key)
                if current is not None and current.session_id == session.session_id:
                    return self._session(current)
                await s.execute(delete(AppSessionRow).where(AppSessionRow.dev_eui == key))
                row = AppSessionRow(
                    dev_eui=key,
                    session_id=session.session_id,
                    dev_addr=dev_addr_str(session.dev_addr),
                    join_eui=None if session.join_eui is None else eui_str(session.join_eui),
                    mac_version=session.mac_version,
                    app_s_key=self._cipher.encrypt(
                        session.app_s_key.value,
                        table=TABLE,
                        column="app_s_key",
                        row_id=_row_id(key, session.session_id),
                    ),
                    last_a_f_cnt_down_reserved=session.last_a_f_cnt_down_reserved,
                    n_f_cnt_down=session.n_f_cnt_down,
                    a_f_cnt_down=session.a_f_cnt_down,
                    created_at=self._now(),
                )
                s.add(row)
        return self._session(row)

    async def get(self, dev_eui: EUI64) -> AppSession | None:
        row = await self._get_row(AppSessionRow, eui_str(dev_eui))
        return None if row is None else self._session(row)

    async def record_ns_counters(
        self,
        dev_eui: EUI64,
        session_id: uuid.UUID,
        *,
        n_f_cnt_down: int | None = None,
        a_f_cnt_down: int | None = None,
    ) -> bool:
        """Remember the NS's next downlink counters (each only moves forward; None: keep).

        False when ``session_id`` is not the device's current session (nothing written).
        """
        _check_counter(n_f_cnt_down, "n_f_cnt_down")
        _check_counter(a_f_cnt_down, "a_f_cnt_down")
        values = {}
        for name, new in (("n_f_cnt_down", n_f_cnt_down), ("a_f_cnt_down", a_f_cnt_down)):
            if new is not None:
                col = getattr(AppSessionRow, name)
                values[name] = case((col.is_(None), new), (col < new, new), else_=col)
        stmt = (
            select(AppSessionRow.dev_eui) if not values else update(AppSessionRow).values(**values)
        )
        stmt = stmt.where(AppSessionRow.dev_eui == eui_str(dev_eui)).where(
            AppSessionRow.session_id == session_id
        )
        async with self._sessions() as s, s.begin():
            if not values:
                return (await s.scalar(stmt)) is not None
            result = await s.execute(stmt.execution_options(synchronize_session=False))
            return int(result.rowcount) == 1  # type: ignore[attr-defined]

    async def record_ns_counters_many(
        self, reports: Sequence[NsCounterReport]
    ) -> list[Exception | None]:
        """Group commit of ``record_ns_counters``: every report in one transaction (each
        counter only moves forward; a report of a replaced session writes nothing). A report
        with a counter out of range gets its InvalidParameter and is left out."""
        out: list[Exception | None] = []
        rows = []
        for r in reports:
            try:
                _check_counter(r.n_f_cnt_down, "n_f_cnt_down")
                _check_counter(r.a_f_cnt_down, "a_f_cnt_down")
            except InvalidParameter as exc:
                out.append(exc)
                continue
            out.append(None)
            rows.append(
                {
                    "k_dev_eui": eui_str(r.dev_eui),
                    "k_session_id": r.session_id,
                    "v_n": r.n_f_cnt_down,
                    "v_a": r.a_f_cnt_down,
                }
            )

        def run(conn: BatchConn) -> None:
            conn.execute(_counters_statement(), rows)  # no per-row outcome needed

        if rows:
            await self._in_batch(run)
        return out

    async def reserve_f_cnt_down(
        self,
        dev_eui: EUI64,
        session_id: uuid.UUID,
        *,
        expected_last: int | None,
        f_cnt_down: int,
    ) -> bool:
        """Compare-and-set the last reserved downlink counter.

        Sets it to ``f_cnt_down`` only if it still equals ``expected_last`` (None: nothing
        reserved yet) in session ``session_id``; False otherwise (re-read and retry).
        """
        _check_counter(f_cnt_down, "f_cnt_down")
        col = AppSessionRow.last_a_f_cnt_down_reserved
        stmt = (
            update(AppSessionRow)
            .where(AppSessionRow.dev_eui == eui_str(dev_eui))
            .where(AppSessionRow.session_id == session_id)
            .where(col.is_(None) if expected_last is None else col == expected_last)
            .values(last_a_f_cnt_down_reserved=f_cnt_down)
            .execution_options(synchronize_session=False)
        )
        async with self._sessions() as s, s.begin():
            result = await s.execute(stmt)
            return int(result.rowcount) == 1  # type: ignore[attr-defined]

    async def delete(self, dev_eui: EUI64) -> None:
        async with self._sessions() as s, s.begin():
            result = await s.execute(
                delete(AppSessionRow).where(AppSessionRow.dev_eui == eui_str(dev_eui))
            )
            if int(result.rowcount) == 0:  # type: ignore[attr-defined]
                raise NotFound(f"app session of device {dev_eui}")


@dataclass(frozen=True, slots=True)
class NsCounterReport:
    """The network server's next downlink counters for a session (None: not reported)."""

    dev_eui: EUI64
    session_id: uuid.UUID
    n_f_cnt_down: int | None = None
    a_f_cnt_down: int | None = None


_T = cast(Table, AppSessionRow.__table__)


def _forward(column: str, param: str) -> Any:
    col, new = _T.c[column], bindparam(param, type_=_T.c[column].type)
    return case((new.is_(None), col), (col.is_(None), new), (col < new, new), else_=col)


@functools.cache
def _counters_statement() -> Update:
    """UPDATE app_sessions: both counters forward, for the same session only (built once)."""
    return (
        update(_T)
        .where(
            _T.c.dev_eui == bindparam("k_dev_eui"),
            _T.c.session_id == bindparam("k_session_id", type_=_T.c.session_id.type),
        )
        .values(
            n_f_cnt_down=_forward("n_f_cnt_down", "v_n"),
            a_f_cnt_down=_forward("a_f_cnt_down", "v_a"),
        )
    )
