"""The ledger writer's durable outbox (one SQLite file in the data dir).

A record is inserted (and the SQLite transaction committed) before the writer acknowledges it
on the bus (the writer's completion of the record finishes only then); the records the writer
receives within its intake window are inserted in one transaction (``add_many``: one statement
per record that also drops a known idempotency key, one commit). A record is deleted once its
transaction is
committed on the ledger, and its idempotency key moves to ``committed`` (kept for the last
``committed_keep`` records) so a redelivered record is dropped without a ledger round trip.
A record the chaincode refuses for good (invalid input, access denied, idempotency conflict)
moves to ``failed`` with the error. WAL with ``synchronous=NORMAL`` survives a process crash;
``FULL`` also survives power loss (slower).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    ledger_channel TEXT NOT NULL, zone TEXT NOT NULL, origin_zone TEXT NOT NULL,
    channel TEXT NOT NULL, record_key TEXT NOT NULL,
    contract_fn TEXT NOT NULL, args TEXT NOT NULL,
    enqueued_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS committed (
    idempotency_key TEXT PRIMARY KEY, ledger_channel TEXT NOT NULL, tx_id TEXT NOT NULL,
    block_number INTEGER NOT NULL, committed_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS failed (
    idempotency_key TEXT PRIMARY KEY, ledger_channel TEXT NOT NULL, zone TEXT NOT NULL,
    contract_fn TEXT NOT NULL, args TEXT NOT NULL, error TEXT NOT NULL, failed_at REAL NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    id: int
    idempotency_key: str
    ledger_channel: str
    zone: str  # zone whose ledger stores it (after routing)
    origin_zone: str
    channel: str  # record channel kind: device | network | application
    record_key: str
    contract_fn: str
    args: tuple[str, ...]
    enqueued_at: float  # wall clock seconds
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class NewRecord:
    """A record to add (``OutboxEntry`` without the id and the attempts)."""

    idempotency_key: str
    ledger_channel: str
    zone: str
    origin_zone: str
    channel: str
    record_key: str
    contract_fn: str
    args: tuple[str, ...]
    enqueued_at: float


# one statement per record: insert unless its idempotency key is pending (the UNIQUE
# constraint), committed or failed; RETURNING gives the new id (no row: a known key)
_INSERT = (
    "INSERT INTO outbox (idempotency_key, ledger_channel, zone, origin_zone, channel, "
    "record_key, contract_fn, args, enqueued_at) "
    "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 "
    "WHERE NOT EXISTS (SELECT 1 FROM committed WHERE idempotency_key = ?1) "
    "AND NOT EXISTS (SELECT 1 FROM failed WHERE idempotency_key = ?1) "
    "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
)

_COLUMNS = (
    "id, idempotency_key, ledger_channel, zone, origin_zone, channel, record_key, contract_fn, "
    "args, enqueued_at, attempts"
)


def _entry(row: Sequence[object]) -> OutboxEntry:
    return OutboxEntry(
        id=int(row[0]),  # type: ignore[call-overload]
        idempotency_key=str(row[1]),
        ledger_channel=str(row[2]),
        zone=str(row[3]),
        origin_zone=str(row[4]),
        channel=str(row[5]),
        record_key=str(row[6]),
        contract_fn=str(row[7]),
        args=tuple(json.loads(str(row[8]))),
        enqueued_at=float(row[9]),  # type: ignore[arg-type]
        attempts=int(row[10]),  # type: ignore[call-overload]
    )


class Outbox:
    def __init__(
        self, path: str | Path, *, synchronous: str = "NORMAL", committed_keep: int = 200_000
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.executescript(SCHEMA)
        self._committed_keep = committed_keep
        self._since_prune = 0

    def close(self) -> None:
        self._db.close()

    def known(self, idempotency_key: str) -> str | None:
        """ "pending", "committed", "failed" or None (one query over the three tables)."""
        row = self._db.execute(
            "SELECT 'pending' FROM outbox WHERE idempotency_key = ?1 "
            "UNION ALL SELECT 'committed' FROM committed WHERE idempotency_key = ?1 "
            "UNION ALL SELECT 'failed' FROM failed WHERE idempotency_key = ?1 LIMIT 1",
            (idempotency_key,),
        ).fetchone()
        return None if row is None else str(row[0])

    def add(
        self,
        *,
        idempotency_key: str,
        ledger_channel: str,
        zone: str,
        origin_zone: str,
        channel: str,
        record_key: str,
        contract_fn: str,
        args: Sequence[str],
        enqueued_at: float,
    ) -> OutboxEntry | None:
        """Persist one record; None when its idempotency key is already known (redelivery)."""
        record = NewRecord(
            idempotency_key,
            ledger_channel,
            zone,
            origin_zone,
            channel,
            record_key,
            contract_fn,
            tuple(args),
            enqueued_at,
        )
        return self.add_many([record])[0]

    def add_many(self, records: Sequence[NewRecord]) -> list[OutboxEntry | None]:
        """Persist records in one transaction, in order; per record its entry, or None when
        its idempotency key is already known (pending, committed, failed, or earlier in
        ``records``). Nothing is added when it raises."""
        if not records:
            return []
        out: list[OutboxEntry | None] = []
        db = self._db
        dumps = orjson.dumps
        db.execute("BEGIN IMMEDIATE")
        try:
            for r in records:
                row = db.execute(
                    _INSERT,
                    (
                        r.idempotency_key,
                        r.ledger_channel,
                        r.zone,
                        r.origin_zone,
                        r.channel,
                        r.record_key,
                        r.contract_fn,
                        dumps(r.args).decode(),
                        r.enqueued_at,
                    ),
                ).fetchone()
                out.append(
                    None
                    if row is None
                    else OutboxEntry(
                        int(row[0]),
                        r.idempotency_key,
                        r.ledger_channel,
                        r.zone,
                        r.origin_zone,
                        r.channel,
                        r.record_key,
                        r.contract_fn,
                        r.args,
                        r.enqueued_at,
                    )
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return out

    def pending(self) -> list[OutboxEntry]:
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM outbox ORDER BY id").fetchall()
        return [_entry(r) for r in rows]

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def committed(
        self, entries: Sequence[tuple[OutboxEntry, str, int]], committed_at: float
    ) -> None:
        """Move entries (with their tx_id and block number) from the outbox to committed."""
        if not entries:
            return
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("DELETE FROM outbox WHERE id = ?", [(e.id,) for e, _, _ in entries])
            db.executemany(
                "INSERT OR REPLACE INTO committed VALUES (?, ?, ?, ?, ?)",
                [
                    (e.idempotency_key, e.ledger_channel, tx, block, committed_at)
                    for e, tx, block in entries
                ],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._since_prune += len(entries)
        if self._since_prune >= 1000:
            self._prune()

    def _prune(self) -> None:
        self._since_prune = 0
        self._db.execute(
            "DELETE FROM committed WHERE rowid <= (SELECT MAX(rowid) FROM committed) - ?",
            (self._committed_keep,),
        )

    def failed(self, entry: OutboxEntry, error: str, failed_at: float) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM outbox WHERE id = ?", (entry.id,))
            db.execute(
                "INSERT OR REPLACE INTO failed VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.idempotency_key,
                    entry.ledger_channel,
                    entry.zone,
                    entry.contract_fn,
                    json.dumps(list(entry.args)),
                    error,
                    failed_at,
                ),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def bump_attempts(self, ids: Sequence[int]) -> None:
        self._db.executemany(
            "UPDATE outbox SET attempts = attempts + 1 WHERE id = ?", [(i,) for i in ids]
        )

    def failures(self) -> list[tuple[str, str, str]]:
        """(idempotency_key, ledger_channel, error) of records refused for good."""
        rows = self._db.execute(
            "SELECT idempotency_key, ledger_channel, error FROM failed ORDER BY failed_at"
        ).fetchall()
        return [(str(a), str(b), str(c)) for a, b, c in rows]
