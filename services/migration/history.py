"""The migration service's own SQLite file (``<data_dir>/migration.sqlite``): the routing
epochs (so a restart keeps the routing) and the decision history.

The storage package has no table for these; the file belongs to the migration service only
(one process owns a data dir, as for the ledger writer's outbox).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from .data import Decision
from .routing import RoutingEpoch

FILE = "migration.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS routing_epochs (
    epoch INTEGER PRIMARY KEY, started_at REAL NOT NULL, policy TEXT NOT NULL,
    shares TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, policy TEXT NOT NULL,
    epoch INTEGER NOT NULL, changed INTEGER NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS policy_state (
    policy TEXT PRIMARY KEY, state TEXT NOT NULL);
"""


class MigrationStore:
    def __init__(self, path: str | Path, keep_decisions: int = 100_000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._keep = keep_decisions
        self._since_prune = 0

    @classmethod
    def in_dir(cls, data_dir: str | Path) -> MigrationStore:
        return cls(Path(data_dir) / FILE)

    def close(self) -> None:
        self._db.close()

    # epochs
    def save_epoch(self, ep: RoutingEpoch) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO routing_epochs VALUES (?, ?, ?, ?)",
            (ep.epoch, ep.started_at, ep.policy, json.dumps(ep.shares, sort_keys=True)),
        )

    def epochs(self, limit: int = 10_000) -> list[RoutingEpoch]:
        rows = self._db.execute(
            "SELECT epoch, started_at, policy, shares FROM routing_epochs "
            "ORDER BY epoch DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [RoutingEpoch(int(e), float(t), json.loads(s), str(p)) for e, t, p, s in rows][::-1]

    # decisions
    def save_decision(self, d: Decision) -> None:
        self._db.execute(
            "INSERT INTO decisions (at, policy, epoch, changed, body) VALUES (?, ?, ?, ?, ?)",
            (d.at, d.policy, d.epoch, int(d.changed), json.dumps(d.to_dict(), sort_keys=True)),
        )
        self._since_prune += 1
        if self._since_prune >= 1000:
            self._since_prune = 0
            self._db.execute(
                "DELETE FROM decisions WHERE id <= (SELECT MAX(id) FROM decisions) - ?",
                (self._keep,),
            )

    def decisions(
        self, limit: int = 100, since: float | None = None, changed_only: bool = False
    ) -> list[dict[str, Any]]:
        sql = "SELECT body FROM decisions WHERE at >= ?"
        if changed_only:
            sql += " AND changed = 1"
        sql += " ORDER BY id DESC LIMIT ?"
        rows = self._db.execute(sql, (since if since is not None else -1e300, limit)).fetchall()
        return [json.loads(r[0]) for r in rows][::-1]

    # policy memory (forecaster state), so a restart does not forget the trend
    def save_state(self, policy: str, state: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO policy_state VALUES (?, ?)", (policy, json.dumps(state))
        )

    def load_state(self, policy: str) -> dict[str, Any]:
        row = self._db.execute(
            "SELECT state FROM policy_state WHERE policy = ?", (policy,)
        ).fetchone()
        return json.loads(row[0]) if row else {}
