"""Settings of the migration service (env prefix HYPERLORA_MIGRATION_)."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from .data import ZoneParams


class ZoneModel(BaseModel):
    """A zone's ordering service as the model sees it (capacity = batch_size /
    block_interval_s records/s)."""

    batch_size: int = Field(default=10, ge=1)
    batch_timeout_s: float = Field(default=0.25, gt=0)
    block_interval_s: float = Field(default=0.25, gt=0)
    raft_delay_s: float = Field(default=0.05, ge=0)

    def params(self) -> ZoneParams:
        return ZoneParams(
            self.batch_size, self.batch_timeout_s, self.block_interval_s, self.raft_delay_s
        )


class MigrationSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HYPERLORA_MIGRATION_", extra="ignore")

    enabled: bool = True
    policy: str = "none"  # none | threshold | predictive (or a registered plugin)
    period_s: float = Field(default=10.0, gt=0)
    # between two decisions, a fast check every fast_check_s lets a policy that can react
    # (predictive: onset detection) act on a burst at once; 0 turns it off
    fast_check_s: float = Field(default=1.0, ge=0)
    zones: list[str] = []
    data_dir: str = Field(
        default="./data",
        validation_alias=AliasChoices(
            "HYPERLORA_MIGRATION_DATA_DIR", "HYPERLORA_DATA_DIR", "data_dir"
        ),
    )
    target_utilisation: float = Field(default=0.8, gt=0, le=1)
    # damping: per period, per share; changes below the deadband are ignored (hysteresis)
    max_step_up: float = Field(default=0.5, gt=0, le=1)
    max_step_down: float = Field(default=0.1, gt=0, le=1)
    deadband: float = Field(default=0.05, ge=0, lt=1)
    # zone model: the default and per-zone overrides
    zone_model: ZoneModel = ZoneModel()
    zone_models: dict[str, ZoneModel] = {}
    # policy options, e.g. {"backlog_threshold": 100, "latency_threshold_s": 2.0} for
    # threshold; for predictive {"forecaster": "ewma", "alpha": 0.2, "min_gain": 0.03,
    # "onset_threshold": 10, "onset_confidence": 1.5, "onset_backlog": 20} (the defaults;
    # "forecaster": "holt" with "alpha": 0.6, "beta": 0.3 suits fast_check_s = 0 better)
    policy_options: dict[str, Any] = {}

    def params(self) -> dict[str, ZoneParams]:
        return {z: self.zone_models.get(z, self.zone_model).params() for z in self.zones}
