"""The first-start admin API key.

When no admin key is configured (``HYPERLORA_ADMIN_API_KEY``) and the database holds no admin
key yet, one is generated, stored hashed (only its SHA-256, by the API key repository), and
handed back once: the caller prints it, and it is written to ``<data_dir>/admin-api-key`` with
mode 0600 so an operator who missed the output can still read it (and should delete the file).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from services.storage import ApiKey, Storage

ADMIN_KEY_FILE = "admin-api-key"
FIRST_KEY_NAME = "first-start admin (generated)"


@dataclass(frozen=True, slots=True)
class FirstAdminKey:
    secret: str
    key_id: str
    path: Path | None  # where the secret was written, None if the file could not be written


async def has_admin_key(storage: Storage) -> bool:
    offset = 0
    while True:
        page = await storage.api_keys.list(tenant_id=None, limit=100, offset=offset)
        if any(k.is_admin for k in page.items):
            return True
        offset += len(page.items)
        if not page.items or offset >= page.total:
            return False


def write_secret_file(path: Path, secret: str) -> None:
    """Write ``secret`` to ``path`` readable by the owner only (replacing an older file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (secret + "\n").encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


async def ensure_first_admin_key(storage: Storage, data_dir: Path) -> FirstAdminKey | None:
    """Create the first admin key when the database has none; None when one exists."""
    if await has_admin_key(storage):
        return None
    key, secret = await storage.api_keys.create(ApiKey(name=FIRST_KEY_NAME, is_admin=True))
    path: Path | None = data_dir / ADMIN_KEY_FILE
    assert path is not None
    try:
        write_secret_file(path, secret)
    except OSError:
        path = None
    return FirstAdminKey(secret=secret, key_id=str(key.id), path=path)
