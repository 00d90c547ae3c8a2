"""The DRCC study: static vs lorawan-adr vs drcc in the simulator (pure mode).

One command reproduces every figure and table of docs/experiments/drcc.md::

    python -m services.drcc.study --out docs/experiments/drcc

Scenario (built here, see :func:`study_scenario`): EU868, 8 channels, one simulated hour,
dense urban path loss (7.7 dB at 1 m, exponent 3.76, 4 dB shadowing; as the urban presets),
3 km disc, 1 or 3 gateways (centre / grid), one 20-byte uplink per device every 120 s
(+/- 12 s), 1 % duty cycle, class A downlinks (the LinkADRReq travels in RX1/RX2 and makes
its gateway deaf while it transmits), capture, preamble rule, imperfect SF orthogonality,
8 demodulator paths. Devices start at a uniformly random SF (they do not know their link,
as after a join at an arbitrary data rate), which is what rate control is for.

Writes ``results.json`` (every run's metrics), ``summary.csv`` and the PNG plots.
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import orjson

EU868_8CH = [
    868_100_000,
    868_300_000,
    868_500_000,
    867_100_000,
    867_300_000,
    867_500_000,
    867_700_000,
    867_900_000,
]
POLICIES = ("static", "lorawan-adr", "drcc")
DEVICES = (500, 1000, 2000, 5000, 10000)
GATEWAYS = (1, 3)
SEEDS = (1, 2)


def study_scenario(
    devices: int,
    gateways: int,
    seed: int,
    policy: str,
    duration_s: float = 3600.0,
    period_s: float = 120.0,
    sf_assignment: str = "random",
) -> Any:
    from simulator.scenario import Scenario

    return Scenario.model_validate(
        {
            "name": "drcc-study",
            "region": "EU868",
            "duration_s": duration_s,
            "seed": seed,
            "policy": policy,
            "area": {"shape": "disc", "radius_m": 3000},
            "devices": {
                "count": devices,
                "sf_assignment": sf_assignment,
                "tx_power_dbm": 14,
                "channels_hz": EU868_8CH,
                "traffic": {
                    "kind": "periodic",
                    "period_s": period_s,
                    "jitter_s": period_s / 10,
                    "payload_bytes": 20,
                },
            },
            "gateways": {"count": gateways, "placement": "grid" if gateways > 1 else "center"},
            "path_loss": {"d0_m": 1, "pl_d0_db": 7.7, "gamma": 3.76, "sigma_db": 4},
            "reception": {
                "capture_threshold_db": 6,
                "preamble_rule": True,
                "inter_sf": True,
                "demodulator_paths": 8,
            },
            "duty_cycle": True,
            "class_a": True,
            "time_bins": 12,
        }
    )


#: the second suite: realistic traffic (one uplink per 10 minutes) over six hours, so that
#: lorawan-adr, which waits for 20 uplinks, gets to act too
LONG = {"devices": (1000, 5000, 10000), "seeds": (1,), "duration_s": 6 * 3600.0, "period_s": 600.0}

#: the tuning suite: one DRCC constant at a time around the chosen values (2000 devices)
TUNE: dict[str, tuple[float, ...]] = {
    "min_gain_ratio": (0.0, 0.5, 1.0, 1.25, 1.5),
    "snr_guard_db": (0.0, 3.0, 6.0, 10.0),
    "der_low": (0.5, 0.75, 0.85),
    "min_interval_s": (0.0, 600.0, 1800.0),
}

Point = tuple[int, int, int, str, str, float, float, tuple[tuple[str, float], ...]]


def run_point(args: Point) -> dict[str, Any]:
    """One simulation (runs in a worker process)."""
    devices, gateways, seed, policy, sf_assignment, duration_s, period_s, overrides = args
    import services.drcc  # noqa: F401  (registers the plugins in services.drcc.plugin)
    from services.drcc.plugin import get_policy
    from simulator.engine import Simulation

    sc = study_scenario(
        devices, gateways, seed, policy, duration_s, period_s, sf_assignment=sf_assignment
    )
    t0 = time.perf_counter()
    pol: Any = get_policy(policy)  # same shape as simulator.policy.RateControlPolicy
    if overrides:
        import dataclasses

        from services.drcc.plugins import DrccParams, DrccPolicy

        changes: dict[str, Any] = dict(overrides)
        pol = DrccPolicy(dataclasses.replace(DrccParams(), **changes))
    result = Simulation(sc, policy=pol).run()
    d = result.to_dict()
    d["wall_s"] = round(time.perf_counter() - t0, 2)
    d["sf_assignment"] = sf_assignment
    d["period_s"] = period_s
    d["overrides"] = dict(overrides)
    return d


def run_grid(
    devices: Sequence[int],
    gateways: Sequence[int],
    seeds: Sequence[int],
    policies: Sequence[str],
    workers: int,
    sf_assignment: str = "random",
    duration_s: float = 3600.0,
    period_s: float = 120.0,
) -> list[dict[str, Any]]:
    points: list[Point] = [
        (n, g, s, p, sf_assignment, duration_s, period_s, ())
        for n in sorted(devices, reverse=True)
        for g in gateways
        for s in seeds
        for p in policies
    ]
    return run_points(points, workers)


def run_points(points: list[Point], workers: int) -> list[dict[str, Any]]:
    if workers <= 1:
        return [run_point(p) for p in points]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run_point, points))


def run_tuning(gateways: Sequence[int], workers: int, sf_assignment: str) -> list[dict[str, Any]]:
    """DRCC at 2000 devices, seed 1, varying one constant at a time."""
    points: list[Point] = [
        (2000, g, 1, "drcc", sf_assignment, 3600.0, 120.0, ((name, value),))
        for g in gateways
        for name, values in TUNE.items()
        for value in values
    ]
    return run_points(points, workers)


def tuning_report(out: Path, results: list[dict[str, Any]]) -> None:
    """tuning.csv and tuning.png: DER against each constant, one line per gateway count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    for r in results:
        ((name, value),) = r["overrides"].items()
        rows.append(
            {
                "constant": name,
                "value": value,
                "gateways": r["gateways"],
                "der": r["der"],
                "der_last_quarter": round(der_last_quarter(r), 4),
                "link_adr_applied": r["downlinks"]["link_adr_applied"],
                "lost_gateway_tx": r["lost_by_cause"].get("gateway_tx", 0),
            }
        )
    with (out / "tuning.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    fig, axes = plt.subplots(1, len(TUNE), figsize=(4.2 * len(TUNE), 3.6), squeeze=False)
    for ax, name in zip(axes[0], TUNE, strict=True):
        for g in sorted({r["gateways"] for r in rows}):
            pts = sorted(
                (r["value"], r["der"]) for r in rows if r["constant"] == name and r["gateways"] == g
            )
            ax.plot([x for x, _ in pts], [y for _, y in pts], marker="o", label=f"{g} gw")
        ax.set_xlabel(name)
        ax.set_ylabel("DER (2000 devices, 1 h, seed 1)")
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "tuning.png", dpi=110)
    plt.close(fig)
    for r in rows:
        print(f"tune {r['constant']}={r['value']} gw={r['gateways']} DER {r['der']:.3f}")


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def der_last_quarter(r: dict[str, Any]) -> float:
    """DER of the frames generated in the last quarter of the run (after the transient)."""
    bins = [b for b in r["der_over_time"] if b["t_start_s"] >= 0.75 * r["duration_s"] - 1e-6]
    sent = sum(b["sent"] for b in bins)
    return sum(b["delivered"] for b in bins) / sent if sent else 0.0


