"""Field types shared by every schema family: hex identifiers, keys, payloads, pages.

Identifiers travel as upper-case hex, MSB first (the way operators print them): EUI-64 16
digits, DevAddr 8, AES-128 keys 32. Input is forgiving (lower case, ``:``/``-`` separators,
a ``0x`` prefix) and normalised; anything else is a validation error (HTTP 422) that says what
was expected. Payloads are base64 (RFC 4648, padded) in JSON.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from services.lorawan.types import EUI64, AES128Key, DevAddr

T = TypeVar("T")

_HEX = re.compile(r"^[0-9A-F]*$")

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100


def normalise_hex(value: Any, size: int, what: str) -> str:
    """Upper-case hex of exactly ``size`` bytes, or ValueError naming ``what``."""
    if isinstance(value, bytes | bytearray):
        value = bytes(value).hex()
    elif isinstance(value, EUI64 | DevAddr | AES128Key):
        value = value.value.hex()
    if not isinstance(value, str):
        raise ValueError(f"{what}: expected a hex string of {size * 2} digits")
    text = value.strip().replace(":", "").replace("-", "").replace(" ", "").upper()
    if text.startswith("0X"):
        text = text[2:]
    if not _HEX.match(text):
        raise ValueError(f"{what}: not hexadecimal: {value!r}")
    if len(text) != size * 2:
        raise ValueError(f"{what}: expected {size * 2} hex digits ({size} bytes), got {len(text)}")
    return text


def _hex(size: int, what: str) -> Callable[[Any], str]:
    def validate(value: Any) -> str:
        return normalise_hex(value, size, what)

    return validate


EuiHex = Annotated[
    str,
    BeforeValidator(_hex(8, "EUI-64")),
    Field(examples=["70B3D57ED0000001"], description="EUI-64, 16 hex digits, MSB first"),
]
DevAddrHex = Annotated[
    str,
    BeforeValidator(_hex(4, "DevAddr")),
    Field(examples=["26011F2A"], description="DevAddr, 8 hex digits, MSB first"),
]
KeyHex = Annotated[
    str,
    BeforeValidator(_hex(16, "AES-128 key")),
    Field(
        examples=["2B7E151628AED2A6ABF7158809CF4F3C"],
        description="AES-128 key, 32 hex digits",
    ),
]


def decode_base64(value: Any) -> bytes:
    """Standard or URL-safe base64 (padding optional) to bytes; ValueError otherwise."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if not isinstance(value, str):
        raise ValueError("expected a base64 string")
    text = value.strip().replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not valid base64: {value!r}") from exc


def decode_hex_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if not isinstance(value, str):
        raise ValueError("expected a hex string")
    text = value.strip().replace(":", "").replace(" ", "")
    if text[:2].lower() == "0x":
        text = text[2:]
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise ValueError(f"not hexadecimal: {value!r}") from exc


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


Base64Bytes = Annotated[
    bytes,
    BeforeValidator(decode_base64),
    PlainSerializer(_b64, return_type=str, when_used="json"),
    Field(description="base64 (RFC 4648)"),
]
HexBytes = Annotated[
    bytes,
    BeforeValidator(decode_hex_bytes),
    PlainSerializer(lambda v: v.hex().upper(), return_type=str, when_used="json"),
    Field(description="hex string"),
]


class Schema(BaseModel):
    """Base of request bodies: unknown fields are refused (a typo must not pass silently)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PublicSchema(BaseModel):
    """Base of response models."""

    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    """One page of a listing: ``items`` from ``offset``, at most ``limit``, of ``total``."""

    items: list[T]
    total: int
    limit: int
    offset: int


Name = Annotated[str, Field(min_length=1, max_length=100)]
Description = Annotated[str, Field(max_length=2000)]
