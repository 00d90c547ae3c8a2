"""HyperLoRa join server (OTAA): JoinRequest MIC, DevNonce replay protection, DevAddr
assignment, JoinAccept, session keys handed to the network server (network keys, on
js.join.accept) and the application handler (the AppSKey, wrapped, on js.app_s_key) only.

``core`` is pure (clock, RNG, session ids injected); ``service`` is the bus/storage adapter;
``app``/``__main__`` the composition root.
"""

from .core import (
    DevAddrAllocator,
    JoinOutcome,
    JoinRecord,
    JoinServerCore,
    VerifiedJoin,
    build_join_accept,
)
from .errors import InsecureSettings, JoinRejected, JoinServerError, RejectReason
from .keywrap import AppSKeyWrapper
from .service import JoinServerService
from .settings import JoinServerSettings

__all__ = [
    "AppSKeyWrapper",
    "DevAddrAllocator",
    "InsecureSettings",
    "JoinOutcome",
    "JoinRecord",
    "JoinRejected",
    "JoinServerCore",
    "JoinServerError",
    "JoinServerService",
    "JoinServerSettings",
    "RejectReason",
    "VerifiedJoin",
    "build_join_accept",
]
