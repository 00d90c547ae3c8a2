"""Errors of the application handler (caught at the adapter edge, logged and counted)."""

from __future__ import annotations


class AppHandlerError(Exception):
    """Base class of every app handler error."""


class CodecError(AppHandlerError):
    """A payload cannot be decoded or encoded by the selected codec."""


class UnknownCodec(CodecError):
    """No codec is registered under that name."""


class UnknownAppSession(AppHandlerError):
    """No application session (AppSKey) for the device, or not the session of the frame."""


class InvalidDownlink(AppHandlerError):
    """A downlink request the handler cannot encrypt (already encrypted, bad port, ...)."""


class CounterExhausted(AppHandlerError):
    """The 32-bit downlink counter of the session is used up: the device must rejoin."""


class InvalidCommand(AppHandlerError):
    """An MQTT ``command/down`` message that is not valid (JSON, fields, wrong application)."""


class InsecureSettings(AppHandlerError):
    """Settings refused outside development (AppSKeys accepted in clear)."""


class DeliveryRetry(AppHandlerError):
    """An integration delivery failed for now (broker away, timeout, 5xx, 429): retry."""


class DeliveryRefused(AppHandlerError):
    """An integration delivery was refused for good (a 4xx answer): do not retry."""
