"""HyperLoRa storage: SQLAlchemy models, repositories, Alembic migrations.

Services code against the protocols in :mod:`services.storage.interfaces` and the domain
dataclasses in :mod:`services.storage.domain`. A composition root opens everything with::

    storage = await open_storage(StorageSettings())   # runs migrations
    device = await storage.devices.get(dev_eui, tenant_id=None)
    ...
    await storage.close()
"""

from .domain import (
    ApiKey,
    Application,
    Device,
    DeviceClass,
    DeviceProfile,
    DeviceSession,
    DrccDecision,
    DrccState,
    Event,
    Gateway,
    Integrations,
    Location,
    OutboxEntry,
    Page,
    QueueItem,
    Tenant,
    UplinkRecord,
    Webhook,
    Zone,
)
from .errors import (
    AlreadyExists,
    ConstraintViolation,
    InsecureSettings,
    KeyDecryptionError,
    NotFound,
    StaleVersion,
    StorageError,
)
from .settings import StorageSettings
from .storage import Storage, build_storage, open_storage

__all__ = [
    "AlreadyExists",
    "ApiKey",
    "Application",
    "ConstraintViolation",
    "Device",
    "DeviceClass",
    "DeviceProfile",
    "DeviceSession",
    "DrccDecision",
    "DrccState",
    "Event",
    "Gateway",
    "InsecureSettings",
    "Integrations",
    "KeyDecryptionError",
    "Location",
    "NotFound",
    "OutboxEntry",
    "Page",
    "QueueItem",
    "StaleVersion",
    "Storage",
    "StorageError",
    "StorageSettings",
    "Tenant",
    "UplinkRecord",
    "Webhook",
    "Zone",
    "build_storage",
    "open_storage",
]
