"""HyperLoRa's simulator against LoRaSim on LoRaSim's own single-gateway experiments: speed and DER.

Runs LoRaSim's ``loraDir.py`` (experiment 4 or 0, one gateway, its 100,000 s run) and the
matching HyperLoRa preset with the same device count and simulated duration, each as a child
process, pair by pair and interleaved, and reports for each: wall time, CPU time of the child
(``resource.getrusage(RUSAGE_CHILDREN)``, the fair figure on a shared machine), packets
simulated, DER, and the speed ratio (HyperLoRa / LoRaSim, packets per CPU second, medians).
Target (issue 5): ratio >= 2 with the DERs within 2 percentage points.

LoRaSim is not part of this repository and this script neither fetches nor patches it: pass
the path of your own patched copy with ``--lorasim [LABEL=]PATH`` (repeatable, to compare
several patch levels; see the "Speed" section of docs/experiments/lorasim-comparison.md for
the patch). The copy must print one line on standard error,
``RESULT nodes experiment full_collision simtime_ms sent received collisions lost
[cpu_after_imports_s]``; its standard output (LoRaSim's debug prints) is discarded. Without
``--lorasim`` only HyperLoRa is timed. The HyperLoRa side runs ``bench_simulator_child.py``
(which imports only the simulator), so both sides count the same kind of start-up; both
children also report their CPU after the imports, printed as a second ratio.

Bytecode: by default (``--bytecode cached``) the children may cache compiled modules, as any
installed Python package does (pip compiles them at install, an editable install on first
import). The cache goes to a scratch directory (``PYTHONPYCACHEPREFIX``), never into the source
tree, and one untimed warm-up run per simulator fills it. ``--bytecode compile`` sets
``PYTHONDONTWRITEBYTECODE=1`` (as some sandboxes and CI do, and as sessions 1 and 2 of the
benchmark inherited), so that every HyperLoRa child compiles the project's modules again
(about 0.02 s of CPU). LoRaSim's ``loraDir.py`` is a script run as ``__main__``, which Python
compiles on every run in both modes.

    .venv/bin/python bench/bench_simulator_vs_lorasim.py --lorasim /tmp/lorasim/loraDir.py
    .venv/bin/python bench/bench_simulator_vs_lorasim.py --lorasim a=/tmp/a.py --lorasim b=/tmp/b.py
    .venv/bin/python bench/bench_simulator_vs_lorasim.py --devices 100,500 --repeats 1
    .venv/bin/python bench/bench_simulator_vs_lorasim.py --engine simpy   # the event engine
    .venv/bin/python bench/bench_simulator_vs_lorasim.py           # HyperLoRa only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

#: the HyperLoRa side runs in this script, one process per run (imports only the simulator)
CHILD = Path(__file__).resolve().with_name("bench_simulator_child.py")

#: (LoRaSim experiment, full collision check) -> HyperLoRa preset
PRESETS = {(4, 1): "lorasim", (4, 0): "lorasim-simple", (0, 1): "lorasim-exp0"}


@dataclass
class Run:
    simulator: str  # "hyperlora" or the label of a LoRaSim copy
    devices: int
    seed: int
    wall_s: float
    cpu_s: float  # user + system CPU of the child process, start-up included
    packets: int  # transmissions simulated
    sent: int  # frames sent (the DER denominator)
    received: int
    der: float
    #: CPU after the imports (interpreter start-up and imports excluded): HyperLoRa's child
    #: reports it; a LoRaSim copy does when its RESULT line has the 10th field (see the doc)
    sim_cpu_s: float | None = None
    engine: str | None = None  # HyperLoRa: "fast" or "simpy"

    @property
    def pps_cpu(self) -> float:
        return self.packets / self.cpu_s if self.cpu_s > 0 else 0.0


# -- child processes ------------------------------------------------------------------------


def _timed_child(
    cmd: list[str], cwd: str, env: dict[str, str], keep_stdout: bool
) -> tuple[str, str, float, float]:
    """Run ``cmd`` to completion; return its stdout, stderr, wall time and CPU time (user +
    system, from the rusage of terminated children: runs must not overlap)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0 = time.perf_counter()
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE if keep_stdout else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - w0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return proc.stdout or "", proc.stderr, wall, cpu


def run_lorasim(
    args: argparse.Namespace,
    label: str,
    path: Path,
    devices: int,
    seed: int,
    scratch: str,
    env: dict[str, str],
) -> Run:
    cmd = [
        args.lorasim_python,
        str(path),
        str(devices),
        str(int(args.avgsend_s * 1000)),
        str(args.experiment),
        str(int(args.simtime_s * 1000)),
        str(args.full_collision),
    ]
    _, err, wall, cpu = _timed_child(cmd, scratch, {**env, "LORASIM_SEED": str(seed)}, False)
    lines = [ln.split() for ln in err.splitlines() if ln.startswith("RESULT")]
    if not lines:
        raise SystemExit(f"{path} printed no RESULT line on stderr; see the patch in the doc")
    f = lines[-1]
    sent, received = int(f[5]), int(f[6])
    sim_cpu = float(f[9]) if len(f) > 9 else None
    return Run(label, devices, seed, wall, cpu, sent, sent, received, received / sent, sim_cpu)


