"""One HyperLoRa run for bench/bench_simulator_vs_lorasim.py, in a process of its own.

Kept apart from the benchmark script so that the child process imports only what a user's own
simulation script would: the simulator, and ``json``/``sys``/``time`` from the standard
library (the parent's argparse, statistics, subprocess... are not counted against HyperLoRa).
Like LoRaSim's script, it imports everything it uses before it starts (numpy included).
Prints one JSON line: the counters, ``imports_cpu_s`` (process CPU time when the imports are
done, interpreter start-up included) and ``sim_cpu_s`` (CPU from there to the end: loading the
scenario, building and running it).

    python bench/bench_simulator_child.py PRESET DEVICES SEED SIMTIME_S AVGSEND_S [ENGINE]
"""

from __future__ import annotations

import json
import sys
import time

import simulator.fast  # noqa: F401  (numpy: imported up front, as LoRaSim's script does)
from simulator.engine import Simulation
from simulator.scenario import load_scenario


def main(argv: list[str]) -> None:
    preset, devices, seed, simtime_s, avgsend_s = argv[:5]
    imports_cpu = time.process_time()
    sc = load_scenario(preset).with_overrides(devices=int(devices), seed=int(seed))
    data = sc.model_dump()
    data["duration_s"] = float(simtime_s)
    data["devices"]["traffic"]["period_s"] = float(avgsend_s)
    if len(argv) > 5:
        data["engine"] = argv[5]
    sc = type(sc).model_validate(data)
    result = Simulation(sc).run()
    out = {
        "transmissions": result.transmissions,
        "sent": result.sent,
        "delivered": result.delivered,
        "der": result.der,
        "engine": result.engine,
        "imports_cpu_s": imports_cpu,
        "sim_cpu_s": time.process_time() - imports_cpu,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
