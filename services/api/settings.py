"""API settings (env prefix ``HYPERLORA_API_``)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_ADMIN_KEY_LENGTH = 20


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HYPERLORA_API_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)  # 0: any free port (tests)
    # When set, ensured at start-up as an admin API key (no tenant): the bootstrap credential.
    admin_api_key: SecretStr | None = None
    # Event stream: queued events per subscriber (oldest dropped when full), subscriber cap.
    event_queue_size: int = Field(default=256, ge=1, le=100_000)
    max_event_subscribers: int = Field(default=100, ge=1)
    # Distributed mode: the consumer group reading the app handler's events (as.event). Every
    # API instance needs its own group to see every event (default: one per host name).
    events_group: str | None = None
    events_max_age_s: float = Field(default=30.0, gt=0)  # older events are not streamed
    # Seconds between SSE keep-alive comments on an idle stream.
    event_keepalive_s: float = Field(default=15.0, gt=0)
    log_level: str = "info"

    @field_validator("admin_api_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if len(value.get_secret_value()) < MIN_ADMIN_KEY_LENGTH:
            raise ValueError(f"admin_api_key must be at least {MIN_ADMIN_KEY_LENGTH} characters")
        return value
