"""Simulator throughput benchmark.

Runs 10,000 devices for 24 simulated hours at one uplink per 10 minutes (1.44 million
transmissions) on one core and prints simulated packets per wall-clock second, the wall time
and the process CPU time (the fair figure on a shared machine). Target: <= 60 s.

The scenario is open-loop (unconfirmed uplinks, the static policy, no joins: nothing a device
does depends on the air), so ``engine: auto`` runs it on the vectorized fast path
(simulator/fast.py). ``--engine both`` (the default) also runs the SimPy event engine on the
same scenario and prints the two side by side.

    .venv/bin/python bench/bench_simulator.py                 # urban-10k-8gw, both engines
    .venv/bin/python bench/bench_simulator.py --engine fast   # the fast path only
    .venv/bin/python bench/bench_simulator.py --gateways 1    # same devices, one gateway
    .venv/bin/python bench/bench_simulator.py --devices 2000 --hours 6   # quick look
"""

from __future__ import annotations

import argparse
import time

import simpy  # noqa: F401  (imported up front so that neither engine's timing includes it)

import simulator.fast  # noqa: F401  (numpy, for the same reason)
from simulator.engine import Simulation
from simulator.scenario import Scenario, load_scenario


def run_once(sc: Scenario) -> dict[str, float | int | str]:
    t0 = time.perf_counter()
    c0 = time.process_time()
    sim = Simulation(sc)
    build = time.perf_counter() - t0
    result = sim.run()
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    receptions = sum(result.copies_lost_by_cause.values()) + sum(g.received for g in sim.gateways)
    return {
        "engine": result.engine,
        "gateways": len(sim.gateways),
        "devices": result.devices,
        "transmissions": result.transmissions,
        "receptions": receptions,
        "der": result.der,
        "deferrals": result.duty_cycle_deferrals,
        "build_s": build,
        "wall_s": wall,
        "cpu_s": cpu,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--scenario", default="urban-10k-8gw")
    ap.add_argument("--devices", type=int, default=10_000)
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--gateways", type=int, default=None)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--engine", default="both", choices=("both", "auto", "fast", "simpy"))
    args = ap.parse_args()
    sc = load_scenario(args.scenario).with_overrides(devices=args.devices, seed=args.seed)
    data = sc.model_dump()
    data["duration_s"] = args.hours * 3600.0
    data["devices"]["traffic"]["period_s"] = 600.0
    if args.gateways is not None:
        data["gateways"] = {"count": args.gateways, "placement": "grid"}
    engines = ["auto", "simpy"] if args.engine == "both" else [args.engine]
    runs = []
    for engine in engines:
        data["engine"] = engine
        runs.append(run_once(Scenario.model_validate(data)))
    print(f"scenario            {sc.name} ({runs[0]['gateways']} gateways)")
    print(f"devices             {runs[0]['devices']}")
    print(f"simulated time      {args.hours:.1f} h")
    rows = [
        ("engine", "engine", "{}"),
        ("transmissions", "transmissions", "{:,}"),
        ("gateway receptions", "receptions", "{:,}"),
        ("duty-cycle deferrals", "deferrals", "{:,}"),
        ("DER", "der", "{:.4f}"),
        ("build time s", "build_s", "{:.2f}"),
        ("wall time s", "wall_s", "{:.2f}"),
        ("CPU time s (1 core)", "cpu_s", "{:.2f}"),
    ]
    for label, key, fmt in rows:
        print(f"{label:22}" + "".join(f"{fmt.format(r[key]):>16}" for r in runs))
    for label, key in (("packets / wall s", "wall_s"), ("packets / CPU s", "cpu_s")):
        vals = [float(r["transmissions"]) / float(r[key]) for r in runs]
        print(f"{label:22}" + "".join(f"{v:>16,.0f}" for v in vals))


if __name__ == "__main__":
    main()
