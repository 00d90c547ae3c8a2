"""Network server settings (env prefix HYPERLORA_NS_)."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.lorawan.region import get_region


class NetworkServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HYPERLORA_NS_", extra="ignore")

    net_id: str = "000000"  # hex, 3 bytes
    region: str = "EU868"
    dedup_window_ms: int = Field(default=200, ge=0, le=10_000)
    # close a data frame's window once as many gateways reported it as heard the device's
    # recent frames (the max over its last dedup_history_frames); see docs/operating.md
    dedup_early_close: bool = True
    dedup_history_frames: int = Field(default=8, ge=1, le=1000)
    rx1_delay: int | None = Field(default=None, ge=1, le=15)  # None: the session's value
    rx2_freq_hz: int | None = None  # None: the session's (else the region's) RX2 frequency
    rx2_dr: int | None = Field(default=None, ge=0, le=15)
    downlink_tx_power_dbm: int | None = None  # None: the region default
    allow_adr: bool = True  # False: never echo the ADR bit, ignore drcc.link_adr
    consumer_group: str = "network_server"
    concurrency: int = Field(default=4, ge=1)  # bus partitions handled at once per topic
    # frames processed at once (their session writes share one transaction: group commit)
    max_concurrent_uplinks: int = Field(default=256, ge=1)
    mac_command_max_retries: int = Field(default=3, ge=0)
    f_opts_max_len: int = Field(default=15, ge=0, le=15)
    save_retries: int = Field(default=3, ge=1)  # optimistic-lock retries of a session save
    device_cache_size: int = Field(default=10_000, ge=0)
    session_cache_size: int = Field(default=100_000, ge=0)  # DevAddrs cached; 0: no cache
    # Several instances: a session changed outside the uplink path (queued downlink, MAC
    # command, join) is announced on ns.session_changed, and every other instance drops its
    # cached copy. Each instance reads that topic in a consumer group of its own,
    # "<consumer_group>-sessions-<instance_id>"; instance_id empty: random per process.
    session_broadcast: bool = True
    instance_id: str = Field(default="", max_length=64)
    commit_max_batch: int = Field(default=256, ge=1)  # session writes per transaction
    # How long the first session write of a batch waits for others before the transaction.
    # 3 ms cost the embedded platform 11 % less CPU per uplink at 700 uplinks/s (fewer,
    # fuller transactions; bench/bench_embedded_uplink.py, two interleaved pairs) for at
    # most 3 ms more latency; 0 commits a lone write at once.
    commit_linger_ms: float = Field(default=3.0, ge=0, le=100)

    @field_validator("net_id")
    @classmethod
    def _net_id_hex(cls, value: str) -> str:
        text = value.strip().upper()
        if len(text) != 6 or any(c not in "0123456789ABCDEF" for c in text):
            raise ValueError("net_id must be 6 hex digits")
        return text

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        return get_region(value).name
