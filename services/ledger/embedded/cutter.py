"""Block cutting like Fabric's orderer (pure; the caller passes the clock).

A batch is cut when it holds ``max_messages`` envelopes (BatchSize.MaxMessageCount) or when
``batch_timeout_s`` (BatchTimeout) has passed since the first envelope of the batch arrived.
``preferred_max_bytes`` (BatchSize.PreferredMaxBytes) cuts early on size: an envelope that
would push the batch over it starts a new batch; an envelope larger than it on its own
goes alone in its block.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class BlockCutter(Generic[T]):
    def __init__(
        self,
        max_messages: int = 10,
        batch_timeout_s: float = 0.25,
        preferred_max_bytes: int | None = None,
        size_of: Callable[[T], int] = lambda _item: 0,
    ) -> None:
        if max_messages < 1 or batch_timeout_s <= 0:
            raise ValueError("max_messages must be >= 1 and batch_timeout_s > 0")
        self.max_messages = max_messages
        self.batch_timeout_s = batch_timeout_s
        self.preferred_max_bytes = preferred_max_bytes
        self._size_of = size_of
        self._pending: list[T] = []
        self._pending_bytes = 0
        self._first_at: float | None = None

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def deadline(self) -> float | None:
        """When the pending batch times out (None when nothing is pending)."""
        return None if self._first_at is None else self._first_at + self.batch_timeout_s

    def ordered(self, item: T, now: float) -> list[list[T]]:
        """Add one envelope; returns the batches to cut now (zero, one or two)."""
        batches: list[list[T]] = []
        size = self._size_of(item)
        limit = self.preferred_max_bytes
        if limit is not None and self._pending and self._pending_bytes + size > limit:
            batches.append(self.cut())
        if limit is not None and size > limit:
            batches.append([item])
            return batches
        self._pending.append(item)
        self._pending_bytes += size
        if self._first_at is None:
            self._first_at = now
        if len(self._pending) >= self.max_messages:
            batches.append(self.cut())
        return batches

    def due(self, now: float) -> bool:
        deadline = self.deadline
        return deadline is not None and now >= deadline

    def cut(self) -> list[T]:
        batch, self._pending = self._pending, []
        self._pending_bytes = 0
        self._first_at = None
        return batch
