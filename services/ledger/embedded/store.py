"""One SQLite file per channel: block log, transactions, world state and key history.

``commit_block`` validates the transactions of a block in order against the state as
updated by the valid transactions before them (MVCC: every read version and every range
read must still hold; a tx_id may appear once), applies the valid ones' writes, hashes the
block onto the chain and commits it all in one SQLite transaction (WAL), so a crash leaves
either the whole block or none of it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..base import DUPLICATE_TXID, MVCC_READ_CONFLICT, PHANTOM_READ_CONFLICT, VALID
from . import chain
from .stub import RangeRead, RWSet, Version

SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (
    number INTEGER PRIMARY KEY, previous_hash TEXT NOT NULL, data_hash TEXT NOT NULL,
    hash TEXT NOT NULL, timestamp_ns INTEGER NOT NULL, tx_count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS txs (
    block_number INTEGER NOT NULL, tx_num INTEGER NOT NULL, tx_id TEXT NOT NULL,
    body TEXT NOT NULL, validation_code TEXT NOT NULL, PRIMARY KEY (block_number, tx_num));
CREATE INDEX IF NOT EXISTS txs_tx_id ON txs (tx_id);
CREATE TABLE IF NOT EXISTS state (
    key TEXT PRIMARY KEY, value BLOB NOT NULL, block_number INTEGER NOT NULL,
    tx_num INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history (
    key TEXT NOT NULL, block_number INTEGER NOT NULL, tx_num INTEGER NOT NULL,
    tx_id TEXT NOT NULL, value BLOB, is_delete INTEGER NOT NULL, timestamp_ns INTEGER NOT NULL,
    PRIMARY KEY (key, block_number, tx_num)) WITHOUT ROWID;
"""

SUFFIX = ".ledger.sqlite"


@dataclass(frozen=True, slots=True)
class PendingTx:
    """An endorsed transaction waiting for a block."""

    tx_id: str
    body: dict[str, Any]  # canonical content (function, args, creator, timestamp, rwset, ...)
    rwset: RWSet
    timestamp_ns: int


def channel_path(data_dir: str | Path, channel: str) -> Path:
    return Path(data_dir) / "ledger" / f"{channel}{SUFFIX}"


def list_channels(data_dir: str | Path) -> list[str]:
    folder = Path(data_dir) / "ledger"
    if not folder.is_dir():
        return []
    return sorted(p.name[: -len(SUFFIX)] for p in folder.glob(f"*{SUFFIX}"))


