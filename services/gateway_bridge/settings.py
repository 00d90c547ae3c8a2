"""Gateway bridge settings (env prefix HYPERLORA_GATEWAY_BRIDGE_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewayBridgeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HYPERLORA_GATEWAY_BRIDGE_", extra="ignore")

    bind_host: str = "127.0.0.1"  # 0.0.0.0 to hear gateways on other hosts
    bind_port: int = Field(default=1700, ge=0, le=65535)
    allow_unknown_gateways: bool = True  # False: drop datagrams of gateways is_known refuses
    consumer_group: str = "gateway_bridge"  # consumer group on gw.down
    downlink_route_ttl_s: float | None = Field(default=None, gt=0)  # None: never stale
    tx_ack_timeout_s: float = Field(default=30.0, gt=0)  # forget a PULL_RESP after this
    housekeeping_interval_s: float = Field(default=5.0, gt=0)
    # SO_RCVBUF of the UDP socket: bursts of datagrams wait in the kernel while the event
    # loop is busy instead of being dropped (capped by net.core.rmem_max; 0: the OS default)
    udp_receive_buffer_bytes: int = Field(default=4 * 1024 * 1024, ge=0)
    publish_queue_size: int = Field(default=10_000, ge=1)  # datagram -> bus backlog bound
    # publishes awaiting the bus's acknowledgement at once (1: one round trip per message,
    # ~130 uplinks/s against Kafka on a busy 2-core machine); they are enqueued in order
    publish_in_flight: int = Field(default=256, ge=1)
    # a failed publish is retried (backoff doubling from publish_retry_backoff_s, capped at
    # 2 s) this many times in all, then the message is dropped and counted
    publish_attempts: int = Field(default=8, ge=1)
    publish_retry_backoff_s: float = Field(default=0.05, gt=0)
    zone: str | None = None  # zone stamped on gw.up / gw.stats when the registry has none
    metrics_port: int | None = Field(default=None, ge=0, le=65535)  # Prometheus /metrics
