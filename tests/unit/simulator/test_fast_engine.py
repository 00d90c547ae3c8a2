"""The vectorized open-loop engine (simulator/fast.py) against the SimPy engine: selection,
DER agreement on the LoRaSim presets and a multi-gateway scenario, and hand-placed
collision cases giving the same verdicts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from services.lorawan.airtime import time_on_air
from simulator import Scenario, Simulation, load_scenario, radio, run_scenario
from simulator.fast import OK, FastPathUnsupported, receive
from simulator.policy import StaticPolicy

from .sim_harness import Harness, tiny_scenario


def _with(sc: Scenario, **changes: Any) -> Scenario:
    data = sc.model_dump()
    for key, value in changes.items():
        if isinstance(value, dict):
            for k2, v2 in value.items():
                if isinstance(v2, dict):
                    data[key][k2].update(v2)
                else:
                    data[key][k2] = v2
        else:
            data[key] = value
    return Scenario.model_validate(data)


# -- selection ------------------------------------------------------------------------------


def test_auto_picks_fast_for_lorasim_and_reports_it() -> None:
    r = run_scenario(load_scenario("lorasim").with_overrides(devices=20))
    assert r.engine == "fast"
    assert r.to_dict()["engine"] == "fast"
    forced = _with(load_scenario("lorasim").with_overrides(devices=20), engine="simpy")
    assert run_scenario(forced).to_dict()["engine"] == "simpy"


@pytest.mark.parametrize(
    "changes",
    [
        {"devices": {"traffic": {"confirmed": True}}},
        {"devices": {"otaa": True}, "class_a": True},
        {"policy": "lorawan-adr", "class_a": True},
        {"devices": {"nb_trans": 2}},
    ],
)
def test_auto_falls_back_to_simpy(changes: dict[str, Any]) -> None:
    sc = _with(load_scenario("lorasim").with_overrides(devices=5), duration_s=5000.0, **changes)
    assert Simulation(sc).engine == "simpy"
    r = run_scenario(sc)
    assert r.engine == "simpy"
    with pytest.raises(FastPathUnsupported):
        Simulation(_with(sc, engine="fast"))


def test_duty_cycle_over_several_sub_bands_runs_fast() -> None:
    changes = {"duty_cycle": True, "devices": {"channels_hz": [868_100_000, 869_525_000]}}
    sc = _with(load_scenario("lorasim").with_overrides(devices=5), duration_s=5000.0, **changes)
    assert Simulation(sc).engine == "fast"
    assert Simulation(_with(sc, engine="fast")).engine == "fast"
    assert run_scenario(sc).engine == "fast"


def test_custom_policy_object_uses_simpy() -> None:
    sc = load_scenario("lorasim").with_overrides(devices=5)
    assert Simulation(sc).engine == "fast"
    assert Simulation(sc, policy=StaticPolicy()).engine == "simpy"


def test_fast_runs_are_reproducible_and_seed_dependent() -> None:
    sc = load_scenario("lorasim").with_overrides(devices=200)
    a = run_scenario(sc).to_json()
    assert a == run_scenario(sc).to_json()
    assert a != run_scenario(sc.with_overrides(seed=9)).to_json()


# -- agreement with the event engine --------------------------------------------------------


def _multi_gateway(n: int) -> Scenario:
    return Scenario.model_validate(
        {
            "name": "multi-gw",
            "duration_s": 20_000.0,
            "area": {"shape": "disc", "radius_m": 4000},
            "devices": {
                "count": n,
                "sf_assignment": "min_airtime",
                "traffic": {"kind": "periodic", "period_s": 200, "jitter_s": 30},
            },
            "gateways": {"count": 4, "placement": "grid"},
            "path_loss": {"d0_m": 1, "pl_d0_db": 7.7, "gamma": 3.76, "sigma_db": 4},
            "reception": {"inter_sf": True, "demodulator_paths": 8},
            "duty_cycle": True,
            "class_a": True,
        }
    )


#: the eight usual EU868 channels: three in sub-band g1 (868.0-868.6 MHz), five in g
EU868_8 = [868_100_000, 868_300_000, 868_500_000, 867_100_000]
EU868_8 += [867_300_000, 867_500_000, 867_700_000, 867_900_000]


def _multi_band(n: int) -> Scenario:
    """Four gateways, eight channels in two sub-bands, random SFs and a frame a minute: the
    SF12 devices (1.8 s frames, a band closed for 3 minutes after each) wait for the 1 %
    duty cycle often."""
    data = _multi_gateway(n).model_dump()
    data["name"] = "multi-band"
    data["duration_s"] = 5_000.0
    data["devices"]["channels_hz"] = EU868_8
    data["devices"]["sf_assignment"] = "random"
    data["devices"]["traffic"] = {"kind": "periodic", "period_s": 60, "jitter_s": 10}
    return Scenario.model_validate(data)


CASES = [
    ("lorasim", 100, 100_000.0),
    ("lorasim", 500, 40_000.0),
    ("lorasim", 1000, 20_000.0),
    ("lorasim-simple", 300, 40_000.0),
    ("lorasim-exp0", 300, 40_000.0),
    ("multi-gw", 300, 0.0),
    ("multi-gw", 1000, 0.0),
    ("multi-band", 300, 0.0),
    ("multi-band", 1000, 0.0),
]


@pytest.mark.parametrize(("preset", "n", "duration"), CASES)
def test_der_agrees_with_simpy(preset: str, n: int, duration: float) -> None:
    seeds = (1, 2, 3)
    fast, slow = [], []
    for seed in seeds:
        if preset == "multi-gw":
            sc = _multi_gateway(n).with_overrides(seed=seed)
        elif preset == "multi-band":
            sc = _multi_band(n).with_overrides(seed=seed)
        else:
            sc = _with(
                load_scenario(preset).with_overrides(devices=n, seed=seed), duration_s=duration
            )
        rf = run_scenario(sc)
        rs = run_scenario(_with(sc, engine="simpy"))
        assert (rf.engine, rs.engine) == ("fast", "simpy")
        # same accounting identities as the event engine
        assert rf.sent == rf.transmissions
        assert rf.delivered + sum(rf.lost_by_cause.values()) == rf.transmissions
        assert sum(v["transmissions"] for v in rf.per_sf.values()) == rf.transmissions
        assert sum(v["transmissions"] for v in rf.per_channel.values()) == rf.transmissions
        assert rf.device_positions == rs.device_positions
        assert abs(rf.transmissions - rs.transmissions) <= 0.03 * rs.transmissions
        fast.append(rf.der)
        slow.append(rs.der)
    assert abs(float(np.mean(fast)) - float(np.mean(slow))) < 0.01, (fast, slow)


def test_multi_band_duty_cycle_matches_simpy_channel_use_and_deferrals() -> None:
    """Per channel and sub-band the fast path spreads frames as the event engine does, and
    defers about as many frames for the duty cycle."""
    fast: dict[str, list[float]] = {"deferrals": [], "g": [], "g1": []}
    slow: dict[str, list[float]] = {"deferrals": [], "g": [], "g1": []}
    for seed in (1, 2, 3):
        sc = _multi_band(400).with_overrides(seed=seed)
        for out, r in ((fast, run_scenario(sc)), (slow, run_scenario(_with(sc, engine="simpy")))):
            out["deferrals"].append(r.duty_cycle_deferrals / r.transmissions)
            g1 = sum(v["transmissions"] for f, v in r.per_channel.items() if float(f) >= 868e6)
            out["g1"].append(g1 / r.transmissions)
            out["g"].append(1.0 - g1 / r.transmissions)
    assert float(np.mean(slow["deferrals"])) > 0.02  # the case really exercises the limit
    for key in fast:
        assert abs(float(np.mean(fast[key])) - float(np.mean(slow[key]))) < 0.01, (key, fast, slow)


# -- hand-placed collisions: same verdicts as the event engine ------------------------------

#: (start s, sf, frequency Hz, rssi dBm) per transmission
Tx = tuple[float, int, float, float]


def _simpy_delivered(txs: list[Tx], **overrides: Any) -> tuple[list[int], dict[str, int]]:
    h = Harness(tiny_scenario(devices={"count": len(txs)}, **overrides))
    for i, (t, sf, f, rssi) in enumerate(txs):
        dev = h.sim.devices[i]
        dev.sf = sf
        dev.channels_hz = (f,)
        h.set_rssi(i, rssi)
        h.send_at(i, t)
    r = h.run()
    return [d.delivered for d in h.sim.devices], r.lost_by_cause


def _fast_delivered(txs: list[Tx], **overrides: Any) -> tuple[list[int], dict[str, int]]:
    sc = tiny_scenario(devices={"count": len(txs)}, **overrides)
    rc = sc.reception
    order = sorted(range(len(txs)), key=lambda i: txs[i][0])
    start = np.array([txs[i][0] for i in order])
    sf = np.array([txs[i][1] for i in order], dtype=np.int64)
    toa = np.array([time_on_air(33, int(s), 125_000) for s in sf])
    grace = np.array(
        [
            radio.preamble_grace_s(int(s), 125_000, rc.preamble_symbols, rc.lock_symbols)
            if rc.preamble_rule
            else 0.0
            for s in sf
        ]
    )
    codes = receive(
        start,
        start + toa,
        np.array([txs[i][2] for i in order]),
        sf,
        np.full(len(txs), 125_000, dtype=np.int64),
        grace,
        np.array([txs[i][3] for i in order]),
        rc.capture_threshold_db,
        rc.inter_sf,
        rc.demodulator_paths,
    )
    delivered = [0] * len(txs)
    lost = dict.fromkeys(
        ["out_of_range", "collision_same_sf", "collision_inter_sf", "no_demodulator", "gateway_tx"],
        0,
    )
    names = {1: "collision_same_sf", 2: "collision_inter_sf", 3: "no_demodulator"}
    for pos, i in enumerate(order):
        if codes[pos] == OK:
            delivered[i] = 1
        else:
            lost[names[int(codes[pos])]] += 1
    return delivered, lost


F1, F2, F_NEAR = 868_100_000.0, 868_300_000.0, 868_200_000.0
T7 = time_on_air(33, 7, 125_000)  # tiny_scenario: 20-byte payload + 13 bytes overhead

HAND_CASES: list[tuple[str, list[Tx], dict[str, Any]]] = [
    ("capture both lost", [(1.0, 7, F1, -100), (1.01, 7, F1, -103)], {}),
    ("capture later stronger", [(1.0, 7, F1, -110), (1.01, 7, F1, -100)], {}),
    ("capture earlier stronger", [(1.0, 7, F1, -100), (1.01, 7, F1, -110)], {}),
    (
        "capture off",
        [(1.0, 7, F1, -100), (1.01, 7, F1, -120)],
        {"reception": {"capture_threshold_db": None}},
    ),
    ("preamble saves", [(1.0, 7, F1, -100), (1.0 + T7 - 0.002, 7, F1, -100)], {}),
    ("preamble too late", [(1.0, 7, F1, -100), (1.0 + T7 - 0.01, 7, F1, -100)], {}),
    ("other channel", [(1.0, 7, F1, -100), (1.01, 7, F2, -100)], {}),
    ("neighbour channel", [(1.0, 7, F1, -100), (1.01, 7, F_NEAR, -100)], {}),
    ("other sf orthogonal", [(1.0, 7, F1, -100), (1.01, 9, F1, -100)], {}),
    (
        "inter sf",
        [(1.0, 7, F1, -120), (1.01, 12, F1, -100)],
        {"reception": {"inter_sf": True}},
    ),
    (
        "inter sf survives",
        [(1.0, 7, F1, -100), (1.01, 12, F1, -100)],
        {"reception": {"inter_sf": True}},
    ),
    (
        "mixed causes",
        [(1.0, 12, F1, -100), (1.2, 7, F1, -125), (1.3, 12, F1, -101)],
        {"reception": {"inter_sf": True}},
    ),
    (
        "nine on air, eight paths",
        [(1.0 + 0.001 * i, 7, 867_100_000.0 + 200_000.0 * i, -100.0) for i in range(9)],
        {},
    ),
    (
        "paths free again",
        [(1.0 + 0.01 * i, 7, 867_100_000.0 + 200_000.0 * i, -100.0) for i in range(8)]
        + [(5.0, 7, F1, -100.0)],
        {},
    ),
    ("chain", [(1.0, 7, F1, -100), (1.03, 7, F1, -90), (1.06, 7, F1, -80)], {}),
]


@pytest.mark.parametrize(("label", "txs", "overrides"), HAND_CASES, ids=[c[0] for c in HAND_CASES])
def test_hand_placed_verdicts_match(label: str, txs: list[Tx], overrides: dict[str, Any]) -> None:
    assert _fast_delivered(txs, **overrides) == _simpy_delivered(txs, **overrides)


def test_hand_placed_cases_exercise_every_cause() -> None:
    seen: set[str] = set()
    for _, txs, ov in HAND_CASES:
        _, lost = _fast_delivered(txs, **ov)
        seen |= {c for c, k in lost.items() if k}
    assert seen == {"collision_same_sf", "collision_inter_sf", "no_demodulator"}


def test_demodulator_heap_matches_a_brute_force_count() -> None:
    rng = np.random.default_rng(4)
    start = np.sort(rng.uniform(0, 10, 400))
    end = start + rng.uniform(0.05, 1.5, 400)
    codes = receive(
        start,
        end,
        np.arange(400) * 1e6,  # far apart: only the path limit matters
        np.full(400, 7, dtype=np.int64),
        np.full(400, 125_000, dtype=np.int64),
        np.zeros(400),
        np.full(400, -100.0),
        6.0,
        False,
        8,
    )
    locked_ends: list[float] = []
    expected = []
    for s, e in zip(start, end, strict=True):
        locked_ends = [x for x in locked_ends if x > s]
        if len(locked_ends) < 8:
            locked_ends.append(float(e))
            expected.append(OK)
        else:
            expected.append(3)
    assert codes.tolist() == expected
    assert 3 in expected
