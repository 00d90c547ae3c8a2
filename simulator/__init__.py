"""HyperLoRa LoRa radio simulator (pure mode): event-driven SimPy core, a vectorized
open-loop fast path (simulator/fast.py), typed scenarios, pluggable rate control, metrics and
plots. See docs/simulator.md.

The names below are imported lazily (on first use), so ``import simulator.scenario`` does
not pay for the engine, SimPy or the rate-control plugins.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engine import Simulation, run_scenario
    from .metrics import SimulationResult
    from .policy import (
        LinkAdrDecision,
        PolicyRequest,
        RateControlPolicy,
        UplinkRecord,
        available_policies,
        get_policy,
        register_policy,
    )
    from .scenario import Scenario, list_presets, load_scenario

_WHERE = {
    "Simulation": "engine",
    "run_scenario": "engine",
    "SimulationResult": "metrics",
    "LinkAdrDecision": "policy",
    "PolicyRequest": "policy",
    "RateControlPolicy": "policy",
    "UplinkRecord": "policy",
    "available_policies": "policy",
    "get_policy": "policy",
    "register_policy": "policy",
    "Scenario": "scenario",
    "list_presets": "scenario",
    "load_scenario": "scenario",
}

__all__ = [
    "LinkAdrDecision",
    "PolicyRequest",
    "RateControlPolicy",
    "Scenario",
    "Simulation",
    "SimulationResult",
    "UplinkRecord",
    "available_policies",
    "get_policy",
    "list_presets",
    "load_scenario",
    "register_policy",
    "run_scenario",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'simulator' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
