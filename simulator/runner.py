"""Running one scenario or a sweep of one over device counts, policies and/or seeds.

A sweep runs every point in one process, so a study of many short runs (several seeds of a
small scenario, for instance) pays the interpreter's and the imports' start-up once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .engine import Simulation
from .metrics import SimulationResult
from .scenario import Scenario

#: progress callback: (run index, number of runs, simulated fraction of this run)
SweepProgress = Callable[[int, int, float], None]


def sweep_points(
    scenario: Scenario,
    devices: Sequence[int] | None,
    policies: Sequence[str] | None,
    seeds: Sequence[int] | None = None,
) -> list[Scenario]:
    """The scenarios of a sweep: every device count crossed with every policy and every seed
    (policy outermost, then device count, then seed)."""
    counts: Sequence[int | None] = list(devices) if devices else [None]
    pols: Sequence[str | None] = list(policies) if policies else [None]
    seeds_: Sequence[int | None] = list(seeds) if seeds else [None]
    return [
        scenario.with_overrides(devices=n, policy=p, seed=s)
        for p in pols
        for n in counts
        for s in seeds_
    ]


def run_sweep(
    scenario: Scenario,
    devices: Sequence[int] | None = None,
    policies: Sequence[str] | None = None,
    progress: SweepProgress | None = None,
    seeds: Sequence[int] | None = None,
) -> list[SimulationResult]:
    points = sweep_points(scenario, devices, policies, seeds)
    results = []
    for i, sc in enumerate(points):
        cb = None if progress is None else (lambda f, i=i: progress(i, len(points), f))
        results.append(Simulation(sc).run(cb))
    return results
