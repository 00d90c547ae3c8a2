"""Settings of the ledger adapters and the ledger writer (env prefix HYPERLORA_LEDGER_)."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class LedgerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HYPERLORA_LEDGER_", extra="ignore")

    backend: Literal["embedded", "fabric"] = "embedded"
    data_dir: str = Field(
        default="./var/data",
        validation_alias=AliasChoices(
            "HYPERLORA_LEDGER_DATA_DIR", "HYPERLORA_DATA_DIR", "data_dir"
        ),
    )
    # fabric: the client profile deploy/fabric writes (<state>/fabric/connection.json)
    fabric_profile: str = ""
    # embedded orderer: BatchSize.MaxMessageCount and BatchTimeout
    batch_size: int = Field(default=10, ge=1)
    batch_timeout_ms: int = Field(default=250, ge=1)
    # client identity and channel write policy (embedded genesis blocks)
    msp_id: str = "OperatorMSP"
    operator_msp: str = "OperatorMSP"
    zone_msps: dict[str, str] = {}  # zone -> MSP id; default "<Zone>MSP"
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL"] = "NORMAL"
    # ledger writer
    writer_max_batch: int = Field(default=50, ge=1, le=1000)  # chaincode MAX_BATCH
    writer_linger_ms: int = Field(default=10, ge=0)
    # ledger.tx records received within this window share one outbox transaction
    writer_intake_window_ms: float = Field(default=10.0, ge=0)
    writer_backoff_initial_s: float = Field(default=0.1, gt=0)
    writer_backoff_max_s: float = Field(default=5.0, gt=0)
    # records in flight per lane: room for >= 10 transactions of writer_max_batch records, so the
    # orderer cuts full blocks (10 tx) instead of waiting for its batch timeout
    writer_max_in_flight: int = Field(default=1000, ge=1)
