"""Every error the LoRaWAN protocol library raises.

Decoders raise only subclasses of :class:`LoRaWANError`, whatever bytes they are given, so an
adapter can catch ``LoRaWANError`` at its edge, log it with context and count it.
"""

from __future__ import annotations


class LoRaWANError(Exception):
    """Base class of every error raised by ``services.lorawan``."""


class MalformedPacket(LoRaWANError):
    """Bytes that cannot be decoded as the expected structure (too short, bad field, ...)."""


class UnknownMessageType(MalformedPacket):
    """An MType or major version the library does not know."""


class UnknownMacCommand(MalformedPacket):
    """A MAC command identifier (CID) that is neither standard nor proprietary."""


class MicMismatch(LoRaWANError):
    """The message integrity code does not match the one computed with the given keys."""


class FrameCounterReplay(LoRaWANError):
    """A frame counter that is not greater than the last one accepted."""


class DevNonceReused(LoRaWANError):
    """A DevNonce seen before (or not increasing, where the version requires it)."""


class InvalidKey(LoRaWANError):
    """A key, EUI or DevAddr of the wrong length or format."""


class MissingKey(LoRaWANError):
    """An operation that needs a key (MIC, encryption) was called without it."""


class UnsupportedRegion(LoRaWANError):
    """A regional-parameters name the library does not know."""


class InvalidParameter(LoRaWANError):
    """A value out of range for the field or region (data rate, channel, power index, ...)."""
