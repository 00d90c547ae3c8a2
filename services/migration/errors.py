"""Errors of the migration service."""

from __future__ import annotations


class MigrationError(Exception):
    """Base class of the migration service's errors."""


class UnknownPolicy(MigrationError):
    """No migration policy registered under that name."""


class InvalidRouting(MigrationError):
    """A routing (shares) that is not usable: a share outside [0, 1], an unknown zone..."""


class RecordNotLocated(MigrationError):
    """No zone's ledger holds the record looked up."""
