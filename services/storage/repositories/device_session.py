"""Device sessions: lookup by DevAddr, optimistic locking, atomic uplink counter."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Table, bindparam, case, delete, select, update

from services.lorawan.errors import FrameCounterReplay, InvalidParameter
from services.lorawan.types import EUI64, AES128Key, DevAddr

from ..domain import DeviceSession
from ..errors import NotFound, StaleVersion
from ..models import DeviceRow, DeviceSessionRow
from . import session_batch
from ._base import KeyRepo, dev_addr_of, dev_addr_str, eui_of, eui_str, integrity_as
from .session_batch import SessionWrite, WriteResult

TABLE = "device_sessions"
KEY_COLUMNS = ("f_nwk_s_int_key", "s_nwk_s_int_key", "nwk_s_enc_key", "app_s_key")
MAX_F_CNT = 0xFFFFFFFF
_SESSIONS: Table = DeviceSessionRow.__table__  # type: ignore[assignment]
_BY_DEV_ADDR = (
    select(_SESSIONS)
    .where(_SESSIONS.c.dev_addr == bindparam("dev_addr"))
    .order_by(_SESSIONS.c.dev_eui)
)
# Plain columns written by create() and save() (keys, counters with rules, version apart).
_PLAIN = (
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
    "mac_command_state",
)


ChangeListener = Callable[[EUI64], None]


class DeviceSessionRepo(KeyRepo):
    """Sessions; ``on_change`` listeners (in-process caches) hear of every session created,
    saved, advanced or deleted through ``create``/``save``/``advance_f_cnt_up``/``delete``
    (not ``save_many``, whose caller knows what it wrote)."""

    _listeners: list[ChangeListener] | None = None

    def on_change(self, listener: ChangeListener) -> None:
        if self._listeners is None:
            self._listeners = []
        self._listeners.append(listener)

    def _changed(self, dev_eui: EUI64) -> None:
        for listener in self._listeners or ():
            listener(dev_eui)

    def _columns(self, session: DeviceSession) -> dict[str, Any]:
        key = eui_str(session.dev_eui)
        values: dict[str, Any] = {f: getattr(session, f) for f in _PLAIN}
        values["dev_addr"] = dev_addr_str(session.dev_addr)
        values["enabled_channels"] = list(session.enabled_channels)
        values["pending_mac_commands"] = list(session.pending_mac_commands)
        values["mac_command_state"] = dict(session.mac_command_state)
        for column in KEY_COLUMNS:
            k: AES128Key | None = getattr(session, column)
            values[column] = (
                None
                if k is None
                else self._cipher.encrypt(k.value, table=TABLE, column=column, row_id=key)
            )
        return values

    def _session(self, row: DeviceSessionRow) -> DeviceSession:
        keys: dict[str, AES128Key | None] = {}
        for column in KEY_COLUMNS:
            blob = getattr(row, column)
            keys[column] = (
                None
                if blob is None
                else AES128Key(
                    self._cipher.decrypt(blob, table=TABLE, column=column, row_id=row.dev_eui)
                )
            )
        f_nwk, s_nwk, enc = keys["f_nwk_s_int_key"], keys["s_nwk_s_int_key"], keys["nwk_s_enc_key"]
        assert f_nwk is not None and s_nwk is not None and enc is not None
        return DeviceSession(
            dev_eui=eui_of(row.dev_eui),
            dev_addr=dev_addr_of(row.dev_addr),
            session_id=row.session_id,
            f_nwk_s_int_key=f_nwk,
            s_nwk_s_int_key=s_nwk,
            nwk_s_enc_key=enc,
            app_s_key=keys["app_s_key"],
            f_cnt_up=row.f_cnt_up,
            enabled_channels=list(row.enabled_channels),
            pending_mac_commands=list(row.pending_mac_commands),
            created_at=row.created_at,
            updated_at=row.updated_at,
            version=row.version,
            **{f: getattr(row, f) for f in _PLAIN if f != "mac_command_state"},
            mac_command_state=dict(row.mac_command_state),
        )

    async def create(self, session: DeviceSession) -> DeviceSession:
        """Store a new session (a join or an ABP activation), replacing any previous one."""
        key = eui_str(session.dev_eui)
        now = self._now()
        with integrity_as(
            StaleVersion, f"session of device {session.dev_eui}: created concurrently"
        ):
            async with self._sessions() as s, s.begin():
                if await s.get(DeviceRow, key) is None:
                    raise NotFound(f"device {session.dev_eui}")
                await s.execute(delete(DeviceSessionRow).where(DeviceSessionRow.dev_eui == key))
                row = DeviceSessionRow(
                    dev_eui=key,
                    session_id=session.session_id,
                    f_cnt_up=session.f_cnt_up,
                    created_at=now,
                    updated_at=now,
                    version=1,
                    **self._columns(session),
                )
                s.add(row)
        self._changed(session.dev_eui)
        return self._session(row)

    async def get_by_dev_eui(self, dev_eui: EUI64) -> DeviceSession | None:
        row = await self._get_row(DeviceSessionRow, eui_str(dev_eui))
        return None if row is None else self._session(row)

    async def candidates_by_dev_addr(self, dev_addr: DevAddr) -> list[DeviceSession]:
        """Every session using this DevAddr (several devices may share one)."""
        rows = await self._all_rows(_BY_DEV_ADDR, {"dev_addr": dev_addr_str(dev_addr)})
        return [self._session(r) for r in rows]

    async def save(self, session: DeviceSession) -> DeviceSession:
        """Write if the stored row is the same session at the same version; else StaleVersion.

        Returns the stored copy (version + 1). ``f_cnt_up`` never moves backwards: a value
        lower than the stored one (advanced meanwhile) is ignored.
        """
        key = eui_str(session.dev_eui)
        values = self._columns(session)
        if session.f_cnt_up is not None:
            new = session.f_cnt_up
            stored = DeviceSessionRow.f_cnt_up
            values["f_cnt_up"] = case((stored.is_(None), new), (stored < new, new), else_=stored)
        values["version"] = DeviceSessionRow.version + 1
        values["updated_at"] = self._now()
        async with self._sessions() as s, s.begin():
            result = await s.execute(
                update(DeviceSessionRow)
                .where(DeviceSessionRow.dev_eui == key)
                .where(DeviceSessionRow.session_id == session.session_id)
                .where(DeviceSessionRow.version == session.version)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if int(result.rowcount) == 0:  # type: ignore[attr-defined]
                current = await s.get(DeviceSessionRow, key)
                if current is None:
                    raise NotFound(f"session of device {session.dev_eui}")
                raise StaleVersion(
                    f"session of device {session.dev_eui}: stored version {current.version} "
                    f"(session {current.session_id}), given {session.version} "
                    f"(session {session.session_id})"
                )
            row = await s.scalar(
                select(DeviceSessionRow)
                .where(DeviceSessionRow.dev_eui == key)
                .execution_options(populate_existing=True)
            )
            assert row is not None
            saved = self._session(row)
        self._changed(session.dev_eui)
        return saved

    async def advance_f_cnt_up(
        self, dev_eui: EUI64, f_cnt: int, *, session_id: UUID | None = None
    ) -> None:
        """Atomically set f_cnt_up to ``f_cnt`` if greater, else raise ``FrameCounterReplay``.

        With ``session_id``, also refuse (FrameCounterReplay) if the session was replaced.
        Does not change ``version``.
        """
        if not 0 <= f_cnt <= MAX_F_CNT:
            raise InvalidParameter(f"FCnt out of range: {f_cnt}")
        key = eui_str(dev_eui)
        stmt = (
            update(DeviceSessionRow)
            .where(DeviceSessionRow.dev_eui == key)
            .where((DeviceSessionRow.f_cnt_up.is_(None)) | (DeviceSessionRow.f_cnt_up < f_cnt))
            .values(f_cnt_up=f_cnt)
            .execution_options(synchronize_session=False)
        )
        if session_id is not None:
            stmt = stmt.where(DeviceSessionRow.session_id == session_id)
        async with self._sessions() as s, s.begin():
            result = await s.execute(stmt)
            advanced = int(result.rowcount) == 1  # type: ignore[attr-defined]
            current = None if advanced else await s.get(DeviceSessionRow, key)
        if advanced:
            self._changed(dev_eui)
            return
        if current is None:
            raise NotFound(f"session of device {dev_eui}")
        if session_id is not None and current.session_id != session_id:
            raise FrameCounterReplay(f"DevEUI {dev_eui}: session {session_id} was replaced")
        raise FrameCounterReplay(
            f"DevEUI {dev_eui}: FCnt {f_cnt} not greater than last {current.f_cnt_up}"
        )

    async def save_many(self, writes: Sequence[SessionWrite]) -> list[WriteResult]:
        """Every write in one transaction (group commit); one result per write, in order:
        the new version, or the write's own error (StaleVersion, FrameCounterReplay,
        NotFound). Keys are not written (see services.storage.repositories.session_batch).
        """
        if not writes:
            return []
        session_batch.check(writes)
        now = self._now()
        try:
            return await self._in_batch(session_batch.write_all(writes, now))
        except session_batch.RowByRow:  # rolled back: each write's own outcome, row by row
            return await self._in_batch(session_batch.write_each(writes, now))

    async def delete(self, dev_eui: EUI64) -> None:
        async with self._sessions() as s, s.begin():
            result = await s.execute(
                delete(DeviceSessionRow).where(DeviceSessionRow.dev_eui == eui_str(dev_eui))
            )
            if int(result.rowcount) == 0:  # type: ignore[attr-defined]
                raise NotFound(f"session of device {dev_eui}")
        self._changed(dev_eui)
