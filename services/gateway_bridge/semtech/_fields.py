"""Typed readers and writers for the JSON objects of the Semtech protocol.

Every reader raises :class:`InvalidField` (a ``MalformedPacket``) for a value of the wrong JSON
type or out of range; booleans are never accepted where a number is expected. Writers build
dicts in a fixed key order so that an encoded packet is byte-for-byte reproducible.
"""

from __future__ import annotations

import binascii
import math
from collections.abc import Mapping
from typing import Any

import orjson

from ..errors import InvalidField, InvalidJSON, InvalidPacketValue

JSONObject = dict[str, Any]

U8_MAX = 0xFF
U32_MAX = 0xFFFF_FFFF
I64_MAX = 0x7FFF_FFFF_FFFF_FFFF
FREQ_MAX_MHZ = 100_000.0  # 100 GHz: any radio frequency, and safe to scale to Hz


def load_object(raw: bytes, what: str) -> JSONObject:
    """Parse ``raw`` as a JSON object (strict JSON: no NaN, no trailing bytes but NULs)."""
    body = raw.rstrip(b"\x00")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidJSON(f"{what}: invalid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidJSON(f"{what}: JSON root must be an object, got {type(value).__name__}")
    return value


def dump_object(obj: Mapping[str, Any], what: str) -> bytes:
    try:
        return orjson.dumps(obj)
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
        raise InvalidPacketValue(f"{what}: cannot encode as JSON: {exc}") from exc


def get_object(obj: Mapping[str, Any], key: str, what: str) -> JSONObject | None:
    if key not in obj:
        return None
    value = obj[key]
    if not isinstance(value, dict):
        raise InvalidField(f"{what}.{key}: expected an object")
    return value


def get_list(obj: Mapping[str, Any], key: str, what: str) -> list[Any] | None:
    if key not in obj:
        return None
    value = obj[key]
    if not isinstance(value, list):
        raise InvalidField(f"{what}.{key}: expected an array")
    return value


def get_int(
    obj: Mapping[str, Any], key: str, what: str, lo: int = -I64_MAX - 1, hi: int = I64_MAX
) -> int | None:
    if key not in obj:
        return None
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidField(f"{what}.{key}: expected an integer, got {value!r}")
    if not lo <= value <= hi:
        raise InvalidField(f"{what}.{key}: {value} out of range [{lo}, {hi}]")
    return value


def get_number(
    obj: Mapping[str, Any],
    key: str,
    what: str,
    lo: float = -math.inf,
    hi: float = math.inf,
) -> float | None:
    """A JSON number (integer or float), kept as parsed so it encodes back unchanged."""
    if key not in obj:
        return None
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidField(f"{what}.{key}: expected a number, got {value!r}")
    if isinstance(value, int) and not -I64_MAX - 1 <= value <= I64_MAX:
        raise InvalidField(f"{what}.{key}: {value} out of range")
    if not math.isfinite(value) or not lo <= value <= hi:
        raise InvalidField(f"{what}.{key}: {value} out of range [{lo}, {hi}]")
    return value


def get_str(obj: Mapping[str, Any], key: str, what: str) -> str | None:
    if key not in obj:
        return None
    value = obj[key]
    if not isinstance(value, str):
        raise InvalidField(f"{what}.{key}: expected a string, got {value!r}")
    return value


def get_bool(obj: Mapping[str, Any], key: str, what: str) -> bool | None:
    if key not in obj:
        return None
    value = obj[key]
    if not isinstance(value, bool):
        raise InvalidField(f"{what}.{key}: expected true or false, got {value!r}")
    return value


def extras(obj: Mapping[str, Any], known: frozenset[str]) -> dict[str, Any]:
    """The fields the codec does not model, kept so that they survive a round trip."""
    return {k: v for k, v in obj.items() if k not in known}


def put(out: JSONObject, key: str, value: object) -> None:
    """Write ``value`` under ``key`` unless it is ``None`` (absent)."""
    if value is not None:
        out[key] = value


def b64decode(text: str, what: str) -> bytes:
    """Standard base64 with or without padding; any other character is an error."""
    if len(text) % 4 == 1:
        raise InvalidField(f"{what}: base64 length {len(text)} is impossible")
    padded = text + "=" * (-len(text) % 4)
    try:
        return binascii.a2b_base64(padded.encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise InvalidField(f"{what}: invalid base64: {exc}") from exc


def b64encode(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")
