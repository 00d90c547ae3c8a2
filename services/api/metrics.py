"""Prometheus metrics of the API (default registry), named hyperlora_api_<what>_total."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

REQUESTS = Counter(
    "hyperlora_api_requests",
    "HTTP requests handled by the API, by route template and status code",
    ["route", "status"],
)
REJECTIONS = Counter(
    "hyperlora_api_rejections",
    "Requests refused by the API (4xx/503), by route template and reason",
    ["route", "reason"],
)
EVENTS_PUBLISHED = Counter(
    "hyperlora_api_events_published",
    "Events published into the in-process event hub",
)
EVENTS_DROPPED = Counter(
    "hyperlora_api_events_dropped",
    "Events dropped because a subscriber's queue was full (oldest dropped first)",
)
EVENT_SUBSCRIBERS = Gauge(
    "hyperlora_api_event_subscribers",
    "Live event-stream subscribers",
)
