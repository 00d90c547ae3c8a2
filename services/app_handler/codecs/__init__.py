"""Payload codecs, plugins registered by name: ``raw`` and ``cayenne_lpp`` built in.

An application selects one by name (``Integrations.codec``); a third-party codec registers
itself with :func:`register_codec` (any object with ``name``, ``decode`` and ``encode``).
"""

from __future__ import annotations

from .base import (
    PayloadCodec,
    codec_names,
    decode_payload,
    encode_payload,
    get_codec,
    register_codec,
)
from .cayenne_lpp import CayenneLppCodec
from .raw import RawCodec

register_codec(RawCodec(), replace=True)
register_codec(CayenneLppCodec(), replace=True)

__all__ = [
    "CayenneLppCodec",
    "PayloadCodec",
    "RawCodec",
    "codec_names",
    "decode_payload",
    "encode_payload",
    "get_codec",
    "register_codec",
]
