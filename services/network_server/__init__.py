"""The network server (issue 3): dedup, sessions, MIC/FCnt checks, MAC commands, class A.

service = NetworkServerService(NetworkServerSettings(), bus, storage)
await service.start()   # before bus.start()
"""

from .service import NetworkServerService
from .settings import NetworkServerSettings

__all__ = ["NetworkServerService", "NetworkServerSettings"]
