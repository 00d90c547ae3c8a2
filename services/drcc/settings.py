"""DRCC service settings (env prefix HYPERLORA_DRCC_).

Examples: ``HYPERLORA_DRCC_DEFAULT_POLICY=drcc``, ``HYPERLORA_DRCC_DER_LOW=0.7``,
``HYPERLORA_DRCC_CHANNEL_PLAN='{"EU868": [867100000, 867300000]}'``.
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.lorawan.region import get_region

from .plugins import FACTORIES, AdrParams, DrccParams, canonical_name

#: channels the network adds to the region's default ones (the join server's CFList plan)
DEFAULT_EXTRA_CHANNELS: dict[str, list[int]] = {
    "EU868": [867_100_000, 867_300_000, 867_500_000, 867_700_000, 867_900_000],
}


class DrccSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HYPERLORA_DRCC_", extra="ignore")

    region: str = "EU868"
    #: policy for devices whose profile says "default" (or has no profile)
    default_policy: str = "lorawan-adr"
    consumer_group: str = "drcc"
    concurrency: int = Field(default=4, ge=1)
    #: channels beyond the region's defaults, per region (indices follow the defaults)
    channel_plan: dict[str, list[int]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_EXTRA_CHANNELS.items()}
    )
    #: only devices that set the ADR bit are controlled (LoRaWAN: the NS must not otherwise)
    respect_adr_bit: bool = True
    #: uplinks kept per device (persisted in the DRCC state JSON)
    history_size: int = Field(default=32, ge=1, le=256)
    #: global channel usage: sliding window and assumed application payload size
    usage_window_s: float = Field(default=600.0, gt=0)
    usage_bins: int = Field(default=20, ge=1)
    default_payload_bytes: int = Field(default=20, ge=0, le=242)
    profile_cache_s: float = Field(default=60.0, ge=0)
    #: coalesced state writes: a device's state is written after this many uplinks, or
    #: ``state_write_s`` seconds after its oldest unwritten one, and always with a decision
    #: (1: every uplink). A crash loses at most that much history (service.py explains)
    state_write_every: int = Field(default=16, ge=1)
    state_write_s: float = Field(default=30.0, gt=0)
    #: devices whose state is kept in memory (least recently used ones are written and dropped)
    state_cache_size: int = Field(default=5_000, ge=1)
    #: write each published decision to the network ledger (ledger.tx, kind "link_adr")
    ledger_enabled: bool = True
    #: zone the network-ledger records name (the network ledger is shared by every zone)
    ledger_zone: str = Field(default="default", min_length=1)
    # lorawan-adr
    adr_installation_margin_db: float = 10.0
    adr_min_history: int = Field(default=20, ge=1)
    # drcc
    der_window: int = Field(default=16, ge=2)
    der_min_samples: int = Field(default=6, ge=2)
    snr_min_samples: int = Field(default=2, ge=1)  # frames before an early (SNR-only) raise
    der_low: float = Field(default=0.75, gt=0, le=1)
    der_high: float = Field(default=0.9, gt=0, le=1)
    snr_guard_db: float = 6.0
    link_floor_db: float = -2.0
    min_uplinks_between_decisions: int = Field(default=8, ge=1)
    min_seconds_between_decisions: float = Field(default=300.0, ge=0)
    channel_imbalance: float = Field(default=0.25, ge=0)
    min_channels: int = Field(default=3, ge=1)
    keep_default_channels: bool = False
    power_control: bool = False
    metrics_port: int | None = Field(default=None, ge=0, le=65535)

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        return get_region(value).name

    @field_validator("default_policy")
    @classmethod
    def _known_policy(cls, value: str) -> str:
        name = canonical_name(value)
        if name not in FACTORIES:
            raise ValueError(f"unknown policy {value!r}; known: {sorted(FACTORIES)}")
        return name

    @model_validator(mode="after")
    def _hysteresis(self) -> DrccSettings:
        if self.der_low > self.der_high:
            raise ValueError("der_low must not exceed der_high (hysteresis band)")
        return self

    def channel_plan_hz(self, region_name: str | None = None) -> tuple[int, ...]:
        """Default channels of the region followed by the configured extra ones."""
        region = get_region(region_name or self.region)
        base = [c.frequency_hz for c in region.default_channels()]
        extra = [f for f in self.channel_plan.get(region.name, []) if f not in base]
        return tuple(base + extra)

    def adr_params(self) -> AdrParams:
        return AdrParams(
            installation_margin_db=self.adr_installation_margin_db,
            min_history=self.adr_min_history,
            history_length=max(self.adr_min_history, 20),
        )

    def drcc_params(self) -> DrccParams:
        return DrccParams(
            window=self.der_window,
            min_samples=self.der_min_samples,
            snr_min_samples=self.snr_min_samples,
            der_low=self.der_low,
            der_high=self.der_high,
            snr_guard_db=self.snr_guard_db,
            link_floor_db=self.link_floor_db,
            min_uplinks=self.min_uplinks_between_decisions,
            min_interval_s=self.min_seconds_between_decisions,
            channel_imbalance=self.channel_imbalance,
            min_channels=self.min_channels,
            keep_default_channels=self.keep_default_channels,
            power_control=self.power_control,
            payload_bytes=self.default_payload_bytes,
            usage_window_s=self.usage_window_s,
        )
