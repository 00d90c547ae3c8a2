"""The ``Ledger`` interface every service writes against (embedded ledger or Fabric).

A transaction is one chaincode call ``"<contract>:<function>"`` with string arguments, as on
Fabric. ``submit`` endorses it (runs the chaincode: errors raise a ChaincodeError subclass at
once), orders it into a block and waits for the block to commit; the result carries the block
number and the validation code (``"VALID"``, ``"MVCC_READ_CONFLICT"``, ...). An invalidated
transaction is *returned*, not raised: callers decide whether to retry (the contracts are
idempotent, so a retry with the same idempotency key never doubles a record).
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

VALID = "VALID"
MVCC_READ_CONFLICT = "MVCC_READ_CONFLICT"
PHANTOM_READ_CONFLICT = "PHANTOM_READ_CONFLICT"
DUPLICATE_TXID = "DUPLICATE_TXID"


@dataclass(frozen=True, slots=True)
class CommitResult:
    tx_id: str
    block_number: int
    status: str  # validation code; VALID when committed and applied
    payload: bytes = b""  # the chaincode's response at endorsement (JSON for our contracts)

    @property
    def ok(self) -> bool:
        return self.status == VALID


@dataclass(frozen=True, slots=True)
class Invocation:
    """One transaction of a batch."""

    contract_fn: str  # "<contract>:<function>", e.g. "application:create"
    args: Sequence[str]
    tx_id: str | None = None


@dataclass(frozen=True, slots=True)
class LedgerStatus:
    kind: str  # "embedded" | "fabric"
    healthy: bool
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)


class Ledger(abc.ABC):
    """Submit transactions to and query the ledger channels."""

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None: ...

    @abc.abstractmethod
    async def submit(
        self,
        channel: str,
        contract_fn: str,
        args: Sequence[str],
        *,
        tx_id: str | None = None,
    ) -> CommitResult:
        """Endorse, order and wait for the commit of one transaction."""

    async def submit_batch(
        self, channel: str, invocations: Sequence[Invocation]
    ) -> list[CommitResult | BaseException]:
        """Submit several transactions concurrently (they may share blocks); one result or
        exception per invocation, in order. Adapters may override with a faster path."""
        coros = [self.submit(channel, i.contract_fn, i.args, tx_id=i.tx_id) for i in invocations]
        return list(await asyncio.gather(*coros, return_exceptions=True))

    @abc.abstractmethod
    async def evaluate(self, channel: str, contract_fn: str, args: Sequence[str]) -> bytes:
        """Run a read-only chaincode function on the committed state; its response bytes."""

    @abc.abstractmethod
    async def height(self, channel: str) -> int:
        """Number of blocks of the channel (last block number + 1)."""

    @abc.abstractmethod
    async def status(self) -> LedgerStatus: ...

    async def __aenter__(self) -> Ledger:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
