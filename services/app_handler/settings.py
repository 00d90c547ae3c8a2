"""Application handler settings (env prefix ``HYPERLORA_APP_``).

Nested sections use ``__``: ``HYPERLORA_APP_MQTT__HOST=broker``,
``HYPERLORA_APP_MQTT__ENABLED=false``, ``HYPERLORA_APP_WEBHOOK__MAX_RETRIES=5``. The AppSKey
key-encryption key: ``HYPERLORA_APP_KEK_LABEL=kek1`` and ``HYPERLORA_APP_KEK=<hex>`` (the same
label and key as the join server's ``HYPERLORA_JS_KEK_LABEL`` / ``HYPERLORA_JS_KEK``).
"""

from __future__ import annotations

from pydantic import AliasChoices, BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import InsecureSettings


class MqttSettings(BaseModel):
    """The MQTT integration: events out, ``command/down`` in."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: str | None = None
    client_id: str = ""  # empty: "hyperlora-app-handler-<random>"
    # QoS 1 (default) or 2: an event leaves the outbox when the broker has acknowledged it;
    # with QoS 0, once it is written to the connection
    qos: int = Field(default=1, ge=0, le=2)
    publish_timeout_s: float = Field(default=10.0, gt=0)  # wait for the broker's PUBACK
    # QoS >= 1 publishes awaiting their PUBACK at once (the outbox relay keeps up to its
    # concurrency in flight; paho's default is 20)
    max_inflight: int = Field(default=64, ge=1)
    keepalive_s: int = Field(default=30, ge=5)
    queue_size: int = Field(default=10_000, ge=1)  # events waiting for the broker
    reconnect_initial_s: float = Field(default=0.5, gt=0)
    reconnect_max_s: float = Field(default=30.0, gt=0)
    topic_prefix: str = "application"


class WebhookSettings(BaseModel):
    """HTTP webhooks: one POST of each event to each of the application's URLs."""

    timeout_s: float = Field(default=5.0, gt=0)
    max_retries: int = Field(default=3, ge=0)  # retries after the first attempt
    backoff_initial_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=10.0, ge=0)
    queue_size: int = Field(default=10_000, ge=1)
    workers: int = Field(default=4, ge=1)


class OutboxSettings(BaseModel):
    """The integration outbox relay (services/app_handler/outbox.py)."""

    # the relay's identity: rows it writes are leased to it, and a relay restarted under the
    # same identity takes them back at once; empty: "<host>:<consumer group>". Give each
    # instance of a scaled-out app handler its own.
    instance_id: str = Field(default="", max_length=100)
    lease_s: float = Field(default=30.0, gt=0)  # another relay may take a row after this
    poll_interval_s: float = Field(default=1.0, gt=0)  # look for retries and orphaned rows
    claim_batch: int = Field(default=500, ge=1)
    concurrency: int = Field(default=64, ge=1)  # deliveries in flight
    retry_initial_s: float = Field(default=0.5, gt=0)  # MQTT: publish failed or timed out
    retry_max_s: float = Field(default=30.0, gt=0)
    # MQTT events wait while the broker is away, up to this age (then deleted, logged and
    # counted as expired: a platform whose broker never comes must not fill its disk)
    mqtt_max_age_s: float = Field(default=86_400.0, gt=0)
    failed_retention_s: float = Field(default=7 * 86_400.0, gt=0)  # webhook rows given up
    expire_every_s: float = Field(default=60.0, gt=0)


class RetentionSettings(BaseModel):
    """How long the device history is kept (services/app_handler/retention.py); 0: for ever.
    ``HYPERLORA_APP_RETENTION__UPLINK_LOG_S=86400`` keeps one day of uplinks."""

    uplink_log_s: float = Field(default=7 * 86_400.0, ge=0)  # GET /api/devices/{eui}/uplinks
    events_s: float = Field(default=30 * 86_400.0, ge=0)  # join, ack, ... events
    drcc_decisions_s: float = Field(default=30 * 86_400.0, ge=0)
    every_s: float = Field(default=300.0, ge=0)  # between two passes; 0: never prune
    batch: int = Field(default=2_000, ge=1)  # rows deleted per transaction


class AppHandlerSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HYPERLORA_APP_", env_nested_delimiter="__", extra="ignore"
    )

    consumer_group: str = "app_handler"
    # partitions handled at once per topic: their uplink log inserts share one transaction
    concurrency: int = Field(default=8, ge=1)
    commit_max_batch: int = Field(default=256, ge=1)  # uplink log records per transaction
    commit_linger_ms: float = Field(default=0.0, ge=0, le=100)  # wait to grow a batch
    # KEK the join server wraps AppSKeys with (RFC 3394). Empty label: keys arrive in clear
    # hex, accepted only in development.
    kek_label: str = ""
    kek: str = ""  # 16, 24 or 32 bytes as hex
    environment: str = Field(
        default="development",
        validation_alias=AliasChoices(
            "HYPERLORA_APP_ENVIRONMENT", "HYPERLORA_ENVIRONMENT", "environment"
        ),
    )
    default_zone: str = "default"  # ledger zone when the first gateway has none
    device_cache_ttl_s: float = Field(default=10.0, ge=0)  # device/application lookups
    session_cache_size: int = Field(default=100_000, ge=1)  # AppSKeys kept for the uplink path
    max_resubmits: int = Field(default=3, ge=0)  # "f_cnt_stale" re-encryptions per request
    pending_downlinks: int = Field(default=10_000, ge=1)  # plain payloads kept for resubmits
    seen_events: int = Field(default=10_000, ge=1)  # ids of join/ack/txack events (dedup)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    metrics_port: int | None = Field(default=None, ge=0, le=65535)

    @field_validator("kek")
    @classmethod
    def _kek_hex(cls, value: str) -> str:
        text = value.strip().lower()
        if not text:
            return ""
        try:
            raw = bytes.fromhex(text)
        except ValueError as exc:
            raise ValueError("kek must be hexadecimal") from exc
        if len(raw) not in (16, 24, 32):
            raise ValueError("kek must be 16, 24 or 32 bytes (32, 48 or 64 hex digits)")
        return text

    @model_validator(mode="after")
    def _kek_consistent(self) -> AppHandlerSettings:
        if bool(self.kek_label) != bool(self.kek):
            raise ValueError("kek_label and kek go together (both set, or both empty)")
        if not self.kek_label and self.environment != "development":
            raise InsecureSettings(
                "HYPERLORA_APP_KEK_LABEL/HYPERLORA_APP_KEK are empty: AppSKeys would be "
                f"accepted in clear, refused for environment {self.environment!r}"
            )
        return self

    @property
    def kek_bytes(self) -> bytes | None:
        return bytes.fromhex(self.kek) if self.kek else None
