"""HyperLoRa LoRa radio simulator (pure mode): event-driven SimPy core, typed scenarios,
pluggable rate control, metrics and plots. See docs/simulator.md."""

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
