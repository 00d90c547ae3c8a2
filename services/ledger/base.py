"""The ``Ledger`` interface every service writes against (embedded ledger or Fabric).

A transaction is one chaincode call ``"<contract>:<function>"`` with string arguments, as on
Fabric. ``submit`` endorses it (runs the chaincode: errors raise a ChaincodeError subclass at
once), orders it into a block and waits for the block to commit; the result carries the block
number and the validation code (``"VALID"``, ``"MVCC_READ_CONFLICT"``, ...). An invalidated
transaction is *returned*, not raised: callers decide whether to retry (the contracts are
idempotent, so a retry with the same idempotency key never doubles a record).

``submit_records`` stores many records of one contract: the embedded ledger and the Fabric
adapter put them in ONE transaction (``<contract>:create_batch``, see chaincode/base.py),
each record under its own key and idempotency key, with an outcome per record; the default
(any other adapter, e.g. a test or study wrapper that only overrides ``submit``) submits one
``<contract>:create`` per record.
"""

from __future__ import annotations

import abc
import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import (
    InvalidInput,
    LedgerError,
    TransactionInvalidated,
    chaincode_error_from_message,
)

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
class RecordWrite:
    """One record to store: the arguments of ``<contract>:create``."""

    kind: str
    key: str
    idempotency_key: str
    payload: str  # the record's payload: a JSON object's text


@dataclass(frozen=True, slots=True)
class RecordResult:
    """A record stored (``created``) or found already stored (``exists``)."""

    status: str  # "created" | "exists"
    tx_id: str  # the transaction that stored it (for "exists": the original one)
    block_number: int  # block of the transaction that answered


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

    async def submit_records(
        self, channel: str, contract: str, records: Sequence[RecordWrite]
    ) -> list[RecordResult | BaseException]:
        """Store records of ``contract``; one result per record, in order: a RecordResult,
        or the exception of that record — a ChaincodeError when it is refused for good,
        TransactionInvalidated when its transaction lost an MVCC race (retry it), any other
        LedgerError when the ledger failed (retry later). This default submits one
        ``<contract>:create`` per record, concurrently."""
        calls = [
            Invocation(f"{contract}:create", (r.kind, r.key, r.idempotency_key, r.payload))
            for r in records
        ]
        results = await self.submit_batch(channel, calls)
        return [r if isinstance(r, BaseException) else record_result(r) for r in results]

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


def record_result(result: CommitResult) -> RecordResult | BaseException:
    """The outcome of one ``<contract>:create`` transaction."""
    if not result.ok:
        return TransactionInvalidated(result.tx_id, result.block_number, result.status)
    try:
        body = json.loads(result.payload) if result.payload else {}
    except ValueError:
        body = {}
    if isinstance(body, dict) and body.get("status") == "exists":
        record = body.get("record") or {}
        tx_id = str(record.get("tx_id") or body.get("tx_id") or result.tx_id)
        return RecordResult("exists", tx_id, result.block_number)
    return RecordResult("created", result.tx_id, result.block_number)


def batch_args(records: Sequence[RecordWrite]) -> str:
    """The argument of ``<contract>:create_batch``: a JSON array of the records, each payload
    embedded as the object it already is (its text is not parsed or escaped again)."""
    dumps = json.dumps
    return (
        "["
        + ",".join(
            f'{{"idempotency_key":{dumps(r.idempotency_key)},"key":{dumps(r.key)},'
            f'"kind":{dumps(r.kind)},"payload":{r.payload}}}'
            for r in records
        )
        + "]"
    )


def batch_results(
    result: CommitResult, n: int, function: str
) -> list[RecordResult | BaseException]:
    """Per-record results of one ``<contract>:create_batch`` transaction of ``n`` records."""
    if not result.ok:  # the whole transaction was invalidated: every record is retried
        invalid = TransactionInvalidated(result.tx_id, result.block_number, result.status)
        return [invalid] * n
    try:
        outcomes = json.loads(result.payload)
    except ValueError:
        outcomes = None
    if not isinstance(outcomes, list) or len(outcomes) != n:
        bad = LedgerError(f"{function}: unexpected response for {n} records")
        return [bad] * n
    out: list[RecordResult | BaseException] = []
    for o in outcomes:
        status = o.get("status") if isinstance(o, dict) else None
        if status == "created":
            out.append(RecordResult("created", result.tx_id, result.block_number))
        elif status == "exists":
            out.append(RecordResult("exists", str(o.get("tx_id") or ""), result.block_number))
        elif status == "refused":
            out.append(chaincode_error_from_message(str(o.get("error", "")), function))
        else:
            out.append(LedgerError(f"{function}: unexpected outcome {o!r}"))
    return out


async def submit_records_in_one_transaction(
    ledger: Ledger, channel: str, contract: str, records: Sequence[RecordWrite]
) -> list[RecordResult | BaseException]:
    """``submit_records`` as one ``<contract>:create_batch`` transaction (adapters whose
    chaincode has it: the embedded ledger and Fabric). Should the chaincode refuse the batch
    as a whole for its input (a payload that is not JSON breaks the array), the records are
    submitted one by one instead, so that each gets its own verdict."""
    if not records:
        return []
    function = f"{contract}:create_batch"
    try:
        result = await ledger.submit(channel, function, [batch_args(records)])
    except InvalidInput:
        return await Ledger.submit_records(ledger, channel, contract, records)
    except Exception as exc:  # the whole transaction failed (access, ledger down, ...)
        return [exc] * len(records)
    return batch_results(result, len(records), function)
