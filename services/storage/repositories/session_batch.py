"""Many device-session writes in one transaction (group commit of the uplink path).

Each :class:`SessionWrite` is the optimistic-lock save of one session (same session id, same
version) and, with ``advance``, the atomic frame-counter advance in the same statement: the
row is written only if its stored ``f_cnt_up`` is below the session's. The keys are not
written: a session's keys are fixed when it is created (a join or an activation makes a new
session), so the uplink path never re-encrypts them.

The common case runs as one ``executemany`` per statement shape; if any row did not match
(stale version, replaced session, replayed counter, deleted session) the transaction is
rolled back and the batch is replayed row by row to tell each caller its own outcome. Both
steps are plain functions of a :class:`~services.storage.batch_conn.BatchConn` (SQLAlchemy, or
the SQLite batch writer's own connection).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, Update, bindparam, case, select, update

from services.lorawan.errors import FrameCounterReplay, InvalidParameter

from ..batch_conn import BatchConn, BatchFn
from ..domain import DeviceSession
from ..errors import NotFound, StaleVersion
from ..models import DeviceSessionRow
from ._base import eui_str

MAX_F_CNT = 0xFFFFFFFF
T = cast(Table, DeviceSessionRow.__table__)

# Plain columns a batch write sets (keys, dev_addr, created_at apart: fixed per session).
_MUTABLE = (
    "mac_version",
    "n_f_cnt_down",
    "a_f_cnt_down",
    "conf_f_cnt",
    "rx1_delay",
    "rx1_dr_offset",
    "rx2_dr",
    "rx2_freq",
    "dr",
    "tx_power_index",
    "nb_trans",
    "adr",
)


@dataclass(frozen=True, slots=True)
class SessionWrite:
    """Save ``session`` if the stored row is the same session at ``session.version``.

    ``advance``: ``session.f_cnt_up`` is a newly accepted uplink counter, written only if
    greater than the stored one (else FrameCounterReplay). Without it, ``f_cnt_up`` never
    moves backwards (as in ``save``).
    """

    session: DeviceSession
    advance: bool = False


WriteResult = int | Exception  # the new version, or the error of that write


def _params(w: SessionWrite, now: datetime) -> dict[str, Any]:
    s = w.session
    p: dict[str, Any] = {f"v_{c}": getattr(s, c) for c in _MUTABLE}
    p["v_enabled_channels"] = list(s.enabled_channels)
    p["v_pending_mac_commands"] = list(s.pending_mac_commands)
    p["v_mac_command_state"] = dict(s.mac_command_state)
    p["v_updated_at"] = now
    p["v_f_cnt_up"] = s.f_cnt_up
    p["k_dev_eui"] = eui_str(s.dev_eui)
    p["k_session_id"] = s.session_id
    p["k_version"] = s.version
    return p


@functools.cache
def _statement(advance: bool, has_f_cnt: bool) -> Update:
    """The UPDATE of one statement shape (built once: SQLAlchemy caches its compilation)."""
    values: dict[str, Any] = {c: bindparam(f"v_{c}") for c in _MUTABLE}
    for c in ("enabled_channels", "pending_mac_commands", "mac_command_state", "updated_at"):
        values[c] = bindparam(f"v_{c}", type_=T.c[c].type)
    values["version"] = T.c.version + 1
    new = bindparam("v_f_cnt_up", type_=T.c.f_cnt_up.type)
    stmt = update(T).where(
        T.c.dev_eui == bindparam("k_dev_eui"),
        T.c.session_id == bindparam("k_session_id", type_=T.c.session_id.type),
        T.c.version == bindparam("k_version"),
    )
    if advance:
        stmt = stmt.where(T.c.f_cnt_up.is_(None) | (T.c.f_cnt_up < new))
        values["f_cnt_up"] = new
    elif has_f_cnt:
        stored = T.c.f_cnt_up
        values["f_cnt_up"] = case((stored.is_(None), new), (stored < new, new), else_=stored)
    return stmt.values(**values)


def _shape(w: SessionWrite) -> tuple[bool, bool]:
    return (w.advance, w.session.f_cnt_up is not None)


def check(writes: Sequence[SessionWrite]) -> None:
    for w in writes:
        f_cnt = w.session.f_cnt_up
        if w.advance and (f_cnt is None or not 0 <= f_cnt <= MAX_F_CNT):
            raise InvalidParameter(f"FCnt out of range: {f_cnt}")


@functools.cache
def _current() -> Select[Any]:
    return select(T.c.session_id, T.c.version, T.c.f_cnt_up).where(
        T.c.dev_eui == bindparam("k_dev_eui")
    )


class RowByRow(Exception):
    """A row of the batch did not match: roll back, replay row by row (:func:`write_each`)."""


def write_all(writes: Sequence[SessionWrite], now: datetime) -> BatchFn[list[WriteResult]]:
    """Every write as executemany per statement shape; RowByRow if some row did not match."""

    def run(conn: BatchConn) -> list[WriteResult]:
        if len({eui_str(w.session.dev_eui) for w in writes}) != len(writes):
            raise RowByRow  # two writes of one device: only row by row keeps their order
        if not conn.multi_rowcount and len(writes) > 1:
            raise RowByRow
        shapes: dict[tuple[bool, bool], list[dict[str, Any]]] = {}
        for w in writes:
            shapes.setdefault(_shape(w), []).append(_params(w, now))
        for (advance, has_f_cnt), params in shapes.items():
            if conn.execute(_statement(advance, has_f_cnt), params) != len(params):
                raise RowByRow
        return [w.session.version + 1 for w in writes]

    return run


def write_each(writes: Sequence[SessionWrite], now: datetime) -> BatchFn[list[WriteResult]]:
    """Row by row, with each write's own outcome."""

    def run(conn: BatchConn) -> list[WriteResult]:
        out: list[WriteResult] = []
        for w in writes:
            s = w.session
            if conn.execute(_statement(*_shape(w)), [_params(w, now)]) == 1:
                out.append(s.version + 1)
                continue
            row = conn.first(_current(), {"k_dev_eui": eui_str(s.dev_eui)})
            if row is None:
                out.append(NotFound(f"session of device {s.dev_eui}"))
            elif row[0] != s.session_id or row[1] != s.version:
                out.append(
                    StaleVersion(
                        f"session of device {s.dev_eui}: stored version {row[1]} "
                        f"(session {row[0]}), given {s.version} (session {s.session_id})"
                    )
                )
            else:
                out.append(
                    FrameCounterReplay(
                        f"DevEUI {s.dev_eui}: FCnt {s.f_cnt_up} not greater than last {row[2]}"
                    )
                )
        return out

    return run
