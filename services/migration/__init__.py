"""Zone transaction migration (arXiv:2105.10107): watch each zone's ledger load and route part
of a busy zone's application records to idle zones' ledgers.

    from services.migration import MigrationService, RoutingTable, WriterStatsSource
"""

from .data import Decision, PolicyInput, PolicyOutput, Shares, ZoneParams, ZoneStats
from .errors import InvalidRouting, MigrationError, RecordNotLocated, UnknownPolicy
from .lookup import locate_uplink, verify_uplink
from .policy import Damping, MigrationPolicy, available, damp, get_policy, register_policy
from .routing import RoutingEpoch, RoutingTable, device_hash, route_device
from .service import MigrationService, decide
from .settings import MigrationSettings, ZoneModel
from .stats import StatsSource, WriterStatsSource, chain

__all__ = [
    "Damping",
    "Decision",
    "InvalidRouting",
    "MigrationError",
    "MigrationPolicy",
    "MigrationService",
    "MigrationSettings",
    "PolicyInput",
    "PolicyOutput",
    "RecordNotLocated",
    "RoutingEpoch",
    "RoutingTable",
    "Shares",
    "StatsSource",
    "UnknownPolicy",
    "WriterStatsSource",
    "ZoneModel",
    "ZoneParams",
    "ZoneStats",
    "available",
    "chain",
    "damp",
    "decide",
    "device_hash",
    "get_policy",
    "locate_uplink",
    "register_policy",
    "route_device",
    "verify_uplink",
]
