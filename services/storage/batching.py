"""Group commit: many concurrent callers' writes in one transaction.

A :class:`GroupCommitter` collects the items its callers :meth:`~GroupCommitter.submit` and
hands them, in submission order, to one ``flush`` coroutine (the repository's batch method,
one transaction) at a time. Each caller awaits the outcome of its own item: the flush
returns one result per item, either a value or an exception instance that is raised in
that caller only. If the flush itself raises, every caller of that batch gets the error.

Batches form naturally: while one transaction commits, the next callers queue up, so under
load a batch holds everything that arrived during the previous commit (up to ``max_batch``),
and an idle system commits a lone item at once (``linger_s`` = 0). A caller's ``submit``
returns only after its batch committed: what it wrote is durable (as durable as the
database's commit) before it goes on, which is what lets a bus handler acknowledge its
record only after its writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger("hyperlora.storage.batching")

Flush = Callable[[Sequence[T]], Awaitable[Sequence[R | BaseException]]]


class GroupCommitter(Generic[T, R]):
    def __init__(self, flush: Flush[T, R], *, max_batch: int = 256, linger_s: float = 0.0) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self._flush = flush
        self._max_batch = max_batch
        self._linger_s = linger_s
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._runner: asyncio.Task[None] | None = None
        self.batches = 0
        self.items = 0

    async def submit(self, item: T) -> R:
        """Queue ``item`` for the next batch; return its result once that batch committed."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run(), name="storage:group-commit")
        return await future

    async def _run(self) -> None:
        while self._queue:
            if self._linger_s > 0 and len(self._queue) < self._max_batch:
                await asyncio.sleep(self._linger_s)
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
            await self._commit(batch)

    async def _commit(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        self.batches += 1
        self.items += len(batch)
        try:
            results = await self._flush([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"flush returned {len(results)} results for {len(batch)}")
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # the batch failed: every caller of it sees the error
            log.warning("storage.group_commit.failed items=%d error=%r", len(batch), exc)
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():  # the caller was cancelled meanwhile
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def close(self) -> None:
        """Wait for the queued batches (call before closing the storage)."""
        runner = self._runner
        if runner is not None and not runner.done():
            with contextlib.suppress(asyncio.CancelledError):
                await runner
