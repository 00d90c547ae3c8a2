"""Message <-> bytes: JSON (bytes fields standard base64), written and read by pydantic-core.

pydantic-core serialises straight to bytes, faster than
``orjson.dumps(model.model_dump(mode="json"))`` (no intermediate dicts); decoding uses its
JSON parser so base64 fields are validated in one pass. orjson serves the header dumps.
Measured on the shared box: a 399-byte gw.up message encodes at ~140k/s and decodes at
~80k/s on one core.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from pydantic import ValidationError

from .errors import DecodeError, TopicMismatch, UnsupportedSchemaVersion
from .messages import BaseMessage
from .topics import model_for

CONTENT_TYPE = b"application/json"
H_CONTENT_TYPE = "content-type"
H_SCHEMA = "schema"  # model class name
H_SCHEMA_VERSION = "schema-version"


def encode(topic: str, message: BaseMessage) -> bytes:
    """Serialise ``message`` for ``topic`` (checks that it is the topic's model)."""
    model = model_for(topic)
    if type(message) is not model:
        raise TopicMismatch(f"{topic} carries {model.__name__}, not {type(message).__name__}")
    return message.__pydantic_serializer__.to_json(message)


def decode(topic: str, raw: bytes) -> BaseMessage:
    """Parse ``raw`` as the model of ``topic``; DecodeError on anything unreadable."""
    model = model_for(topic)
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        if any(err.get("loc") == ("schema_version",) for err in exc.errors()):
            raise UnsupportedSchemaVersion(f"{topic}: {exc}") from exc
        raise DecodeError(f"{topic}: {exc}") from exc
    except (ValueError, TypeError) as exc:  # pragma: no cover - defensive, pydantic wraps these
        raise DecodeError(f"{topic}: {exc}") from exc


def standard_headers(message: BaseMessage) -> dict[str, bytes]:
    return {
        H_CONTENT_TYPE: CONTENT_TYPE,
        H_SCHEMA: type(message).__name__.encode(),
        H_SCHEMA_VERSION: str(message.schema_version).encode(),
    }


def merge_headers(message: BaseMessage, extra: Mapping[str, bytes] | None) -> dict[str, bytes]:
    headers = standard_headers(message)
    if extra:
        headers.update(extra)
    return headers


def headers_to_json(headers: Mapping[str, bytes]) -> bytes:
    """Headers as JSON (values latin-1 decoded), for logs."""
    return orjson.dumps({k: v.decode("latin-1") for k, v in headers.items()})
