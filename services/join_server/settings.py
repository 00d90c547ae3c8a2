"""Join server settings (env prefix ``HYPERLORA_JS_``).

Examples: ``HYPERLORA_JS_NET_ID=000013``, ``HYPERLORA_JS_KEK_LABEL=kek1``,
``HYPERLORA_JS_KEK=<32, 48 or 64 hex digits>``, ``HYPERLORA_JS_SUB_BANDS=[1]``.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import InsecureSettings

#: Extra channels a type-0 CFList announces, per dynamic-plan region (Hz).
DEFAULT_CF_LIST_FREQUENCIES: dict[str, list[int]] = {
    "EU868": [867_100_000, 867_300_000, 867_500_000, 867_700_000, 867_900_000],
}


class JoinServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HYPERLORA_JS_", extra="ignore")

    # NetID of the network: written in every JoinAccept, and DevAddrs are allocated under it.
    net_id: str = "000000"
    # AppSKey wrapping (RFC 3394) for js.app_s_key. Empty label: the key travels in clear hex,
    # refused outside development.
    kek_label: str = ""
    kek: str = ""  # 16, 24 or 32 bytes as hex
    environment: str = Field(
        default="development",
        validation_alias=AliasChoices(
            "HYPERLORA_JS_ENVIRONMENT", "HYPERLORA_ENVIRONMENT", "environment"
        ),
    )
    consumer_group: str = "join_server"
    concurrency: int = Field(default=4, ge=1)
    # Default RX settings, used when a device has no profile; a profile's values that do not
    # fit the region fall back to the region's defaults (RX2) or 0 (RX1 DR offset).
    rx1_delay_s: int = Field(default=1, ge=1, le=15)
    rx1_dr_offset: int = Field(default=0, ge=0, le=7)
    rx2_dr: int | None = Field(default=None, ge=0, le=15)  # None: the region's default
    rx2_freq_hz: int | None = None  # None: the region's default
    # Channel plan announced in the JoinAccept CFList.
    cf_list_frequencies: dict[str, list[int]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_CF_LIST_FREQUENCIES.items()}
    )
    sub_bands: list[int] = Field(default_factory=lambda: [2])  # US915/AU915: 1..8
    # DevAddr allocation: random NwkAddrs tried until one is not used by any session.
    dev_addr_attempts: int = Field(default=8, ge=1)
    # Idempotency: answers remembered in memory (and persisted as device events).
    answer_cache_size: int = Field(default=10_000, ge=1)
    answer_lookup_events: int = Field(default=50, ge=1)  # device events searched on a replay
    metrics_port: int | None = Field(default=None, ge=0, le=65535)

    @field_validator("net_id")
    @classmethod
    def _net_id_hex(cls, value: str) -> str:
        text = value.strip().upper()
        try:
            raw = bytes.fromhex(text)
        except ValueError as exc:
            raise ValueError("net_id must be 6 hex digits") from exc
        if len(raw) != 3:
            raise ValueError("net_id must be 6 hex digits")
        return text

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

    @field_validator("sub_bands")
    @classmethod
    def _sub_bands(cls, value: list[int]) -> list[int]:
        if not value or any(not 1 <= sb <= 8 for sb in value):
            raise ValueError("sub_bands: one or more of 1..8")
        return sorted(set(value))

    @model_validator(mode="after")
    def _kek_consistent(self) -> JoinServerSettings:
        if self.kek_label and not self.kek:
            raise ValueError("kek_label is set but kek is empty")
        if self.kek and not self.kek_label:
            raise ValueError("kek is set but kek_label is empty (name the KEK)")
        if not self.kek_label and self.environment != "development":
            raise InsecureSettings(
                "HYPERLORA_JS_KEK_LABEL/HYPERLORA_JS_KEK are empty: AppSKeys would travel in "
                f"clear, refused for environment {self.environment!r}"
            )
        return self

    @property
    def kek_bytes(self) -> bytes | None:
        return bytes.fromhex(self.kek) if self.kek else None