def run_hyperlora(
    args: argparse.Namespace, devices: int, seed: int, scratch: str, env: dict[str, str]
) -> Run:
    preset = PRESETS[(args.experiment, args.full_collision)]
    cmd = [sys.executable, str(CHILD), preset, str(devices)]
    cmd += [str(seed), str(args.simtime_s), str(args.avgsend_s), args.engine]
    out, _, wall, cpu = _timed_child(cmd, scratch, env, True)
    d = json.loads(out.strip().splitlines()[-1])
    return Run(
        "hyperlora",
        devices,
        seed,
        wall,
        cpu,
        d["transmissions"],
        d["sent"],
        d["delivered"],
        d["der"],
        d["sim_cpu_s"],
        d["engine"],
    )


# -- report ---------------------------------------------------------------------------------


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs (nproc), {model}, Python {platform.python_version()}"


@dataclass
class Row:
    devices: int
    simulator: str
    runs: int
    packets: int  # median
    wall_s: float  # median
    cpu_s: float  # median
    pps_cpu: float  # median packets per CPU second
    der: float  # mean over the runs
    sim_cpu_s: float | None  # median CPU after the imports (when reported)
    speed_ratio: float | None  # LoRaSim rows: HyperLoRa pps_cpu / this pps_cpu
    der_diff_pp: float | None  # LoRaSim rows: (HyperLoRa DER - this DER) * 100
    #: LoRaSim rows: the same ratio on the CPU after the imports of both processes
    sim_speed_ratio: float | None = None
    engine: str | None = None  # HyperLoRa rows


def summarise(runs: list[Run], devices: list[int], labels: list[str]) -> list[Row]:
    rows: list[Row] = []
    for n in devices:
        ours: Row | None = None
        for name in ["hyperlora", *labels]:
            rs = [r for r in runs if r.simulator == name and r.devices == n]
            if not rs:
                continue
            sim = [r.sim_cpu_s for r in rs if r.sim_cpu_s is not None]
            row = Row(
                n,
                name,
                len(rs),
                round(statistics.median(r.packets for r in rs)),
                statistics.median(r.wall_s for r in rs),
                statistics.median(r.cpu_s for r in rs),
                statistics.median(r.pps_cpu for r in rs),
                statistics.mean(r.der for r in rs),
                statistics.median(sim) if sim else None,
                None,
                None,
            )
            if name == "hyperlora":
                row.engine = "/".join(sorted({r.engine or "?" for r in rs}))
                ours = row
            elif ours is not None:
                row.speed_ratio = ours.pps_cpu / row.pps_cpu if row.pps_cpu else None
                row.der_diff_pp = (ours.der - row.der) * 100
                if ours.sim_cpu_s and row.sim_cpu_s:
                    # packets per CPU second after the imports, ours over theirs
                    row.sim_speed_ratio = (ours.packets / ours.sim_cpu_s) / (
                        row.packets / row.sim_cpu_s
                    )
            rows.append(row)
    return rows


