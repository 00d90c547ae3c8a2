"""The payload codec plugin interface and its registry (codecs are chosen by name)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from ..errors import UnknownCodec


@runtime_checkable
class PayloadCodec(Protocol):
    """Turns application bytes into a JSON object and back. Pure; raises only CodecError."""

    name: str

    def decode(self, f_port: int | None, data: bytes) -> dict[str, Any]: ...

    def encode(self, f_port: int | None, obj: Mapping[str, Any]) -> bytes: ...


_REGISTRY: dict[str, PayloadCodec] = {}


def register_codec(codec: PayloadCodec, *, replace: bool = False) -> PayloadCodec:
    """Register ``codec`` under ``codec.name`` (ValueError if taken, unless ``replace``)."""
    if not codec.name:
        raise ValueError("a codec needs a name")
    if codec.name in _REGISTRY and not replace:
        raise ValueError(f"a codec named {codec.name!r} is already registered")
    _REGISTRY[codec.name] = codec
    return codec


def get_codec(name: str) -> PayloadCodec:
    """The codec registered as ``name``; UnknownCodec (naming the known ones) otherwise."""
    codec = _REGISTRY.get(name)
    if codec is None:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise UnknownCodec(f"unknown payload codec {name!r} (known: {known})")
    return codec


def codec_names() -> list[str]:
    return sorted(_REGISTRY)


def decode_payload(name: str, f_port: int | None, data: bytes) -> dict[str, Any]:
    return get_codec(name).decode(f_port, data)


def encode_payload(name: str, f_port: int | None, obj: Mapping[str, Any]) -> bytes:
    return get_codec(name).encode(f_port, obj)
