"""Composition helper: the bus adapter chosen by settings."""

from __future__ import annotations

from typing import Any

from .base import Bus
from .settings import BusSettings


def memory_options(settings: BusSettings) -> dict[str, Any]:
    """The MemoryBus (and LinkedBus) keyword arguments the settings give."""
    return {
        "partitions": settings.partitions,
        "queue_size": settings.queue_size,
        "retry": settings.retry_policy(),
        "drain_timeout_s": settings.drain_timeout_s,
        "partitions_per_topic": settings.partitions_per_topic,
        "dlq_keep": settings.dlq_keep,
    }


def make_bus(settings: BusSettings | None = None) -> Bus:
    """A MemoryBus (``backend=memory``, the embedded default) or a KafkaBus (``kafka``)."""
    settings = settings or BusSettings()
    if settings.backend == "kafka":
        from .kafka import KafkaBus  # aiokafka connection code only when asked for

        return KafkaBus(settings)
    from .memory import MemoryBus

    return MemoryBus(**memory_options(settings))
