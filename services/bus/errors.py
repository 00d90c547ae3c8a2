"""Errors raised by the bus package (adapters catch handler errors; these are the bus's own)."""

from __future__ import annotations


class BusError(Exception):
    """Base class of every error the bus raises."""


class BusClosed(BusError):
    """publish() or subscribe() on a bus that is stopped (or, for subscribe, already started)."""


class UnknownTopic(BusError):
    """The topic is not in the registry of services.bus.topics."""


class TopicMismatch(BusError):
    """The message model does not match the model registered for the topic."""


class DecodeError(BusError):
    """Raw bytes on a topic cannot be decoded into the topic's model (poison message)."""


class UnsupportedSchemaVersion(DecodeError):
    """The message was written with a newer schema_version than this consumer understands."""


class UnroutableFrame(BusError):
    """No partition key (DevAddr / DevEUI) can be read from a PHYPayload."""


class PermanentFailure(BusError):
    """Raised by a handler to skip the retries and park the message on the DLQ at once."""
