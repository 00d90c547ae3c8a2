"""Errors of the Fabric Gateway client (all derive from the ledger layer's errors)."""

from __future__ import annotations

from services.ledger.errors import LedgerError, LedgerUnavailable


class FabricIdentityError(LedgerError):
    """The MSP folder has no usable signing certificate or private key."""


class ProtocolError(LedgerError):
    """A Gateway answer could not be decoded (malformed envelope, missing response)."""


class GatewayCallError(LedgerError):
    """A Gateway call failed with a gRPC status that is not transient."""

    def __init__(self, method: str, code: str, details: str) -> None:
        super().__init__(f"{method} failed: {code}: {details}")
        self.method = method
        self.code = code
        self.details = details


class GatewayUnavailable(LedgerUnavailable):
    """The peer's Gateway service could not be reached (after the retries)."""
