"""Plots of simulation results (matplotlib, Agg backend, PNG files)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from .metrics import SimulationResult


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_der_over_time(result: SimulationResult, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 3.5))
    rows = result.der_over_time
    xs = [r["t_start_s"] / 3600.0 for r in rows]
    ax.step(xs, [r["der"] for r in rows], where="post")
    ax.set_xlabel("time of generation (h)")
    ax.set_ylabel("DER")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"{result.scenario}: DER over time ({result.devices} devices)")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_sf_distribution(result: SimulationResult, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    sfs = list(result.sf_distribution)
    ax.bar([f"SF{s}" for s in sfs], [result.sf_distribution[s] for s in sfs])
    ax.set_ylabel("devices")
    ax.set_title("spreading factors (end of run)")
    return _save(fig, path)


def plot_channel_utilisation(result: SimulationResult, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    chans = list(result.per_channel)
    ax.bar(
        [f"{int(c) / 1e6:.1f}" for c in chans],
        [100.0 * result.per_channel[c]["utilisation"] for c in chans],
    )
    ax.set_xlabel("channel (MHz)")
    ax.set_ylabel("airtime (% of duration)")
    ax.set_title("channel utilisation")
    return _save(fig, path)


def plot_map(result: SimulationResult, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 6))
    pos = result.device_positions
    if pos:
        sc = ax.scatter(
            [p[0] for p in pos], [p[1] for p in pos], c=[p[2] for p in pos], s=4, cmap="viridis"
        )
        fig.colorbar(sc, ax=ax, label="SF")
    gws = result.gateway_positions
    ax.scatter([g[0] for g in gws], [g[1] for g in gws], marker="^", s=90, c="red", label="gateway")
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.legend(loc="upper right")
    ax.set_title(f"{result.scenario}: {result.devices} devices, {result.gateways} gateways")
    return _save(fig, path)


def _mean_der(results: Sequence[SimulationResult], policy: str, devices: int) -> float:
    ders = [r.der for r in results if r.policy == policy and r.devices == devices]
    return sum(ders) / len(ders)


def plot_sweep(results: Sequence[SimulationResult], path: Path) -> Path:
    """DER against device count, one line per policy (or DER per policy if one density); with
    several seeds per point, their mean DER."""
    fig, ax = plt.subplots(figsize=(6, 4))
    policies = sorted({r.policy for r in results})
    counts = sorted({r.devices for r in results})
    seeds = len({r.seed for r in results})
    if len(counts) > 1:
        for pol in policies:
            mine = sorted({r.devices for r in results if r.policy == pol})
            pts = [(n, _mean_der(results, pol, n)) for n in mine]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=pol)
        ax.set_xlabel("devices")
        ax.legend()
    else:
        ax.bar(policies, [_mean_der(results, p, counts[0]) for p in policies])
        ax.set_xlabel("policy")
    ax.set_ylabel("DER" if seeds == 1 else f"DER (mean of {seeds} seeds)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(f"{results[0].scenario}: DER")
    return _save(fig, path)


def write_plots(result: SimulationResult, out_dir: str | Path) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [
        plot_der_over_time(result, out / "der_over_time.png"),
        plot_sf_distribution(result, out / "sf_distribution.png"),
        plot_channel_utilisation(result, out / "channel_utilisation.png"),
        plot_map(result, out / "map.png"),
    ]