def summarise(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean over seeds per (gateways, devices, policy)."""
    groups: dict[tuple[int, int, str], list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["gateways"], r["devices"], r["policy"]), []).append(r)
    rows = []
    for (g, n, p), rs in sorted(groups.items()):
        ders = [r["der"] for r in rs]
        rows.append(
            {
                "gateways": g,
                "devices": n,
                "policy": p,
                "seeds": len(rs),
                "der": round(_mean(ders), 4),
                "der_min": round(min(ders), 4),
                "der_max": round(max(ders), 4),
                "der_last_quarter": round(_mean([der_last_quarter(r) for r in rs]), 4),
                "collisions": round(_mean([r["collisions"] for r in rs]), 1),
                "lost_gateway_tx": round(
                    _mean([r["lost_by_cause"].get("gateway_tx", 0) for r in rs]), 1
                ),
                "lost_no_demodulator": round(
                    _mean([r["lost_by_cause"].get("no_demodulator", 0) for r in rs]), 1
                ),
                "link_adr_applied": round(
                    _mean([r["downlinks"]["link_adr_applied"] for r in rs]), 1
                ),
                "energy_per_delivered_j": round(
                    _mean([r["energy_j"]["per_delivered_frame"] for r in rs]), 5
                ),
                "wall_s": round(_mean([r.get("wall_s", 0.0) for r in rs]), 1),
            }
        )
    return rows


def plot(results: list[dict[str, Any]], rows: list[dict[str, Any]], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    gws = sorted({r["gateways"] for r in rows})
    policies = [p for p in POLICIES if any(r["policy"] == p for r in rows)]

    def by_metric(metric: str, ylabel: str, fname: str, logy: bool = False) -> None:
        fig, axes = plt.subplots(1, len(gws), figsize=(5.5 * len(gws), 4), squeeze=False)
        for ax, g in zip(axes[0], gws, strict=True):
            for p in policies:
                pts = sorted(
                    (r["devices"], r[metric])
                    for r in rows
                    if r["gateways"] == g and r["policy"] == p
                )
                ax.plot([x for x, _ in pts], [y for _, y in pts], marker="o", label=p)
            ax.set_xscale("log")
            if logy:
                ax.set_yscale("log")
            ax.set_title(f"{g} gateway{'s' if g > 1 else ''}")
            ax.set_xlabel("devices")
            ax.set_ylabel(ylabel)
            ax.grid(True, alpha=0.3)
            ax.legend()
        fig.tight_layout()
        path = out / fname
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    by_metric("der", "DER over the run (mean over seeds)", "der_vs_devices.png")
    by_metric("der_last_quarter", "DER, last quarter of the run", "der_last_quarter_vs_devices.png")
    by_metric("collisions", "lost transmissions by collision", "collisions_vs_devices.png")
    by_metric(
        "energy_per_delivered_j", "energy per delivered frame (J)", "energy_vs_devices.png", True
    )
    by_metric(
        "lost_gateway_tx", "frames lost to gateway TX (downlinks)", "gateway_tx_vs_devices.png"
    )

    seed0 = min(r["seed"] for r in results)
    for kind in ("sf", "channel"):
        fig, axes = plt.subplots(1, len(gws), figsize=(5.5 * len(gws), 4), squeeze=False)
        for ax, g in zip(axes[0], gws, strict=True):
            n = (
                2000
                if any(r["devices"] == 2000 for r in results)
                else max(r["devices"] for r in results)
            )
            sel = [
                r
                for r in results
                if r["gateways"] == g and r["devices"] == n and r["seed"] == seed0
            ]
            width = 0.8 / max(len(policies), 1)
            for i, p in enumerate(policies):
                rs = [r for r in sel if r["policy"] == p]
                if not rs:
                    continue
                r = rs[0]
                if kind == "sf":
                    keys = [str(sf) for sf in range(7, 13)]
                    vals = [r["sf_distribution"].get(k, 0) for k in keys]
                    labels = [f"SF{k}" for k in keys]
                else:
                    keys = sorted(r["per_channel"], key=int)
                    vals = [r["per_channel"][k]["utilisation"] for k in keys]
                    labels = [f"{int(k) / 1e6:.1f}" for k in keys]
                xs = [j + i * width for j in range(len(keys))]
                ax.bar(xs, vals, width=width, label=p)
                ax.set_xticks([j + 0.4 - width / 2 for j in range(len(keys))], labels, rotation=45)
            ax.set_title(f"{n} devices, {g} gateway{'s' if g > 1 else ''}, seed {seed0}")
            ax.set_ylabel(
                "devices at end of run" if kind == "sf" else "utilisation (airtime / time)"
            )
            ax.legend()
            ax.grid(True, axis="y", alpha=0.3)
        fig.tight_layout()
        path = out / ("sf_distribution.png" if kind == "sf" else "channel_utilisation.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    # DER over time at the densest point
    n = max(r["devices"] for r in results)
    fig, axes = plt.subplots(1, len(gws), figsize=(5.5 * len(gws), 4), squeeze=False)
    for ax, g in zip(axes[0], gws, strict=True):
        for p in policies:
            rs = [
                r
                for r in results
                if r["gateways"] == g
                and r["devices"] == n
                and r["policy"] == p
                and r["seed"] == seed0
            ]
            if rs:
                bins = rs[0]["der_over_time"]
                ax.plot(
                    [b["t_start_s"] / 60 for b in bins],
                    [b["der"] for b in bins],
                    marker=".",
                    label=p,
                )
        ax.set_title(f"{n} devices, {g} gateway{'s' if g > 1 else ''}")
        ax.set_xlabel("minutes")
        ax.set_ylabel("DER of frames generated")
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path = out / "der_over_time.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)
    return written


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def write_suite(out: Path, results: list[dict[str, Any]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    report(out, results)


def report(out: Path, results: list[dict[str, Any]]) -> None:
    rows = summarise(results)
    with (out / "summary.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    for r in rows:
        print(
            f"gw={r['gateways']} n={r['devices']:>5} {r['policy']:<12} DER {r['der']:.3f} "
            f"[{r['der_min']:.3f}..{r['der_max']:.3f}] lastQ {r['der_last_quarter']:.3f} "
            f"coll {r['collisions']:.0f} "
            f"gw_tx {r['lost_gateway_tx']:.0f} adr {r['link_adr_applied']:.0f} "
            f"E/frame {r['energy_per_delivered_j']:.4f} J"
        )
    for p in plot(results, rows, out):
        print(f"wrote {p}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("docs/experiments/drcc"))
    ap.add_argument(
        "--suite",
        default="all",
        choices=["all", "main", "long", "tune"],
        help="main: 1 h, 120 s period, the density grid; long: 6 h, 600 s period (out/long); "
        "tune: DRCC constants one at a time (out/tuning.*)",
    )
    ap.add_argument("--devices", default=",".join(map(str, DEVICES)))
    ap.add_argument("--gateways", default=",".join(map(str, GATEWAYS)))
    ap.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    ap.add_argument("--policies", default=",".join(POLICIES))
    ap.add_argument("--sf-assignment", default="random", choices=["random", "min_airtime", "fixed"])
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--replot", action="store_true", help="only redraw from results.json")
    a = ap.parse_args(argv)
    out: Path = a.out
    policies = [p for p in a.policies.split(",") if p]
    suites = ["main", "long", "tune"] if a.suite == "all" else [a.suite]
    for suite in suites:
        if suite == "tune":
            tune_file = out / "tuning.json"
            if a.replot:
                tuned = orjson.loads(tune_file.read_bytes())
            else:
                tuned = run_tuning(_ints(a.gateways), a.workers, a.sf_assignment)
                out.mkdir(parents=True, exist_ok=True)
                tune_file.write_bytes(orjson.dumps(tuned, option=orjson.OPT_INDENT_2))
            tuning_report(out, tuned)
            continue
        where = out if suite == "main" else out / "long"
        if a.replot:
            report(where, orjson.loads((where / "results.json").read_bytes()))
            continue
        t0 = time.perf_counter()
        if suite == "main":
            results = run_grid(
                _ints(a.devices),
                _ints(a.gateways),
                _ints(a.seeds),
                policies,
                a.workers,
                a.sf_assignment,
            )
        else:
            results = run_grid(
                LONG["devices"],  # type: ignore[arg-type]
                _ints(a.gateways),
                LONG["seeds"],  # type: ignore[arg-type]
                policies,
                a.workers,
                a.sf_assignment,
                float(LONG["duration_s"]),  # type: ignore[arg-type]
                float(LONG["period_s"]),  # type: ignore[arg-type]
            )
        print(f"{suite}: {len(results)} runs in {time.perf_counter() - t0:.0f} s")
        write_suite(where, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
