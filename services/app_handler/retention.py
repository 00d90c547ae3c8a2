"""Retention of the device history: uplink log, events and DRCC decisions older than their
setting are deleted, oldest first, in bounded batches, by the application handler.

Without it the history only grows: at 1,000 uplinks/s the embedded database gains ~0.7 GB an
hour (session 6's 300 s run: 220 MB for 305,000 uplinks). A setting of 0 keeps a table's rows
for ever. The embedded ledger and the Fabric ledgers are not touched: their chains are the
tamper-evident record, and cutting them would break every later block's hash link.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from services.storage import Storage
from services.storage.repositories.retention import HISTORY_TABLES, HistoryTable

from . import metrics
from .settings import RetentionSettings

log = logging.getLogger("hyperlora.app_handler.retention")

# a pause between two batches of one run: the uplink path's own transactions go first
BATCH_PAUSE_S = 0.01


class HistoryRetention:
    def __init__(
        self,
        storage: Storage,
        settings: RetentionSettings,
        clock: Callable[[], datetime],
    ) -> None:
        self._storage = storage
        self._settings = settings
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self.runs = 0
        self.deleted: dict[str, int] = dict.fromkeys(HISTORY_TABLES, 0)

    def keep_s(self, table: HistoryTable) -> float:
        s = self._settings
        return {
            "uplink_log": s.uplink_log_s,
            "events": s.events_s,
            "drcc_decisions": s.drcc_decisions_s,
        }[table]

    async def prune_once(self) -> dict[str, int]:
        """One pass over every table: delete what is past its retention; the counts."""
        now = self._clock()
        done: dict[str, int] = {}
        for table in HISTORY_TABLES:
            keep = self.keep_s(table)
            if keep <= 0:
                continue
            before = now - timedelta(seconds=keep)
            total = 0
            started = time.monotonic()
            while True:
                n = await self._storage.retention.prune(
                    table, before=before, limit=self._settings.batch
                )
                total += n
                if n < self._settings.batch:
                    break
                await asyncio.sleep(BATCH_PAUSE_S)
            if total:
                done[table] = total
                self.deleted[table] += total
                metrics.PRUNED.labels(table).inc(total)
                log.info(
                    "app_handler.retention.pruned table=%s rows=%d older_than=%s seconds=%.2f",
                    table, total, before.isoformat(), time.monotonic() - started,
                )  # fmt: skip
        self.runs += 1
        return done

    async def _run(self) -> None:
        while True:
            try:
                await self.prune_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database away: tried again at the next interval
                metrics.PRUNE_FAILED.inc()
                log.exception("app_handler.retention.failed")
            await asyncio.sleep(self._settings.every_s)

    def start(self) -> None:
        s = self._settings
        if (
            self._task is None
            and s.every_s > 0
            and (s.uplink_log_s or s.events_s or s.drcc_decisions_s)
        ):
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="hyperlora-history-retention"
            )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
