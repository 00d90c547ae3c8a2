"""The embedded platform: every HyperLoRa service in one process (``hyperlora run``).

platform = EmbeddedPlatform(PlatformSettings())
await platform.run()          # until SIGINT / SIGTERM
"""

from .admin_key import ADMIN_KEY_FILE, FirstAdminKey, ensure_first_admin_key
from .logs import configure_logging
from .platform import EmbeddedPlatform, Endpoints
from .settings import PlatformSettings, ServiceSettings, derive_settings

__all__ = [
    "ADMIN_KEY_FILE",
    "EmbeddedPlatform",
    "Endpoints",
    "FirstAdminKey",
    "PlatformSettings",
    "ServiceSettings",
    "configure_logging",
    "derive_settings",
    "ensure_first_admin_key",
]
