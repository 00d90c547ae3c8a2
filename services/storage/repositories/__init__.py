"""SQLAlchemy implementations of the repository protocols (``services.storage.interfaces``)."""

from .api_key import ApiKeyRepo
from .application import ApplicationRepo
from .device import DeviceRepo
from .device_profile import DeviceProfileRepo
from .device_queue import DeviceQueueRepo
from .device_session import DeviceSessionRepo
from .drcc import DrccRepo
from .event import EventRepo
from .gateway import GatewayRepo
from .outbox import OutboxRepo
from .retention import RetentionRepo
from .tenant import TenantRepo
from .uplink_log import UplinkLogRepo
from .zone import ZoneRepo

__all__ = [
    "ApiKeyRepo",
    "ApplicationRepo",
    "DeviceProfileRepo",
    "DeviceQueueRepo",
    "DeviceRepo",
    "DeviceSessionRepo",
    "DrccRepo",
    "EventRepo",
    "GatewayRepo",
    "OutboxRepo",
    "RetentionRepo",
    "TenantRepo",
    "UplinkLogRepo",
    "ZoneRepo",
]
