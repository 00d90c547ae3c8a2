"""Prometheus metrics of the bus, named hyperlora_bus_<what>_<unit>.

Process-wide (default registry), labelled by topic and consumer group. Each bus instance also
keeps plain per-instance counters (base.BusCounters) for tests and the CLI.
"""

from __future__ import annotations

import functools
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

PUBLISHED = Counter(
    "hyperlora_bus_published_messages",
    "Messages published to the bus",
    ["topic"],
)
PUBLISHED_BYTES = Counter(
    "hyperlora_bus_published_bytes",
    "Encoded bytes published to the bus",
    ["topic"],
)
HANDLED = Counter(
    "hyperlora_bus_handled_messages",
    "Messages a consumer group handled successfully",
    ["topic", "group"],
)
FAILED = Counter(
    "hyperlora_bus_failed_attempts",
    "Handler attempts that raised",
    ["topic", "group"],
)
DLQ = Counter(
    "hyperlora_bus_dlq_messages",
    "Messages parked on the dead-letter topic",
    ["topic", "group", "reason"],
)
UNROUTED = Counter(
    "hyperlora_bus_unrouted_messages",
    "In-process bus: messages published to a topic without subscribers",
    ["topic"],
)
HANDLE_LATENCY = Histogram(
    "hyperlora_bus_handle_latency_seconds",
    "Handler run time per attempt",
    ["topic", "group"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
)
PUBLISH_WAIT = Histogram(
    "hyperlora_bus_publish_wait_seconds",
    "Time publish() waited for the bus to accept a message (backpressure)",
    ["topic"],
    buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0),
)
QUEUE_DEPTH = Gauge(
    "hyperlora_bus_queue_depth_messages",
    "In-process bus: records waiting in a consumer group's partition queues",
    ["topic", "group"],
)
CONSUMER_LAG = Gauge(
    "hyperlora_bus_consumer_lag_messages",
    "Kafka: high watermark minus committed offset, per partition",
    ["topic", "group", "partition"],
)


# Labelled children, cached: ``Metric.labels()`` costs more than the bus hot path itself.
@functools.cache
def published(topic: str) -> tuple[Any, Any]:
    return PUBLISHED.labels(topic), PUBLISHED_BYTES.labels(topic)


@functools.cache
def publish_wait(topic: str) -> Any:
    return PUBLISH_WAIT.labels(topic)


@functools.cache
def queue_depth(topic: str, group: str) -> Any:
    return QUEUE_DEPTH.labels(topic, group)


@functools.cache
def handled(topic: str, group: str) -> Any:
    return HANDLED.labels(topic, group)


@functools.cache
def handle_latency(topic: str, group: str) -> Any:
    return HANDLE_LATENCY.labels(topic, group)
