"""Ledgers: the ``Ledger`` interface, the embedded ledger, the Fabric adapter (fabric/) and
the ledger writer service.

    from services.ledger import Ledger, CommitResult, make_ledger
    from services.ledger.writer import LedgerWriter
"""

from .base import (
    DUPLICATE_TXID,
    MVCC_READ_CONFLICT,
    PHANTOM_READ_CONFLICT,
    VALID,
    CommitResult,
    Invocation,
    Ledger,
    LedgerStatus,
)
from .channels import DEVICE_CHANNEL, NETWORK_CHANNEL, ledger_channel
from .errors import (
    AccessDenied,
    ChaincodeError,
    ChainCorrupted,
    CommitTimeout,
    DuplicateTxId,
    IdempotencyConflict,
    InvalidInput,
    KeyExists,
    LedgerError,
    LedgerUnavailable,
    NotInitialised,
    RecordNotFound,
    TransactionInvalidated,
    UnknownChannel,
)
from .factory import make_ledger
from .settings import LedgerSettings

__all__ = [
    "DEVICE_CHANNEL",
    "DUPLICATE_TXID",
    "MVCC_READ_CONFLICT",
    "NETWORK_CHANNEL",
    "PHANTOM_READ_CONFLICT",
    "VALID",
    "AccessDenied",
    "ChainCorrupted",
    "ChaincodeError",
    "CommitResult",
    "CommitTimeout",
    "DuplicateTxId",
    "IdempotencyConflict",
    "InvalidInput",
    "Invocation",
    "KeyExists",
    "Ledger",
    "LedgerError",
    "LedgerSettings",
    "LedgerStatus",
    "LedgerUnavailable",
    "NotInitialised",
    "RecordNotFound",
    "TransactionInvalidated",
    "UnknownChannel",
    "ledger_channel",
    "make_ledger",
]
