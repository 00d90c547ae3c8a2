"""Errors raised by the contracts.

A Fabric proposal response carries only a message, so each error's text starts with a stable
code (``"InvalidInput: f_cnt must be ..."``); services/ledger/errors.py maps the code back to a
typed exception on the client side. Keep the codes in sync with that module.
"""

from __future__ import annotations


class ContractError(Exception):
    code = "ChaincodeError"

    def __init__(self, detail: str) -> None:
        super().__init__(f"{self.code}: {detail}")
        self.detail = detail


class InvalidInput(ContractError):
    code = "InvalidInput"


class AccessDenied(ContractError):
    code = "AccessDenied"


class IdempotencyConflict(ContractError):
    code = "IdempotencyConflict"


class KeyExists(ContractError):
    code = "KeyExists"


class NotFound(ContractError):
    code = "NotFound"


class NotInitialised(ContractError):
    code = "NotInitialised"
