"""End-to-end (pure mode): DRCC in a dense deployment, through the simulator's Python API.

2,000 devices, 3 gateways, one simulated hour, 8 channels, 1 % duty cycle, class A downlinks
(each LinkADRReq travels in RX1/RX2 and deafens its gateway while it is sent), devices starting
at a random SF (the scenario of docs/experiments/drcc.md, :func:`services.drcc.study.
study_scenario`). The DER over time (12 five-minute windows) must rise over the first
minutes — DRCC moves devices to the data rates and channels that deliver — and then hold:
the late windows above the early ones by a clear margin, little spread at the end, and well
above the same deployment without rate control.
"""

from __future__ import annotations

import itertools
import statistics
import time

import pytest

from services.drcc.study import study_scenario
from simulator.engine import run_scenario
from simulator.metrics import SimulationResult

pytestmark = pytest.mark.e2e

DEVICES = 2000
GATEWAYS = 3


def _run(policy: str) -> SimulationResult:
    sc = study_scenario(DEVICES, GATEWAYS, seed=1, policy=policy, duration_s=3600.0)
    return run_scenario(sc)


def test_drcc_der_rises_then_holds_in_a_dense_deployment() -> None:
    t0 = time.monotonic()
    drcc = _run("drcc")
    static = _run("static")
    wall = time.monotonic() - t0

    der = [b["der"] for b in drcc.der_over_time]
    base = [b["der"] for b in static.der_over_time]
    assert len(der) == 12 and all(b["sent"] > 0 for b in drcc.der_over_time)
    early, late = statistics.fmean(der[:2]), statistics.fmean(der[-3:])
    # rises: the late windows beat the early ones by a margin
    assert late >= early + 0.15, der
    assert min(der[-3:]) >= max(der[:2]) + 0.1, der
    # ... mostly within the first half hour, and holds: the last third varies little
    assert statistics.fmean(der[4:6]) >= early + 0.1, der
    assert statistics.pstdev(der[-4:]) < 0.02, der
    assert max(der[-4:]) - min(der[-4:]) < 0.05, der
    # no window of the second half falls back much below the one before it
    assert all(b >= a - 0.03 for a, b in itertools.pairwise(der[5:])), der
    # the same deployment without rate control stays where it started
    assert late >= statistics.fmean(base[-3:]) + 0.2, (der, base)
    assert abs(statistics.fmean(base[-3:]) - statistics.fmean(base[:2])) < 0.05, base
    assert drcc.downlinks["link_adr_applied"] > DEVICES // 4
    assert wall < 60, f"dense run took {wall:.1f} s"
