"""Encryption at rest (AES-GCM under the KEK, bound to its place) and storage settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.storage.crypto import KeyCipher
from services.storage.errors import InsecureSettings, KeyDecryptionError
from services.storage.settings import DEV_KEK_HEX, StorageSettings

KEK = bytes(range(32))
PLACE = {"table": "devices", "column": "nwk_key", "row_id": "0102030405060708"}


def test_round_trip_and_randomised() -> None:
    cipher = KeyCipher(KEK)
    key = bytes(range(16))
    a = cipher.encrypt(key, **PLACE)
    b = cipher.encrypt(key, **PLACE)
    assert a != b  # random nonce
    assert key not in a
    assert len(a) == 1 + 12 + 16 + 16
    assert cipher.decrypt(a, **PLACE) == key


@pytest.mark.parametrize(
    "other",
    [
        {"table": "devices", "column": "app_key", "row_id": "0102030405060708"},
        {"table": "devices", "column": "nwk_key", "row_id": "0102030405060709"},
        {"table": "device_sessions", "column": "nwk_key", "row_id": "0102030405060708"},
    ],
)
def test_ciphertext_bound_to_table_column_row(other: dict[str, str]) -> None:
    cipher = KeyCipher(KEK)
    blob = cipher.encrypt(b"k" * 16, **PLACE)
    with pytest.raises(KeyDecryptionError):
        cipher.decrypt(blob, **other)


def test_wrong_kek_gives_clear_error() -> None:
    blob = KeyCipher(KEK).encrypt(b"k" * 16, **PLACE)
    with pytest.raises(KeyDecryptionError, match="wrong key-encryption key"):
        KeyCipher(bytes(32)).decrypt(blob, **PLACE)


@pytest.mark.parametrize("blob", [b"", b"\x01" * 10, b"\x02" + bytes(40)])
def test_garbage_blob_refused(blob: bytes) -> None:
    with pytest.raises(KeyDecryptionError):
        KeyCipher(KEK).decrypt(blob, **PLACE)


def test_tampered_blob_refused() -> None:
    cipher = KeyCipher(KEK)
    blob = bytearray(cipher.encrypt(b"k" * 16, **PLACE))
    blob[20] ^= 1
    with pytest.raises(KeyDecryptionError):
        cipher.decrypt(bytes(blob), **PLACE)


def test_kek_length_checked() -> None:
    with pytest.raises(ValueError):
        KeyCipher(bytes(16))


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("HYPERLORA_STORAGE_URL", "postgresql+asyncpg://u:p@127.0.0.1/hl")
    monkeypatch.setenv("HYPERLORA_STORAGE_KEK", "AB" * 32)
    s = StorageSettings()
    assert s.database_url == "postgresql+asyncpg://u:p@127.0.0.1/hl"
    assert s.kek_bytes == b"\xab" * 32


def test_default_url_is_sqlite_in_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HYPERLORA_STORAGE_URL", raising=False)
    monkeypatch.setenv("HYPERLORA_DATA_DIR", "/var/lib/hyperlora")
    assert StorageSettings().database_url == "sqlite+aiosqlite:////var/lib/hyperlora/hyperlora.db"


def test_dev_kek_refused_outside_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HYPERLORA_STORAGE_KEK", raising=False)
    assert StorageSettings(environment="development").kek == DEV_KEK_HEX
    with pytest.raises(InsecureSettings):
        StorageSettings(environment="production")
    monkeypatch.setenv("HYPERLORA_ENVIRONMENT", "production")
    with pytest.raises(InsecureSettings):
        StorageSettings()
    assert StorageSettings(kek="cd" * 32).environment == "production"


@pytest.mark.parametrize("kek", ["zz" * 32, "ab" * 16, ""])
def test_bad_kek_refused(kek: str) -> None:
    with pytest.raises(ValidationError):
        StorageSettings(kek=kek)
