"""The migration study: a hotspot (one zone at 3x its capacity for ten minutes, the others at
30 %) under the ``none``, ``threshold`` and ``predictive`` policies, on the zone-level model
(simulator/zones) and on the real embedded ledger + ledger writer (time-compressed).

    python -m services.migration.study --out docs/experiments/migration

writes the PNG plots and ``results.json`` (the figures quoted in
docs/experiments/migration.md). ``--no-embedded`` skips the real-ledger runs (about 9 minutes
of wall time at the default compression of 6).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
from pathlib import Path
from typing import Any

from simulator.zones import ZoneModel, ZoneScenario, ZoneSpec, hotspot

from .data import ZoneParams
from .model import expected_latency, md1_wait
from .stats import percentile
from .study_model import RunResult, run_model

POLICIES = ("none", "threshold", "predictive")
HOT = "zone-1"
WINDOW_S = 30.0
SPEC = ZoneSpec("zone", batch_size=10, batch_timeout_s=2.0, block_interval_s=2.0, raft_delay_s=0.2)
PERIOD_S = 5.0
FAST_CHECK_S = 1.0  # the service's fast checks between decisions (0: decisions only)
LABELS = {
    "model": "zone model, 6 zones",
    "model4": "zone model, 4 zones",
    "embedded": "embedded ledger + writer, 6 zones",
}
POLICY_OPTIONS = {"threshold": {"backlog_threshold": 20, "latency_threshold_s": 4.0}}


# --------------------------------------------------------------------------- analysis
def latencies(run: RunResult) -> list[tuple[str, str, float, float, bool]]:
    """(origin, zone, arrived, latency, censored): a record never committed counts with the
    lower bound of its latency (run end - arrival)."""
    end = float(run.meta.get("end_s", 0.0))
    out = []
    for origin, zone, at, lat in run.records:
        if lat is None:
            out.append((origin, zone, at, max(0.0, end - at), True))
        else:
            out.append((origin, zone, at, lat, False))
    return out


def windows(
    run: RunResult, duration_s: float, window_s: float = WINDOW_S, q: float = 0.95
) -> dict[str, list[tuple[float, float | None]]]:
    """Per origin zone: (window centre, q-percentile of commit latency by arrival time)."""
    n = math.ceil(duration_s / window_s)
    buckets: dict[str, list[list[float]]] = {}
    for origin, _zone, at, lat, _c in latencies(run):
        if 0 <= at < duration_s:
            buckets.setdefault(origin, [[] for _ in range(n)])[int(at // window_s)].append(lat)
    return {
        z: [((i + 0.5) * window_s, percentile(b, q)) for i, b in enumerate(rows)]
        for z, rows in sorted(buckets.items())
    }


def window_ratios(
    run: RunResult,
    scenario: ZoneScenario,
    recs: list[tuple[str, str, float, float, bool]] | None = None,
    wins: dict[str, list[tuple[float, float | None]]] | None = None,
) -> list[float]:
    """Hot/idle p95 ratio of each 30 s window of the burst (by arrival time)."""
    b0, b1 = scenario.meta["burst_start_s"], scenario.meta["burst_end_s"]
    recs = latencies(run) if recs is None else recs
    wins = windows(run, scenario.duration_s) if wins is None else wins
    ratios = []
    for i, (centre, hot_p95) in enumerate(wins.get(HOT, [])):
        if not b0 <= centre < b1 or hot_p95 is None:
            continue
        idle_p95 = percentile(
            [
                lat
                for o, _z, at, lat, _c in recs
                if o != HOT and i * WINDOW_S <= at < (i + 1) * WINDOW_S
            ],
            0.95,
        )
        if idle_p95:
            ratios.append(hot_p95 / idle_p95)
    return ratios


def summarise(run: RunResult, scenario: ZoneScenario) -> dict[str, Any]:
    b0, b1 = scenario.meta["burst_start_s"], scenario.meta["burst_end_s"]
    recs = latencies(run)
    hot = [lat for o, _z, at, lat, _c in recs if o == HOT and b0 <= at < b1]
    idle = [lat for o, _z, at, lat, _c in recs if o != HOT and b0 <= at < b1]
    before = [lat for o, _z, at, lat, _c in recs if at < b0]
    wins = windows(run, scenario.duration_s)
    ratios = window_ratios(run, scenario, recs, wins)
    moves = [d for d in run.decisions if d.get("changed")]
    movement = 0.0  # total |change| of the hot zone's shares over the run
    prev: dict[str, float] = {}
    for d in run.decisions:
        row = d["shares"].get(HOT, {})
        movement += sum(abs(row.get(t, 0.0) - prev.get(t, 0.0)) for t in set(row) | set(prev))
        prev = row
    p95_hot, p95_idle = percentile(hot, 0.95), percentile(idle, 0.95)
    return {
        "policy": run.policy,
        "kind": run.kind,
        "seed": run.meta.get("seed"),
        "burst_p95_hot_s": _r(p95_hot),
        "burst_p50_hot_s": _r(percentile(hot, 0.5)),
        "burst_p95_idle_s": _r(p95_idle),
        "burst_p50_idle_s": _r(percentile(idle, 0.5)),
        "before_p95_s": _r(percentile(before, 0.95)),
        "burst_ratio_p95": _r(p95_hot / p95_idle if p95_hot and p95_idle else None),
        "windows_within_1_5x": f"{sum(r <= 1.5 for r in ratios)}/{len(ratios)}",
        "window_ratio_max": _r(max(ratios) if ratios else None),
        "window_ratio_median": _r(statistics.median(ratios) if ratios else None),
        "hot_backlog_max": max((b.get(HOT, 0) for _t, b in run.backlog), default=0),
        "routing_changes": len(moves),
        "onset_reactions": sum(1 for d in moves if d.get("trigger") == "onset"),
        "hot_share_movement": _r(movement),
        "records": len(recs),
        "uncommitted": sum(c for *_x, c in recs),
        "window_ratios": [round(r, 2) for r in ratios],
        "hot_p95_last_burst_window_s": _r(
            next((p for c, p in reversed(wins.get(HOT, [])) if c < b1 and p is not None), None)
        ),
    }


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), 3)


# --------------------------------------------------------------------------- M/D/1 check
def _params(spec: ZoneSpec) -> ZoneParams:
    return ZoneParams(
        spec.batch_size, spec.batch_timeout_s, spec.block_interval_s, spec.raft_delay_s
    )


def md1_check(seed: int = 7) -> dict[str, Any]:
    """One zone alone, no migration: mean wait for the ordering service vs Pollaczek-Khinchine
    (rho < 1), and the latency growth for rho > 1."""
    spec = ZoneSpec(
        "z", SPEC.batch_size, SPEC.batch_timeout_s, SPEC.block_interval_s, SPEC.raft_delay_s
    )
    cap = spec.capacity
    nominal = spec.batch_timeout_s + 1 / cap + spec.raft_delay_s
    rows = []
    for rho in (0.2, 0.4, 0.6, 0.8, 0.9, 0.95):
        model = ZoneModel([spec], seed=seed)
        arr = model.poisson_arrivals({"z": rho * cap}, 0.0, 40000 / cap)
        model.advance(40000 / cap, arr, lambda o, d: o)
        model.advance(1e9, [], lambda o, d: o)
        lat = [r.latency_s for r in model.records]
        wait = [r.queue_wait_s for r in model.records]
        rows.append(
            {
                "rho": rho,
                "mean_queue_wait_s": round(statistics.fmean(wait), 3),
                "mean_latency_s": round(statistics.fmean(lat), 3),
                "p95_latency_s": round(percentile(lat, 0.95) or 0.0, 3),
                "pk_wait_s": round(md1_wait(rho, cap), 3),
                "model_latency_s": round(expected_latency(rho * cap, _params(spec), 0.0, 0.0), 3),
                "nominal_s": round(nominal, 3),
            }
        )
    growth = []
    for rho in (1.2, 1.5, 2.0, 3.0):
        model = ZoneModel([spec], seed=seed)
        arr = model.poisson_arrivals({"z": rho * cap}, 0.0, 600.0)
        model.advance(600.0, arr, lambda o, d: o)
        model.advance(1e9, [], lambda o, d: o)
        recs = model.records
        first = [r.latency_s for r in recs if r.arrived_at < 60]
        last = [r.latency_s for r in recs if r.arrived_at >= 540]
        slope = (statistics.fmean(last) - statistics.fmean(first)) / 540.0
        growth.append({"rho": rho, "slope": round(slope, 3), "fluid_slope": round(rho - 1, 3)})
    return {"below_capacity": rows, "above_capacity": growth}


# --------------------------------------------------------------------------- plots
def _plots(out: Path, runs: dict[str, dict[str, RunResult]], scenario: ZoneScenario) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    b0, b1 = scenario.meta["burst_start_s"], scenario.meta["burst_end_s"]
    for kind, by_policy in runs.items():
        fig, axes = plt.subplots(1, len(by_policy), figsize=(5 * len(by_policy), 4), sharey=True)
        for ax, (policy, run) in zip(axes, by_policy.items(), strict=True):
            for zone, pts in windows(run, scenario.duration_s).items():
                xs = [c for c, p in pts if p is not None]
                ys = [p for c, p in pts if p is not None]
                hot = zone == HOT
                ax.plot(
                    xs,
                    ys,
                    color="tab:red" if hot else "0.55",
                    lw=2.2 if hot else 0.9,
                    label=f"{zone} (hot)" if hot else ("idle zones" if zone == "zone-2" else None),
                )
            ax.axvspan(b0, b1, color="tab:orange", alpha=0.08)
            ax.set_yscale("log")
            ax.set_title(f"{policy}")
            ax.set_xlabel("arrival time (s, model time)")
            ax.grid(alpha=0.3, which="both")
        axes[0].set_ylabel(f"p95 commit latency (s), {WINDOW_S:.0f} s windows")
        axes[0].legend(loc="upper left")
        fig.suptitle(
            f"{LABELS.get(kind, kind)}: p95 commit latency per origin zone (shaded: burst)"
        )
        fig.tight_layout()
        name = f"{kind}_p95.png"
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        written.append(name)

        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
        for policy, run in by_policy.items():
            ts = [d["at"] for d in run.decisions]
            share = [sum(d["shares"].get(HOT, {}).values()) for d in run.decisions]
            ax1.step(ts, share, where="post", label=policy)
            bt = [t for t, _b in run.backlog]
            ax2.plot(bt, [b.get(HOT, 0) for _t, b in run.backlog], label=policy)
        for ax in (ax1, ax2):
            ax.axvspan(b0, b1, color="tab:orange", alpha=0.08)
            ax.set_xlabel("time (s, model time)")
            ax.grid(alpha=0.3)
            ax.legend()
        ax1.set_ylabel(f"share of {HOT}'s records migrated")
        ax2.set_ylabel(f"{HOT} backlog (records)")
        ax2.set_yscale("symlog")
        fig.suptitle(f"{LABELS.get(kind, kind)}: routing of the hot zone and its backlog")
        fig.tight_layout()
        name = f"{kind}_routing.png"
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        written.append(name)
    return written


def _md1_plot(out: Path, check: dict[str, Any]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = check["below_capacity"]
    fig, ax = plt.subplots(figsize=(6, 4))
    rho = [r["rho"] for r in rows]
    ax.plot(rho, [r["mean_queue_wait_s"] for r in rows], "o-", label="simulated mean queue wait")
    ax.plot(rho, [r["pk_wait_s"] for r in rows], "k:", label="Pollaczek-Khinchine M/D/1 wait")
    ax.plot(rho, [r["mean_latency_s"] for r in rows], "^-", label="simulated mean commit latency")
    ax.plot(rho, [r["p95_latency_s"] for r in rows], "v-", label="simulated p95 commit latency")
    ax.plot(rho, [r["model_latency_s"] for r in rows], "s--", label="policy's latency model")
    ax.set_xlabel("utilisation rho")
    ax.set_ylabel("commit latency (s)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    ax.set_title("one zone, no migration: latency vs utilisation")
    fig.tight_layout()
    fig.savefig(out / "model_md1.png", dpi=110)
    plt.close(fig)
    return "model_md1.png"


# --------------------------------------------------------------------------- tables
COLUMNS = (
    ("policy", "policy"),
    ("burst_p95_hot_s", "hot p95 (s)"),
    ("burst_p95_idle_s", "idle p95 (s)"),
    ("burst_ratio_p95", "hot/idle p95"),
    ("windows_within_1_5x", "30 s windows within 1.5x"),
    ("window_ratio_max", "worst window ratio"),
    ("hot_backlog_max", "max hot backlog"),
    ("routing_changes", "routing changes"),
    ("onset_reactions", "of which onset reactions"),
    ("hot_share_movement", "share movement"),
    ("uncommitted", "never committed"),
)


def render_tables(results: dict[str, Any]) -> str:
    """Markdown tables of ``results.json`` (written as tables.md beside it)."""
    parts = []
    for key, title in (
        ("model", "Zone model, 6 zones (one row per seed)"),
        ("model_4_zones", "Zone model, 4 zones (seed 1)"),
        ("embedded", "Embedded ledger + writer, 6 zones (time-compressed)"),
    ):
        rows = results.get(key) or []
        if not rows:
            continue
        parts.append(f"### {title}\n")
        parts.append("| " + " | ".join(h for _k, h in COLUMNS) + " |")
        parts.append("|" + "---|" * len(COLUMNS))
        for r in rows:
            parts.append("| " + " | ".join(str(r.get(k, "")) for k, _h in COLUMNS) + " |")
        parts.append("")
    starts = results.get("scenario", {})
    b0 = float(starts.get("burst", {}).get("burst_start_s", 120.0))
    w = float(starts.get("window_s", WINDOW_S))
    for key, title in (("model", "zone model"), ("embedded", "embedded ledger")):
        rows = [r for r in results.get(key) or [] if r.get("policy") != "none"]
        if not rows or not rows[0].get("window_ratios"):
            continue
        n = max(len(r["window_ratios"]) for r in rows)
        parts.append(f"### Hot/idle p95 per 30 s window of the burst, {title}\n")
        heads = [f"{b0 + i * w:.0f}" for i in range(n)]
        parts.append("| policy | seed | " + " | ".join(heads) + " |")
        parts.append("|---|---|" + "---|" * n)
        for r in rows:
            cells = [f"**{x}**" if x > 1.5 else str(x) for x in r["window_ratios"]]
            parts.append(f"| {r['policy']} | {r.get('seed')} | " + " | ".join(cells) + " |")
        parts.append("")
    md1 = results.get("md1_check")
    if md1:
        parts.append("### One zone alone, no migration (M/D/1 check)\n")
        parts.append(
            "| rho | simulated mean queue wait (s) | P-K M/D/1 wait (s) | simulated mean "
            "latency (s) | simulated p95 latency (s) | policy's model (s) |"
        )
        parts.append("|---|---|---|---|---|---|")
        for r in md1["below_capacity"]:
            parts.append(
                f"| {r['rho']} | {r['mean_queue_wait_s']} | {r['pk_wait_s']} | "
                f"{r['mean_latency_s']} | {r['p95_latency_s']} | {r['model_latency_s']} |"
            )
        parts.append("")
        parts.append("| rho | latency growth (s per s of arrival time) | fluid (rho - 1) |")
        parts.append("|---|---|---|")
        for r in md1["above_capacity"]:
            parts.append(f"| {r['rho']} | {r['slope']} | {r['fluid_slope']} |")
        parts.append("")
    return "\n".join(parts)


# --------------------------------------------------------------------------- main
async def study(
    out: Path,
    embedded: bool,
    compress: float,
    seeds: int,
    scenario: ZoneScenario,
    fast_check_s: float = FAST_CHECK_S,
) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "scenario": {
            "zones": list(scenario.zones),
            "capacity_per_zone": SPEC.capacity,
            "base_rate": scenario.base_rate,
            "burst": {"zone": HOT, **scenario.meta, "rate": scenario.steps[0].rate},
            "duration_s": scenario.duration_s,
            "batch_size": SPEC.batch_size,
            "batch_timeout_s": SPEC.batch_timeout_s,
            "block_interval_s": SPEC.block_interval_s,
            "raft_delay_s": SPEC.raft_delay_s,
            "period_s": PERIOD_S,
            "fast_check_s": fast_check_s,
            "window_s": WINDOW_S,
        },
        "model": [],
        "embedded": [],
    }
    runs: dict[str, dict[str, RunResult]] = {"model": {}}
    for policy in POLICIES:
        for seed in range(1, seeds + 1):
            run = await run_model(
                policy,
                scenario,
                SPEC,
                PERIOD_S,
                seed,
                policy_options=POLICY_OPTIONS.get(policy, {}),
                fast_check_s=fast_check_s,
            )
            results["model"].append(summarise(run, scenario))
            if seed == 1:
                runs["model"][policy] = run
            print(json.dumps(results["model"][-1]))
    # the same burst with only 4 zones: 3 + 3 x 0.3 = 3.9 x capacity of load for 4 x 0.8 = 3.2
    # x capacity of room, so no routing can keep every zone under its capacity
    small = hotspot(zones=4, capacity=SPEC.capacity)
    runs["model4"] = {}
    results["model_4_zones"] = []
    for policy in POLICIES:
        run = await run_model(
            policy,
            small,
            SPEC,
            PERIOD_S,
            1,
            policy_options=POLICY_OPTIONS.get(policy, {}),
            fast_check_s=fast_check_s,
        )
        runs["model4"][policy] = run
        results["model_4_zones"].append(summarise(run, small))
        print(json.dumps(results["model_4_zones"][-1]))
    if embedded:
        from .study_embedded import run_embedded

        runs["embedded"] = {}
        for policy in POLICIES:
            run = await run_embedded(
                policy,
                scenario,
                SPEC,
                compress=compress,
                period_s=PERIOD_S,
                fast_check_s=fast_check_s,
                policy_options=POLICY_OPTIONS.get(policy, {}),
            )
            summary = summarise(run, scenario)
            summary["meta"] = run.meta
            results["embedded"].append(summary)
            runs["embedded"][policy] = run
            print(json.dumps(summary))
    check = md1_check()
    results["md1_check"] = check
    results["plots"] = [*_plots(out, runs, scenario), _md1_plot(out, check)]
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "tables.md").write_text(render_tables(results))
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.migration.study")
    parser.add_argument("--out", type=Path, default=Path("docs/experiments/migration"))
    parser.add_argument("--no-embedded", action="store_true", help="zone model only")
    parser.add_argument("--compress", type=float, default=6.0, help="embedded time compression")
    parser.add_argument("--seeds", type=int, default=3, help="zone-model seeds per policy")
    parser.add_argument("--zones", type=int, default=6)
    parser.add_argument(
        "--fast-check-s",
        type=float,
        default=FAST_CHECK_S,
        help="model seconds between the service's fast checks (0: decisions only)",
    )
    args = parser.parse_args(argv)
    scenario = hotspot(zones=args.zones, capacity=SPEC.capacity)
    asyncio.run(
        study(
            args.out,
            not args.no_embedded,
            args.compress,
            args.seeds,
            scenario,
            args.fast_check_s,
        )
    )


if __name__ == "__main__":
    main()
