"""Small, deterministic input checks for the contracts (a JSON-schema-like subset).

Each check takes the raw value and a field name, and returns the normalised value or raises
InvalidInput naming the field. Identifiers are normalised the way services.bus prints them:
upper-case hex, MSB first.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from json.encoder import encode_basestring_ascii
from typing import Any

from .errors import InvalidInput

Check = Callable[[Any, str], Any]

MAX_KEY_LEN = 256
MAX_STR_LEN = 1024
MAX_PAYLOAD_HEX = 2 * 512  # LoRaWAN FRMPayload <= 242 bytes; leave room
_HEX = re.compile(r"^[0-9A-Fa-f]*$")
_SAFE = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces


def parse_json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidInput(f"{what} must be a JSON object")
    return value


# json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True) builds this
# encoder on every call; the same encoder, kept, gives the same text
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces (what the contracts store and hash)."""
    return _CANONICAL.encode(value)


def json_string(value: str) -> str:
    """A string as canonical_json writes it (quoted, escaped, ASCII only)."""
    return encode_basestring_ascii(value)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def key_text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{name} must be a non-empty string")
    if len(value) > MAX_KEY_LEN:
        raise InvalidInput(f"{name} longer than {MAX_KEY_LEN} characters")
    if not _SAFE.match(value):
        raise InvalidInput(f"{name} must be printable ASCII without spaces")
    return value


def text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{name} must be a non-empty string")
    if len(value) > MAX_STR_LEN:
        raise InvalidInput(f"{name} longer than {MAX_STR_LEN} characters")
    return value


def hex_id(size_bytes: int) -> Check:
    def check(value: Any, name: str) -> str:
        if not isinstance(value, str):
            raise InvalidInput(f"{name} must be a hex string of {size_bytes} bytes")
        norm = value.strip().upper()
        if len(norm) != 2 * size_bytes or not _HEX.match(norm):
            raise InvalidInput(f"{name} must be {2 * size_bytes} hex characters, got {value!r}")
        return norm

    return check


eui = hex_id(8)
dev_addr = hex_id(4)
sha256_digest = hex_id(32)


def hex_bytes(value: Any, name: str) -> str:
    if not isinstance(value, str) or len(value) % 2 or not _HEX.match(value):
        raise InvalidInput(f"{name} must be an even-length hex string")
    if len(value) > MAX_PAYLOAD_HEX:
        raise InvalidInput(f"{name} longer than {MAX_PAYLOAD_HEX // 2} bytes")
    return value.lower()


def integer(lo: int, hi: int) -> Check:
    def check(value: Any, name: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInput(f"{name} must be an integer")
        if not lo <= value <= hi:
            raise InvalidInput(f"{name} must be in [{lo}, {hi}], got {value}")
        return value

    return check


def timestamp(value: Any, name: str) -> str:
    """An ISO-8601 date-time with a UTC offset; kept as given (it is data, not ledger time)."""
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be an ISO-8601 date-time string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{name} is not an ISO-8601 date-time: {value!r}") from None
    if parsed.tzinfo is None:
        raise InvalidInput(f"{name} must carry a UTC offset")
    return value


def one_of(*choices: str) -> Check:
    def check(value: Any, name: str) -> str:
        if value not in choices:
            raise InvalidInput(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        return str(value)

    return check


def list_of(item: Check, max_items: int = 64) -> Check:
    def check(value: Any, name: str) -> list[Any]:
        if not isinstance(value, list):
            raise InvalidInput(f"{name} must be a list")
        if len(value) > max_items:
            raise InvalidInput(f"{name} has more than {max_items} items")
        return [item(v, f"{name}[{i}]") for i, v in enumerate(value)]

    return check


def any_json(value: Any, name: str) -> Any:
    try:
        canonical_json(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} is not JSON-serialisable") from None
    return value


_FIELD_NAMES: dict[tuple[str, str], str] = {}


def _field_name(what: str, field: str) -> str:
    name = _FIELD_NAMES.get((what, field))
    if name is None:
        if len(_FIELD_NAMES) > 4096:
            _FIELD_NAMES.clear()
        name = _FIELD_NAMES[(what, field)] = f"{what}.{field}"
    return name


def check_fields(
    data: Mapping[str, Any],
    required: Mapping[str, Check],
    optional: Mapping[str, Check] | None = None,
    *,
    what: str,
    allow_extra: bool = False,
) -> dict[str, Any]:
    """Validate ``data`` against field checks; returns the normalised fields."""
    optional = optional or {}
    out: dict[str, Any] = {}
    missing = [f for f in required if f not in data]
    if missing:
        raise InvalidInput(f"{what}: missing field(s) {', '.join(sorted(missing))}")
    if not allow_extra:
        extra = [f for f in data if f not in required and f not in optional]
        if extra:
            raise InvalidInput(f"{what}: unknown field(s) {', '.join(sorted(extra))}")
    for field, check in required.items():
        out[field] = check(data[field], _field_name(what, field))
    for field, check in optional.items():
        value = data.get(field)
        if value is not None:
            out[field] = check(value, _field_name(what, field))
    return out
