"""Composition helper: the bus adapter chosen by settings."""

from __future__ import annotations

from .base import Bus
from .settings import BusSettings


def make_bus(settings: BusSettings | None = None) -> Bus:
    """A MemoryBus (``backend=memory``, the embedded default) or a KafkaBus (``kafka``)."""
    settings = settings or BusSettings()
    if settings.backend == "kafka":
        from .kafka import KafkaBus  # aiokafka connection code only when asked for

        return KafkaBus(settings)
    from .memory import MemoryBus

    return MemoryBus(
        partitions=settings.partitions,
        queue_size=settings.queue_size,
        retry=settings.retry_policy(),
        drain_timeout_s=settings.drain_timeout_s,
        partitions_per_topic=settings.partitions_per_topic,
        dlq_keep=settings.dlq_keep,
    )
