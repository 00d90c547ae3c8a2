"""Prometheus metrics of the application handler: hyperlora_app_handler_<what>_total.

Process-wide counters (default registry). Each service instance also keeps plain counters
(:class:`AppHandlerCounters`) so tests and the CLI can read one instance's figures.
"""

from __future__ import annotations

from collections import Counter as Tally
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge

UPLINKS = Counter(
    "hyperlora_app_handler_uplinks",
    "ns.up messages by result (new, duplicate, unknown_session, unknown_device, invalid)",
    ["result"],
)
DOWNLINKS = Counter(
    "hyperlora_app_handler_downlinks",
    "Application downlinks by result (encrypted, resubmitted, unknown_session, invalid, "
    "resubmit_exhausted, resubmit_unknown, counter_exhausted)",
    ["result"],
)
CODEC_ERRORS = Counter(
    "hyperlora_app_handler_codec_errors",
    "Payloads the application's codec could not decode (or unknown codec names)",
    ["codec"],
)
EVENTS = Counter(
    "hyperlora_app_handler_events",
    "Events emitted to the integrations, by type (up, join, ack, txack)",
    ["event"],
)
LEDGER_RECORDS = Counter(
    "hyperlora_app_handler_ledger_records",
    "ledger.tx records published, by channel",
    ["channel"],
)
APP_SESSIONS = Counter(
    "hyperlora_app_handler_app_sessions",
    "Application sessions stored, by source (join, abp) or refused (invalid_key)",
    ["result"],
)
MQTT_MESSAGES = Counter(
    "hyperlora_app_handler_mqtt_messages",
    "MQTT integration: events published / dropped (queue full) / failed, commands received "
    "/ rejected",
    ["result"],
)
MQTT_CONNECTIONS = Counter(
    "hyperlora_app_handler_mqtt_connections",
    "MQTT broker connections, by result (connected, failed, lost)",
    ["result"],
)
WEBHOOK_REQUESTS = Counter(
    "hyperlora_app_handler_webhook_requests",
    "Webhook POSTs by result (delivered, retried, failed, dropped)",
    ["result"],
)
OUTBOX = Counter(
    "hyperlora_app_handler_outbox",
    "Integration outbox deliveries by target (mqtt, webhook) and result (delivered, retried, "
    "failed)",
    ["target", "result"],
)
PRUNED = Counter(
    "hyperlora_app_handler_history_pruned_rows",
    "Device history rows deleted past their retention, by table (uplink_log, events, "
    "drcc_decisions)",
    ["table"],
)
PRUNE_FAILED = Counter(
    "hyperlora_app_handler_history_prune_failures",
    "Retention passes that failed (tried again at the next interval)",
)
OUTBOX_ROWS = Gauge(
    "hyperlora_app_handler_outbox_rows",
    "Integration outbox rows, by state (waiting, failed), as last counted by this process",
    ["state"],
)


@dataclass(slots=True)
class AppHandlerCounters:
    """One instance's counters: ``counters.uplinks["new"]`` and so on."""

    uplinks: Tally[str] = field(default_factory=Tally)
    downlinks: Tally[str] = field(default_factory=Tally)
    codec_errors: Tally[str] = field(default_factory=Tally)
    events: Tally[str] = field(default_factory=Tally)
    ledger_records: Tally[str] = field(default_factory=Tally)
    app_sessions: Tally[str] = field(default_factory=Tally)

    def uplink(self, result: str) -> None:
        self.uplinks[result] += 1
        UPLINKS.labels(result).inc()

    def downlink(self, result: str) -> None:
        self.downlinks[result] += 1
        DOWNLINKS.labels(result).inc()

    def codec_error(self, codec: str) -> None:
        self.codec_errors[codec] += 1
        CODEC_ERRORS.labels(codec).inc()

    def event(self, kind: str) -> None:
        self.events[kind] += 1
        EVENTS.labels(kind).inc()

    def ledger(self, channel: str) -> None:
        self.ledger_records[channel] += 1
        LEDGER_RECORDS.labels(channel).inc()

    def app_session(self, result: str) -> None:
        self.app_sessions[result] += 1
        APP_SESSIONS.labels(result).inc()
