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
from dataclasses import dataclass, field
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


_CACHE_SIZE = 4096  # cached state keys per channel
_CHUNK = 500  # keys per "IN (...)" query (SQLite allows 999 parameters at least)


@dataclass(slots=True)
class _BlockState:
    """What validation needs while one block is built: the committed versions of the keys it
    reads (prefetched), its tx_ids already stored, and the writes of its valid transactions
    so far (key -> (value or None for a delete, block number, tx number))."""

    committed: dict[str, Version]
    known_tx_ids: set[str]
    seen: set[str] = field(default_factory=set)
    overlay: dict[str, Version | None] = field(default_factory=dict)
    writes: dict[str, tuple[bytes | None, int, int]] = field(default_factory=dict)
    history: list[tuple[str, int, int, str, bytes | None, int, int]] = field(default_factory=list)

    def version(self, key: str) -> Version | None:
        if key in self.overlay:
            return self.overlay[key]
        return self.committed.get(key)

    def apply(self, tx: PendingTx, number: int, n: int) -> None:
        for key, value in tx.rwset.writes.items():
            self.overlay[key] = None if value is None else (number, n)
            self.writes[key] = (value, number, n)
            self.history.append(
                (key, number, n, tx.tx_id, value, int(value is None), tx.timestamp_ns)
            )


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
        # the write connection: commit_block (may run in a worker thread, one at a time),
        # genesis, raw access; the read connection: reads from the event loop, which under
        # WAL see the last committed block, never a block being written
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.executescript(SCHEMA)
        self._rdb = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        # committed values of keys read lately (e.g. each contract's cfg:, read by every
        # transaction); a commit drops the keys it wrote. _generation changes with every
        # commit so a read that raced a commit is not cached.
        self._cache: dict[str, tuple[bytes, Version]] = {}
        self._generation = 0
        row = self._db.execute("SELECT number, hash FROM blocks ORDER BY number DESC LIMIT 1")
        last = row.fetchone()
        self._height = 0 if last is None else int(last[0]) + 1
        self._last_hash = chain.GENESIS_PREVIOUS_HASH if last is None else str(last[1])

    def close(self) -> None:
        self._rdb.close()
        self._db.close()

    @property
    def height(self) -> int:
        return self._height

    @property
    def last_hash(self) -> str:
        return self._last_hash

    # ------------------------------------------------------------------ StateReader
    def get(self, key: str) -> tuple[bytes, Version] | None:
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        generation = self._generation
        row = self._rdb.execute(
            "SELECT value, block_number, tx_num FROM state WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        got = (bytes(row[0]), (int(row[1]), int(row[2])))
        if generation == self._generation:  # no commit since the read began
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = got
            if generation != self._generation:  # a commit slipped in: it may have missed it
                self._cache.pop(key, None)
        return got

    def range(self, start: str, end: str) -> Iterator[tuple[str, bytes, Version]]:
        return self._range(self._rdb, start, end)

    @staticmethod
    def _range(
        db: sqlite3.Connection, start: str, end: str
    ) -> Iterator[tuple[str, bytes, Version]]:
        if end:
            cur = db.execute(
                "SELECT key, value, block_number, tx_num FROM state "
                "WHERE key >= ? AND key < ? ORDER BY key",
                (start, end),
            )
        else:
            cur = db.execute(
                "SELECT key, value, block_number, tx_num FROM state WHERE key >= ? ORDER BY key",
                (start,),
            )
        for key, value, b, t in cur.fetchall():
            yield str(key), bytes(value), (int(b), int(t))

    def history(self, key: str) -> list[tuple[str, bytes, bool, int]]:
        rows = self._rdb.execute(
            "SELECT tx_id, value, is_delete, timestamp_ns FROM history WHERE key = ? "
            "ORDER BY block_number DESC, tx_num DESC",
            (key,),
        ).fetchall()
        return [(str(t), bytes(v or b""), bool(d), int(ts)) for t, v, d, ts in rows]

    def scan(self) -> Iterator[tuple[str, bytes]]:
        for key, value in self._rdb.execute("SELECT key, value FROM state ORDER BY key").fetchall():
            yield str(key), bytes(value)

    # ------------------------------------------------------------------ validation
    def _range_holds(self, r: RangeRead) -> bool:
        now = [(k, v) for k, _, v in self._range(self._db, r.start, r.end)]  # in the block
        return now == r.results if r.exhausted else now[: len(r.results)] == r.results

    def _validate(self, tx: PendingTx, block: _BlockState) -> str:
        if tx.tx_id in block.seen or tx.tx_id in block.known_tx_ids:
            return DUPLICATE_TXID
        for key, version in tx.rwset.reads.items():
            if block.version(key) != version:
                return MVCC_READ_CONFLICT
        if tx.rwset.range_reads:
            self._flush_state(block)  # the range scan must see this block's earlier writes
            for r in tx.rwset.range_reads:
                if not self._range_holds(r):
                    return PHANTOM_READ_CONFLICT
        return VALID

    def _prefetch(self, txs: Sequence[PendingTx]) -> _BlockState:
        """One query for the versions of every key the block's transactions read and one for
        which of its tx_ids are already stored (instead of one query per key and per tx)."""
        keys = list({k for tx in txs for k in tx.rwset.reads})
        versions: dict[str, Version] = {}
        for i in range(0, len(keys), _CHUNK):
            part = keys[i : i + _CHUNK]
            marks = ",".join("?" * len(part))
            for key, b, t in self._db.execute(
                f"SELECT key, block_number, tx_num FROM state WHERE key IN ({marks})", part
            ):
                versions[str(key)] = (int(b), int(t))
        ids = list({tx.tx_id for tx in txs})
        known: set[str] = set()
        for i in range(0, len(ids), _CHUNK):
            part = ids[i : i + _CHUNK]
            marks = ",".join("?" * len(part))
            known.update(
                str(r[0])
                for r in self._db.execute(f"SELECT tx_id FROM txs WHERE tx_id IN ({marks})", part)
            )
        return _BlockState(versions, known)

    # ------------------------------------------------------------------ commit
    def commit_block(self, txs: Sequence[PendingTx], timestamp_ns: int) -> tuple[int, list[str]]:
        """Validate, apply and append one block; returns (block number, validation codes).

        Validation sees the committed state plus the writes of the block's valid
        transactions before it (kept in memory, written with one statement per table)."""
        number = self._height
        codes: list[str] = []
        hashes: list[str] = []
        rows: list[tuple[int, int, str, str, str]] = []
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            block = self._prefetch(txs)
            for n, tx in enumerate(txs):
                code = self._validate(tx, block)
                block.seen.add(tx.tx_id)
                if code == VALID:
                    block.apply(tx, number, n)
                body = chain.canonical(tx.body)
                codes.append(code)
                hashes.append(chain.tx_hash(body, code))
                rows.append((number, n, tx.tx_id, body, code))
            self._flush_state(block)
            db.executemany("INSERT INTO history VALUES (?, ?, ?, ?, ?, ?, ?)", block.history)
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
        self._generation += 1  # before dropping the keys (see get)
        for key in block.overlay:
            self._cache.pop(key, None)
        self._height = number + 1
        self._last_hash = block_hash
        return number, codes

    def _flush_state(self, block: _BlockState) -> None:
        """Write the block's pending state changes (last write per key wins)."""
        if not block.writes:
            return
        deletes = [(k,) for k, w in block.writes.items() if w[0] is None]
        upserts = [(k, w[0], w[1], w[2]) for k, w in block.writes.items() if w[0] is not None]
        if deletes:
            self._db.executemany("DELETE FROM state WHERE key = ?", deletes)
        if upserts:
            self._db.executemany(
                "INSERT INTO state VALUES (?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
                "value = excluded.value, block_number = excluded.block_number, "
                "tx_num = excluded.tx_num",
                upserts,
            )
        block.writes.clear()

    # ------------------------------------------------------------------ reading blocks
    def blocks(self, start: int = 0, end: int | None = None) -> Iterator[chain.StoredBlock]:
        end = self._height if end is None else end
        cur = self._rdb.execute(
            "SELECT number, previous_hash, data_hash, hash, timestamp_ns, tx_count FROM blocks "
            "WHERE number >= ? AND number < ? ORDER BY number",
            (start, end),
        )
        for number, prev, dh, h, ts, count in cur.fetchall():
            txs = self._rdb.execute(
                "SELECT body, validation_code FROM txs WHERE block_number = ? ORDER BY tx_num",
                (number,),
            ).fetchall()
            header = chain.BlockHeader(int(number), str(prev), str(dh), int(ts), int(count))
            yield chain.StoredBlock(header, str(h), [(str(b), str(c)) for b, c in txs])

    def verify(self) -> chain.ChainBreak | None:
        return chain.verify_blocks(self.blocks(0, 2**62))

    def tx_status(self, tx_id: str) -> tuple[int, str] | None:
        row = self._rdb.execute(
            "SELECT block_number, validation_code FROM txs WHERE tx_id = ? "
            "ORDER BY block_number LIMIT 1",
            (tx_id,),
        ).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Raw access for tools and tests (e.g. tampering checks)."""
        self._cache.clear()
        return self._db.execute(sql, params).fetchall()
