"""Start-up: make sure the configured admin API key exists (only its SHA-256 is stored)."""

from __future__ import annotations

import logging

from services.storage import ApiKey, Storage

log = logging.getLogger("hyperlora.api")

BOOTSTRAP_KEY_NAME = "bootstrap admin (HYPERLORA_API_ADMIN_API_KEY)"


class AdminKeyConflict(RuntimeError):
    """The configured admin secret is already the secret of a non-admin key."""


async def ensure_admin_key(storage: Storage, secret: str, name: str = BOOTSTRAP_KEY_NAME) -> ApiKey:
    """Return the admin key with this secret, creating it when missing (idempotent)."""
    existing = await storage.api_keys.authenticate(secret)
    if existing is not None:
        if not existing.is_admin:
            raise AdminKeyConflict("admin_api_key is the secret of a tenant API key")
        return existing
    key, _ = await storage.api_keys.create(
        ApiKey(name=name, tenant_id=None, is_admin=True), secret=secret
    )
    log.info("api.admin_key.created key_id=%s", key.id)
    return key
