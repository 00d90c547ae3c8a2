"""The ``raw`` codec: the bytes as hex and base64 (encode accepts either)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from ..errors import CodecError


class RawCodec:
    name = "raw"

    def decode(self, f_port: int | None, data: bytes) -> dict[str, Any]:
        return {"hex": data.hex(), "base64": base64.b64encode(data).decode("ascii")}

    def encode(self, f_port: int | None, obj: Mapping[str, Any]) -> bytes:
        if not isinstance(obj, Mapping):
            raise CodecError("raw: expected an object with 'hex' or 'base64'")
        if "hex" in obj:
            value = obj["hex"]
            if not isinstance(value, str):
                raise CodecError("raw: 'hex' must be a string")
            try:
                return bytes.fromhex(value)
            except ValueError as exc:
                raise CodecError(f"raw: 'hex' is not hexadecimal: {value!r}") from exc
        if "base64" in obj:
            value = obj["base64"]
            if not isinstance(value, str):
                raise CodecError("raw: 'base64' must be a string")
            try:
                return base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise CodecError(f"raw: 'base64' is not valid base64: {value!r}") from exc
        raise CodecError("raw: expected an object with 'hex' or 'base64'")
