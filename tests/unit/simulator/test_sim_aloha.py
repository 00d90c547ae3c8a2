"""Statistical check against theory: with one channel, one SF, no capture and no preamble rule,
the engine is pure ALOHA, whose throughput is S = G * exp(-2 G) for offered load G (frames per
frame time), Poisson arrivals."""

from __future__ import annotations

import math

import pytest

from services.lorawan.airtime import time_on_air
from simulator import Scenario, run_scenario

DEVICES = 500
PACKETS = 40_000
TOA = time_on_air(33, 7)


def aloha_scenario(g: float, seed: int) -> Scenario:
    period = DEVICES * TOA / g
    return Scenario.model_validate(
        {
            "name": f"aloha-G{g}",
            "seed": seed,
            "duration_s": PACKETS * period / DEVICES,
            "area": {"shape": "disc", "radius_m": 100.0},
            "devices": {
                "count": DEVICES,
                "sf": 7,
                "channels_hz": [868_100_000],
                "traffic": {"kind": "poisson", "period_s": period, "payload_bytes": 20},
            },
            "gateways": {"count": 1},
            "reception": {
                "capture_threshold_db": None,
                "preamble_rule": False,
                "inter_sf": False,
                "demodulator_paths": 10_000,
            },
            "duty_cycle": False,
            "class_a": False,
        }
    )


@pytest.mark.parametrize("g", [0.05, 0.2, 0.5, 1.0, 1.5])
def test_pure_aloha_throughput(g: float) -> None:
    r = run_scenario(aloha_scenario(g, seed=3))
    duration = r.duration_s
    g_measured = r.transmissions * TOA / duration
    s_measured = r.delivered * TOA / duration
    s_theory = g_measured * math.exp(-2.0 * g_measured)
    # tolerance: 4 % of S plus 0.003 (a few standard errors at 40,000 packets)
    assert g_measured == pytest.approx(g, rel=0.03)
    assert abs(s_measured - s_theory) <= 0.04 * s_theory + 0.003, (g, s_measured, s_theory)
    # the success probability itself: exp(-2G)
    assert r.der == pytest.approx(math.exp(-2.0 * g_measured), abs=0.02)
