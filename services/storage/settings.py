"""Storage settings (env prefix ``HYPERLORA_STORAGE_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import InsecureSettings

# Development-only key-encryption key. Refused when environment != "development".
DEV_KEK_HEX = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"


def default_url(data_dir: str | Path) -> str:
    """The embedded default database: SQLite in the data directory."""
    return f"sqlite+aiosqlite:///{Path(data_dir) / 'hyperlora.db'}"


class StorageSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HYPERLORA_STORAGE_", extra="ignore")

    # Empty: SQLite at <data_dir>/hyperlora.db. PostgreSQL: postgresql+asyncpg://user:pw@host/db
    url: str = ""
    # Key-encryption key for root and session keys at rest: 32 bytes as 64 hex characters.
    kek: str = DEV_KEK_HEX
    data_dir: str = Field(
        default="./var/data",
        validation_alias=AliasChoices(
            "HYPERLORA_STORAGE_DATA_DIR", "HYPERLORA_DATA_DIR", "data_dir"
        ),
    )
    environment: str = Field(
        default="development",
        validation_alias=AliasChoices(
            "HYPERLORA_STORAGE_ENVIRONMENT", "HYPERLORA_ENVIRONMENT", "environment"
        ),
    )

    # PostgreSQL connection pool (ignored for SQLite). A checkout beyond pool_size opens an
    # overflow connection that is closed again when returned: a new PostgreSQL backend
    # process per burst. The uplink path runs many reads and batches at once, so the pool
    # keeps more open than SQLAlchemy's default of 5 (deploy/postgres allows 300 connections:
    # eight processes with a full pool and overflow fit).
    pool_size: int = Field(default=15, ge=1)
    pool_max_overflow: int = Field(default=15, ge=0)

    @field_validator("kek")
    @classmethod
    def _kek_is_32_bytes_hex(cls, value: str) -> str:
        try:
            raw = bytes.fromhex(value)
        except ValueError as exc:
            raise ValueError("kek must be hexadecimal") from exc
        if len(raw) != 32:
            raise ValueError("kek must be 32 bytes (64 hex characters)")
        return value.lower()

    @model_validator(mode="after")
    def _refuse_dev_kek_outside_development(self) -> StorageSettings:
        if self.environment != "development" and self.kek == DEV_KEK_HEX:
            raise InsecureSettings(
                "HYPERLORA_STORAGE_KEK is the built-in development key; set a secret 32-byte "
                f"hex key for environment {self.environment!r}"
            )
        return self

    @property
    def database_url(self) -> str:
        return self.url or default_url(self.data_dir)

    @property
    def kek_bytes(self) -> bytes:
        return bytes.fromhex(self.kek)