class ChannelStore:
    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.executescript(SCHEMA)
        row = self._db.execute("SELECT number, hash FROM blocks ORDER BY number DESC LIMIT 1")
        last = row.fetchone()
        self._height = 0 if last is None else int(last[0]) + 1
        self._last_hash = chain.GENESIS_PREVIOUS_HASH if last is None else str(last[1])

    def close(self) -> None:
        self._db.close()

    @property
    def height(self) -> int:
        return self._height

    @property
    def last_hash(self) -> str:
        return self._last_hash

    # ------------------------------------------------------------------ StateReader
    def get(self, key: str) -> tuple[bytes, Version] | None:
        row = self._db.execute(
            "SELECT value, block_number, tx_num FROM state WHERE key = ?", (key,)
        ).fetchone()
        return None if row is None else (bytes(row[0]), (int(row[1]), int(row[2])))

    def range(self, start: str, end: str) -> Iterator[tuple[str, bytes, Version]]:
        if end:
            cur = self._db.execute(
                "SELECT key, value, block_number, tx_num FROM state "
                "WHERE key >= ? AND key < ? ORDER BY key",
                (start, end),
            )
        else:
            cur = self._db.execute(
                "SELECT key, value, block_number, tx_num FROM state WHERE key >= ? ORDER BY key",
                (start,),
            )
        for key, value, b, t in cur.fetchall():
            yield str(key), bytes(value), (int(b), int(t))

    def history(self, key: str) -> list[tuple[str, bytes, bool, int]]:
        rows = self._db.execute(
            "SELECT tx_id, value, is_delete, timestamp_ns FROM history WHERE key = ? "
            "ORDER BY block_number DESC, tx_num DESC",
            (key,),
        ).fetchall()
        return [(str(t), bytes(v or b""), bool(d), int(ts)) for t, v, d, ts in rows]

    def scan(self) -> Iterator[tuple[str, bytes]]:
        for key, value in self._db.execute("SELECT key, value FROM state ORDER BY key"):
            yield str(key), bytes(value)

    # ------------------------------------------------------------------ validation
    def _version(self, key: str) -> Version | None:
        row = self._db.execute(
            "SELECT block_number, tx_num FROM state WHERE key = ?", (key,)
        ).fetchone()
        return None if row is None else (int(row[0]), int(row[1]))

    def _range_holds(self, r: RangeRead) -> bool:
        now = [(k, v) for k, _, v in self.range(r.start, r.end)]
        return now == r.results if r.exhausted else now[: len(r.results)] == r.results

    def _tx_id_known(self, tx_id: str) -> bool:
        row = self._db.execute("SELECT 1 FROM txs WHERE tx_id = ? LIMIT 1", (tx_id,))
        return row.fetchone() is not None

    def _validate(self, tx: PendingTx, seen: set[str]) -> str:
        if tx.tx_id in seen or self._tx_id_known(tx.tx_id):
            return DUPLICATE_TXID
        for key, version in tx.rwset.reads.items():
            if self._version(key) != version:
                return MVCC_READ_CONFLICT
        for r in tx.rwset.range_reads:
            if not self._range_holds(r):
                return PHANTOM_READ_CONFLICT
        return VALID

    # ------------------------------------------------------------------ commit
    def commit_block(self, txs: Sequence[PendingTx], timestamp_ns: int) -> tuple[int, list[str]]:
        """Validate, apply and append one block; returns (block number, validation codes)."""
        number = self._height
        codes: list[str] = []
        hashes: list[str] = []
        rows: list[tuple[int, int, str, str, str]] = []
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            seen: set[str] = set()
            for n, tx in enumerate(txs):
                code = self._validate(tx, seen)
                seen.add(tx.tx_id)
                if code == VALID:
                    self._apply(tx, number, n)
                body = chain.canonical(tx.body)
                codes.append(code)
                hashes.append(chain.tx_hash(body, code))
                rows.append((number, n, tx.tx_id, body, code))
            header = chain.BlockHeader(
                number=number,
                previous_hash=self._last_hash,
                data_hash=chain.data_hash(hashes),
                timestamp_ns=timestamp_ns,
                tx_count=len(txs),
            )
            block_hash = header.hash()
            db.executemany("INSERT INTO txs VALUES (?, ?, ?, ?, ?)", rows)
            db.execute(
                "INSERT INTO blocks VALUES (?, ?, ?, ?, ?, ?)",
                (
                    number,
                    header.previous_hash,
                    header.data_hash,
                    block_hash,
                    timestamp_ns,
                    len(txs),
                ),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._height = number + 1
        self._last_hash = block_hash
        return number, codes

    def _apply(self, tx: PendingTx, number: int, n: int) -> None:
        for key, value in tx.rwset.writes.items():
            if value is None:
                self._db.execute("DELETE FROM state WHERE key = ?", (key,))
            else:
                self._db.execute(
                    "INSERT INTO state VALUES (?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
                    "value = excluded.value, block_number = excluded.block_number, "
                    "tx_num = excluded.tx_num",
                    (key, value, number, n),
                )
            self._db.execute(
                "INSERT INTO history VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, number, n, tx.tx_id, value, int(value is None), tx.timestamp_ns),
            )

    # ------------------------------------------------------------------ reading blocks
    def blocks(self, start: int = 0, end: int | None = None) -> Iterator[chain.StoredBlock]:
        end = self._height if end is None else end
        cur = self._db.execute(
            "SELECT number, previous_hash, data_hash, hash, timestamp_ns, tx_count FROM blocks "
            "WHERE number >= ? AND number < ? ORDER BY number",
            (start, end),
        )
        for number, prev, dh, h, ts, count in cur.fetchall():
            txs = self._db.execute(
                "SELECT body, validation_code FROM txs WHERE block_number = ? ORDER BY tx_num",
                (number,),
            ).fetchall()
            header = chain.BlockHeader(int(number), str(prev), str(dh), int(ts), int(count))
            yield chain.StoredBlock(header, str(h), [(str(b), str(c)) for b, c in txs])

    def verify(self) -> chain.ChainBreak | None:
        return chain.verify_blocks(self.blocks(0, 2**62))

    def tx_status(self, tx_id: str) -> tuple[int, str] | None:
        row = self._db.execute(
            "SELECT block_number, validation_code FROM txs WHERE tx_id = ? "
            "ORDER BY block_number LIMIT 1",
            (tx_id,),
        ).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Raw access for tools and tests (e.g. tampering checks)."""
        return self._db.execute(sql, params).fetchall()
