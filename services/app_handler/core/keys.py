"""AppSKey delivery (pure): unwrap the key the join server sent on js.app_s_key.

The join server wraps the AppSKey with RFC 3394 AES key wrap under the KEK named by
``kek_label``; an empty label means the key travels in clear hex (development only).
"""

from __future__ import annotations

import uuid

from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap

from services.lorawan.errors import InvalidKey
from services.lorawan.types import AES128Key

# Namespace for session ids that are not UUIDs (stable: the same text, the same UUID).
SESSION_NAMESPACE = uuid.UUID("5d1c3a0e-4f7b-4d55-9c8e-2f6a1b7c9e10")


def unwrap_app_s_key(
    kek_label: str,
    wrapped_hex: str,
    *,
    my_kek_label: str,
    my_kek: bytes | None,
    allow_clear: bool,
) -> AES128Key:
    """The AppSKey of a delivery; InvalidKey for an unknown KEK, a corrupted value, or a clear
    key where clear keys are refused."""
    try:
        raw = bytes.fromhex(wrapped_hex)
    except ValueError as exc:
        raise InvalidKey("AppSKey delivery: not hexadecimal") from exc
    if not kek_label:
        if not allow_clear:
            raise InvalidKey("AppSKey delivered in clear, refused (configure a KEK)")
        if len(raw) != 16:
            raise InvalidKey(f"clear AppSKey: expected 16 bytes, got {len(raw)}")
        return AES128Key(raw)
    if my_kek is None or kek_label != my_kek_label:
        raise InvalidKey(f"AppSKey wrapped with unknown KEK {kek_label!r}")
    try:
        key = aes_key_unwrap(my_kek, raw)
    except (InvalidUnwrap, ValueError) as exc:
        raise InvalidKey(f"AppSKey unwrap with KEK {kek_label!r} failed") from exc
    if len(key) != 16:
        raise InvalidKey(f"unwrapped AppSKey: expected 16 bytes, got {len(key)}")
    return AES128Key(key)


def session_uuid(text: str) -> uuid.UUID:
    """A session id as UUID: parsed when it is one, else derived from the text (uuid5)."""
    try:
        return uuid.UUID(text)
    except ValueError:
        return uuid.uuid5(SESSION_NAMESPACE, text)
