"""AppSKey wrapping for js.app_s_key: RFC 3394 AES key wrap under a named KEK.

An empty label means no KEK: the key travels as clear hex (development only; the settings
refuse it elsewhere). The app handler unwraps with :meth:`AppSKeyWrapper.unwrap` and the same
KEK (label -> key) it is configured with.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap,
    aes_key_wrap,
)

from services.lorawan.errors import InvalidKey
from services.lorawan.types import AES128Key


@dataclass(frozen=True, slots=True)
class AppSKeyWrapper:
    kek_label: str = ""
    kek: bytes | None = None

    def __post_init__(self) -> None:
        if bool(self.kek_label) != (self.kek is not None):
            raise InvalidKey("a KEK needs both a label and a key (or neither, for clear keys)")
        if self.kek is not None and len(self.kek) not in (16, 24, 32):
            raise InvalidKey("KEK must be 16, 24 or 32 bytes")

    def wrap(self, key: AES128Key) -> str:
        """Hex of the wrapped key (48 digits), or of the clear key (32) without a KEK."""
        if self.kek is None:
            return key.value.hex().upper()
        return aes_key_wrap(self.kek, key.value).hex().upper()

    def unwrap(self, kek_label: str, wrapped_hex: str) -> AES128Key:
        """The inverse of :meth:`wrap`; InvalidKey for another KEK or a corrupted value."""
        if kek_label != self.kek_label:
            raise InvalidKey(f"KEK label {kek_label!r} is not {self.kek_label!r}")
        try:
            raw = bytes.fromhex(wrapped_hex)
        except ValueError as exc:
            raise InvalidKey("wrapped AppSKey is not hex") from exc
        if self.kek is None:
            return AES128Key(raw)
        try:
            return AES128Key(aes_key_unwrap(self.kek, raw))
        except (InvalidUnwrap, ValueError) as exc:
            raise InvalidKey("AppSKey unwrap failed (wrong KEK or corrupted)") from exc
