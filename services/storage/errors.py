"""Every error the storage package raises (besides ``services.lorawan.errors`` replay errors).

Replay checks raise the protocol errors the services already handle:
``DeviceRepo.check_and_record_dev_nonce`` raises :class:`services.lorawan.errors.DevNonceReused`
and ``DeviceSessionRepo.advance_f_cnt_up`` raises
:class:`services.lorawan.errors.FrameCounterReplay`.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base class of the storage errors."""


class NotFound(StorageError):
    """The object does not exist, or belongs to another tenant (the two are not told apart)."""


class AlreadyExists(StorageError):
    """A create would duplicate a unique identifier (DevEUI, gateway EUI, zone name, ...)."""


class ConstraintViolation(StorageError):
    """A reference to a missing or foreign object (application of another tenant, ...)."""


class StaleVersion(StorageError):
    """Optimistic lock conflict: the row changed since it was read. Re-read and retry."""


class KeyDecryptionError(StorageError):
    """A key stored encrypted at rest cannot be decrypted: wrong KEK, or tampered/swapped data."""


class InsecureSettings(StorageError):
    """Settings refused outside development (the built-in development KEK, for one)."""
