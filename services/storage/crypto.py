"""Encryption at rest of root and session keys: AES-256-GCM under a key-encryption key (KEK).

Stored form: ``0x01 || nonce (12) || ciphertext || tag (16)``. The associated data binds a
ciphertext to its place, ``"<table>.<column>:<row id>"``, so a ciphertext copied into another
row or column fails to decrypt instead of handing out another device's key.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import KeyDecryptionError

FORMAT_V1 = 0x01
NONCE_SIZE = 12
TAG_SIZE = 16


def associated_data(table: str, column: str, row_id: str) -> bytes:
    return f"{table}.{column}:{row_id}".encode()


class KeyCipher:
    """Encrypts and decrypts small secrets under one KEK (32 bytes)."""

    def __init__(self, kek: bytes) -> None:
        if len(kek) != 32:
            raise ValueError("the KEK must be 32 bytes")
        self._aead = AESGCM(kek)

    def encrypt(self, plaintext: bytes, *, table: str, column: str, row_id: str) -> bytes:
        nonce = os.urandom(NONCE_SIZE)
        ad = associated_data(table, column, row_id)
        return bytes([FORMAT_V1]) + nonce + self._aead.encrypt(nonce, plaintext, ad)

    def decrypt(self, blob: bytes, *, table: str, column: str, row_id: str) -> bytes:
        where = f"{table}.{column} of {row_id}"
        if len(blob) < 1 + NONCE_SIZE + TAG_SIZE or blob[0] != FORMAT_V1:
            raise KeyDecryptionError(f"cannot decrypt {where}: not an encrypted key blob")
        nonce, body = blob[1 : 1 + NONCE_SIZE], blob[1 + NONCE_SIZE :]
        try:
            return self._aead.decrypt(nonce, body, associated_data(table, column, row_id))
        except InvalidTag as exc:
            raise KeyDecryptionError(
                f"cannot decrypt {where}: wrong key-encryption key (HYPERLORA_STORAGE_KEK) "
                "or a tampered or moved ciphertext"
            ) from exc
