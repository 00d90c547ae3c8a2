"""Prometheus metrics of the migration service, named hyperlora_migration_<what>_<unit>."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

DECISIONS = Counter(
    "hyperlora_migration_decisions",
    "Migration decisions taken (changed: the routing changed)",
    ["policy", "changed"],
)
REACTIONS = Counter(
    "hyperlora_migration_reactions",
    "Fast-check reactions between decisions that changed the routing (onset detected)",
    ["policy"],
)
EPOCH = Gauge("hyperlora_migration_routing_epoch", "Current routing epoch")
SHARE = Gauge(
    "hyperlora_migration_routed_share_ratio",
    "Share of an origin zone's application records routed to another zone",
    ["origin_zone", "zone"],
)
MIGRATED = Counter(
    "hyperlora_migration_migrated_records",
    "Application records stored in another zone than their origin",
    ["origin_zone", "zone"],
)
ARRIVAL_RATE = Gauge(
    "hyperlora_migration_arrival_rate_records_per_second",
    "Records per second whose zone is this zone (before routing), last period",
    ["zone"],
)
PREDICTED_LATENCY = Gauge(
    "hyperlora_migration_predicted_latency_seconds",
    "Commit latency the predictive policy's model expects for the next period",
    ["zone"],
)
ERRORS = Counter(
    "hyperlora_migration_errors",
    "Decision periods that failed (stats source or policy error)",
    ["error"],
)
