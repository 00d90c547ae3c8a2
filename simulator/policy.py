"""Rate-control plugin interface, as the simulator uses it.

The canonical interface lives in :mod:`services.drcc.plugin` (plain request/response: a device's
recent uplink history and the network-wide channel usage in, a LinkADRReq-like decision or None
out), so the policy studied in pure-mode simulation is exactly the one the DRCC service runs.
This module re-exports it; importing it registers every shipped plugin: ``static``,
``lorawan-adr`` and ``drcc``.
"""

from __future__ import annotations

import services.drcc  # noqa: F401  (registers the shipped plugins)
from services.drcc.plugin import (
    GatewaySignal,
    LinkAdrDecision,
    PolicyFactory,
    PolicyRequest,
    RateControlPolicy,
    StatefulPolicy,
    StaticPolicy,
    UnknownPolicy,
    UplinkRecord,
    available_policies,
    get_policy,
    history_window,
    register_policy,
)

__all__ = [
    "GatewaySignal",
    "LinkAdrDecision",
    "PolicyFactory",
    "PolicyRequest",
    "RateControlPolicy",
    "StatefulPolicy",
    "StaticPolicy",
    "UnknownPolicy",
    "UplinkRecord",
    "available_policies",
    "get_policy",
    "history_window",
    "register_policy",
]