def print_table(rows: list[Row]) -> None:
    print(
        "| devices | simulator | packets | wall s | CPU s | packets per CPU s | DER "
        "| ours / this speed | DER diff (pp) | CPU s after imports | ours / this, after imports |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        ratio = "-" if r.speed_ratio is None else f"{r.speed_ratio:.2f}x"
        diff = "-" if r.der_diff_pp is None else f"{r.der_diff_pp:+.2f}"
        sim = "-" if r.sim_cpu_s is None else f"{r.sim_cpu_s:.3f}"
        sim_ratio = "-" if r.sim_speed_ratio is None else f"{r.sim_speed_ratio:.2f}x"
        name = r.simulator if r.engine is None else f"{r.simulator} ({r.engine})"
        print(
            f"| {r.devices} | {name} | {r.packets:,} | {r.wall_s:.2f} | {r.cpu_s:.2f} "
            f"| {r.pps_cpu:,.0f} | {r.der:.4f} | {ratio} | {diff} | {sim} | {sim_ratio} |"
        )


def parse_lorasim(values: list[str]) -> list[tuple[str, Path]]:
    out = []
    for v in values:
        label, sep, path = v.partition("=")
        if not sep:
            label, path = f"lorasim:{Path(v).stem}", v
        out.append((label, Path(path)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument(
        "--lorasim",
        action="append",
        default=[],
        metavar="[LABEL=]PATH",
        help="your patched loraDir.py (repeatable)",
    )
    ap.add_argument("--lorasim-python", default=sys.executable, help="interpreter for LoRaSim")
    ap.add_argument("--devices", default="100,500,1000,2000", help="comma-separated counts")
    ap.add_argument("--repeats", type=int, default=3, help="runs per simulator and count")
    ap.add_argument("--experiment", type=int, default=4, choices=(0, 4))
    ap.add_argument("--full-collision", type=int, default=1, choices=(0, 1))
    ap.add_argument("--simtime-s", type=float, default=100_000.0, help="simulated time")
    ap.add_argument("--avgsend-s", type=float, default=1000.0, help="mean gap between frames")
    ap.add_argument(
        "--engine",
        default="auto",
        choices=("auto", "fast", "simpy"),
        help="HyperLoRa engine (the preset's 'auto' picks the fast path)",
    )
    ap.add_argument(
        "--bytecode",
        default="cached",
        choices=("cached", "compile"),
        help="cached: children cache compiled modules (in the scratch directory, after one "
        "warm-up run each); compile: PYTHONDONTWRITEBYTECODE=1, nothing cached",
    )
    ap.add_argument("--json", action="store_true", help="also print every run as JSON")
    args = ap.parse_args()
    if (args.experiment, args.full_collision) not in PRESETS:
        ap.error("supported: experiment 4 with --full-collision 0 or 1, experiment 0 with 1")
    devices = [int(x) for x in args.devices.split(",") if x]
    copies = parse_lorasim(args.lorasim)
    for _, path in copies:
        if not path.is_file():
            ap.error(f"--lorasim {path}: no such file")
    if not copies:
        print(
            "LoRaSim not given (--lorasim /path/to/patched/loraDir.py): timing HyperLoRa only.",
            file=sys.stderr,
        )
    preset = PRESETS[(args.experiment, args.full_collision)]
    print(f"machine     {machine()}")
    print(
        f"scenario    LoRaSim loraDir.py experiment {args.experiment}, full collision "
        f"{args.full_collision}, {args.simtime_s:,.0f} s simulated, mean gap "
        f"{args.avgsend_s:,.0f} s, 1 gateway  <->  HyperLoRa preset '{preset}'"
    )
    print(f"runs        {args.repeats} per simulator and device count, interleaved, seeds 1..")
    print(f"bytecode    {args.bytecode}")
    # both simulators are single-threaded; keep numpy's BLAS pool from burning CPU at import
    threads = {k: "1" for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env = {**os.environ, **threads, "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg"}
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bench-lorasim-") as scratch:
        if args.bytecode == "cached":
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(Path(scratch) / "pycache")
            # untimed warm-up: fills the bytecode cache of both sides' imports
            run_hyperlora(args, min(devices), 1, scratch, env)
            for label, path in copies:
                run_lorasim(args, label, path, min(devices), 1, scratch, env)
        else:  # as sessions 1 and 2 ran: nothing cached (unless a __pycache__ exists already)
            env["PYTHONDONTWRITEBYTECODE"] = "1"
            env.pop("PYTHONPYCACHEPREFIX", None)
        for rep in range(args.repeats):
            seed = rep + 1
            for n in devices:
                jobs: list[tuple[str, Path | None]] = [("hyperlora", None), *copies]
                # alternate the order so neither side always runs first after the other
                if rep % 2 == 0:
                    jobs.reverse()
                for label, copy in jobs:
                    if copy is None:
                        r = run_hyperlora(args, n, seed, scratch, env)
                    else:
                        r = run_lorasim(args, label, copy, n, seed, scratch, env)
                    runs.append(r)
                    print(
                        f"  {r.simulator:16} n={n:<5} seed={seed} packets={r.packets:>7} "
                        f"wall={r.wall_s:6.2f}s cpu={r.cpu_s:6.2f}s "
                        f"pkt/cpu-s={r.pps_cpu:>8,.0f} der={r.der:.4f}",
                        file=sys.stderr,
                        flush=True,
                    )
    rows = summarise(runs, devices, [label for label, _ in copies])
    print()
    print("medians of the runs (DER: mean); CPU = user + system of the child process,")
    print("interpreter start-up and imports included; 'after imports' = CPU from the end of")
    print("the imports to the result (HyperLoRa: scenario load, build, run; LoRaSim: the rest")
    print("of its script), when the child reports it")
    print_table(rows)
    for label, _ in copies:
        mine = [r for r in rows if r.simulator == label]
        ok = all(
            r.speed_ratio is not None
            and r.speed_ratio >= 2.0
            and r.der_diff_pp is not None
            and abs(r.der_diff_pp) <= 2.0
            for r in mine
        )
        verdict = "met" if ok else "MISSED"
        print(f"target against {label} (>= 2x packets per CPU s, DER within 2 pp): {verdict}")
        if all(r.sim_speed_ratio is not None for r in mine):
            ok = all(r.sim_speed_ratio is not None and r.sim_speed_ratio >= 2.0 for r in mine)
            verdict = "met" if ok else "MISSED"
            print(f"  the same on the CPU after the imports of both processes: {verdict}")
    if args.json:
        out = {
            "machine": machine(),
            "bytecode": args.bytecode,
            "runs": [asdict(r) for r in runs],
            "rows": [asdict(r) for r in rows],
        }
        print(json.dumps(out))


if __name__ == "__main__":
    main()
