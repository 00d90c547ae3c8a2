"""Bus settings (env prefix HYPERLORA_BUS_, nested sections with ``__``).

Examples: ``HYPERLORA_BUS_BACKEND=kafka``, ``HYPERLORA_BUS_PARTITIONS=16``,
``HYPERLORA_BUS_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:9092``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from .base import RetryPolicy


class KafkaSettings(BaseModel):
    bootstrap_servers: str = "127.0.0.1:9092"
    client_id: str = "hyperlora"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    create_topics: bool = True  # create missing topics (and their .dlq) at start
    replication_factor: int = Field(default=1, ge=1)
    linger_ms: int = Field(default=0, ge=0)  # concurrent publishes batch up by themselves
    max_batch_size: int = Field(default=16384, ge=1024)
    compression_type: Literal["gzip", "snappy", "lz4", "zstd"] | None = None
    request_timeout_ms: int = 30000
    session_timeout_ms: int = 10000
    # how long the broker waits for every member to rejoin a rebalance; a member's revoke
    # (drain + commit) is bounded by half of it, so a slow handler never makes it miss the
    # rebalance (which would start another one: a rebalance storm)
    rebalance_timeout_ms: int = Field(default=30000, ge=1000)
    heartbeat_interval_ms: int = 3000
    max_poll_interval_ms: int = 300000
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    max_poll_records: int = Field(default=500, ge=1)
    fetch_timeout_ms: int = Field(default=200, ge=1)
    commit_interval_s: float = Field(default=0.5, gt=0)
    # records of one partition taken but not finished (completions pending) before the
    # partition worker waits for some to finish
    max_pending_completions: int = Field(default=1000, ge=1)
    # records of one partition handled at once when their keys differ (records of one key
    # are always handled in order, one after the other). 1: the partition's records one at
    # a time. Above 1, a handler that awaits storage (a group commit) no longer caps a
    # partition at one record per round trip.
    key_parallelism: int = Field(default=16, ge=1)
    lag_interval_s: float = Field(default=5.0, gt=0)


class BusSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HYPERLORA_BUS_", env_nested_delimiter="__", extra="ignore"
    )

    backend: Literal["memory", "kafka"] = "memory"
    partitions: int = Field(default=8, ge=1)  # per topic, unless partitions_per_topic says
    partitions_per_topic: dict[str, int] = {}
    queue_size: int = Field(default=1000, ge=1)  # per partition per group (memory bus)
    max_attempts: int = Field(default=4, ge=1)  # handler attempts before the DLQ
    retry_backoff_initial_s: float = Field(default=0.05, ge=0)
    retry_backoff_multiplier: float = Field(default=2.0, ge=1)
    retry_backoff_max_s: float = Field(default=2.0, ge=0)
    drain_timeout_s: float = Field(default=10.0, ge=0)
    dlq_keep: int = Field(default=1000, ge=0)  # memory bus: dead letters kept for inspection
    kafka: KafkaSettings = KafkaSettings()

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.max_attempts,
            backoff_initial_s=self.retry_backoff_initial_s,
            backoff_multiplier=self.retry_backoff_multiplier,
            backoff_max_s=self.retry_backoff_max_s,
        )

    def partitions_of(self, topic: str) -> int:
        return self.partitions_per_topic.get(topic, self.partitions)
