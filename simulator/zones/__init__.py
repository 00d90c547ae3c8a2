"""Zone-level model of the per-zone application ledgers (arrival processes, ordering capacity,
Fabric-like block cutting, RAFT commit delay), used by the migration study
(services/migration/study.py, docs/experiments/migration.md)."""

from .model import Committed, ZoneModel, ZoneObservation, ZoneSpec
from .scenario import RateStep, ZoneScenario, hotspot

__all__ = [
    "Committed",
    "RateStep",
    "ZoneModel",
    "ZoneObservation",
    "ZoneScenario",
    "ZoneSpec",
    "hotspot",
]
