"""Running one scenario or a sweep of one over device counts and/or policies."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .engine import Simulation
from .metrics import SimulationResult
from .scenario import Scenario

#: progress callback: (run index, number of runs, simulated fraction of this run)
SweepProgress = Callable[[int, int, float], None]


def sweep_points(
    scenario: Scenario, devices: Sequence[int] | None, policies: Sequence[str] | None
) -> list[Scenario]:
    """The scenarios of a sweep: every device count crossed with every policy."""
    counts: Sequence[int | None] = list(devices) if devices else [None]
    pols: Sequence[str | None] = list(policies) if policies else [None]
    return [scenario.with_overrides(devices=n, policy=p) for p in pols for n in counts]


def run_sweep(
    scenario: Scenario,
    devices: Sequence[int] | None = None,
    policies: Sequence[str] | None = None,
    progress: SweepProgress | None = None,
) -> list[SimulationResult]:
    points = sweep_points(scenario, devices, policies)
    results = []
    for i, sc in enumerate(points):
        cb = None if progress is None else (lambda f, i=i: progress(i, len(points), f))
        results.append(Simulation(sc).run(cb))
    return results
