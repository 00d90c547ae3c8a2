"""Simulator throughput benchmark.

Runs 10,000 devices for 24 simulated hours at one uplink per 10 minutes (1.44 million
transmissions) on one core and prints simulated packets per wall-clock second, the wall time
and the process CPU time (the fair figure on a shared machine). Target: <= 60 s.

    .venv/bin/python bench/bench_simulator.py                 # urban-10k-8gw preset
    .venv/bin/python bench/bench_simulator.py --gateways 1    # same devices, one gateway
    .venv/bin/python bench/bench_simulator.py --devices 2000 --hours 6   # quick look
"""

from __future__ import annotations

import argparse
import time

from simulator.engine import Simulation
from simulator.scenario import load_scenario


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="urban-10k-8gw")
    ap.add_argument("--devices", type=int, default=10_000)
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--gateways", type=int, default=None)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    sc = load_scenario(args.scenario).with_overrides(devices=args.devices, seed=args.seed)
    data = sc.model_dump()
    data["duration_s"] = args.hours * 3600.0
    data["devices"]["traffic"]["period_s"] = 600.0
    if args.gateways is not None:
        data["gateways"] = {"count": args.gateways, "placement": "grid"}
    sc = type(sc).model_validate(data)
    t0 = time.perf_counter()
    c0 = time.process_time()
    sim = Simulation(sc)
    build = time.perf_counter() - t0
    result = sim.run()
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    receptions = sum(result.copies_lost_by_cause.values()) + sum(g.received for g in sim.gateways)
    print(f"scenario            {sc.name} ({len(sim.gateways)} gateways)")
    print(f"devices             {result.devices}")
    print(f"simulated time      {sc.duration_s / 3600:.1f} h")
    print(f"transmissions       {result.transmissions}")
    print(f"gateway receptions  {receptions}")
    print(f"DER                 {result.der:.4f}")
    print(f"build time          {build:.2f} s")
    print(f"wall time           {wall:.2f} s")
    print(f"CPU time (1 core)   {cpu:.2f} s")
    print(f"packets / wall s    {result.transmissions / wall:,.0f}")
    print(f"packets / CPU s     {result.transmissions / cpu:,.0f}")


if __name__ == "__main__":
    main()
