"""Errors of the ledger layer (both adapters raise these, never transport exceptions).

Chaincode errors travel as text (a Fabric proposal response carries only a message), so the
contracts prefix every message with a code (``"<Code>: detail"``, see chaincode/errors.py) and
:func:`chaincode_error_from_message` turns the text back into a typed exception here.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base class of every ledger error."""


class LedgerUnavailable(LedgerError):
    """The ledger cannot be reached or is stopped; retrying later may succeed (transient)."""


class UnknownChannel(LedgerError):
    """The channel does not exist on this ledger."""


class CommitTimeout(LedgerError):
    """The transaction was submitted but its commit status did not arrive in time (transient:
    the writer retries with the same idempotency key, which the contracts deduplicate)."""


class TransactionInvalidated(LedgerError):
    """Committed in a block but marked invalid (e.g. MVCC_READ_CONFLICT)."""

    def __init__(self, tx_id: str, block_number: int, status: str) -> None:
        super().__init__(f"transaction {tx_id} invalid in block {block_number}: {status}")
        self.tx_id = tx_id
        self.block_number = block_number
        self.status = status


class DuplicateTxId(LedgerError):
    """A transaction with this tx_id is already in the ledger or in flight."""


class ChainCorrupted(LedgerError):
    """The block store does not verify (hash chain broken)."""

    def __init__(self, channel: str, block_number: int, reason: str) -> None:
        super().__init__(f"channel {channel}: block {block_number} broken: {reason}")
        self.channel = channel
        self.block_number = block_number
        self.reason = reason


class ChaincodeError(LedgerError):
    """The chaincode refused the transaction at endorsement (permanent unless stated)."""

    code = "ChaincodeError"
    transient = False

    def __init__(self, message: str, function: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.function = function


class InvalidInput(ChaincodeError):
    code = "InvalidInput"


class AccessDenied(ChaincodeError):
    code = "AccessDenied"


class IdempotencyConflict(ChaincodeError):
    """Same idempotency key, different content."""

    code = "IdempotencyConflict"


class KeyExists(ChaincodeError):
    """An immutable record already exists under this key (with another idempotency key)."""

    code = "KeyExists"


class RecordNotFound(ChaincodeError):
    code = "NotFound"


class NotInitialised(ChaincodeError):
    """The contract has no configuration on this channel yet (init_ledger not run)."""

    code = "NotInitialised"
    transient = True


_BY_CODE: dict[str, type[ChaincodeError]] = {
    cls.code: cls
    for cls in (
        InvalidInput,
        AccessDenied,
        IdempotencyConflict,
        KeyExists,
        RecordNotFound,
        NotInitialised,
    )
}


def chaincode_error_from_message(message: str, function: str = "") -> ChaincodeError:
    """Map a chaincode error message (``"Code: detail"``) to its exception class."""
    code, sep, _ = message.partition(":")
    cls = _BY_CODE.get(code.strip()) if sep else None
    return (cls or ChaincodeError)(message, function)
