"""``hyperlora simulate``: run a radio scenario in pure mode (see docs/simulator.md).

Register with ``app.command("simulate")(simulate)``.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from simulator.policy import UnknownPolicy, get_policy
from simulator.runner import run_sweep, sweep_points
from simulator.scenario import load_scenario


def _int_list(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise typer.BadParameter(f"expected comma-separated integers, got {text!r}") from exc


def _str_list(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [x.strip() for x in text.split(",") if x.strip()]


def simulate(
    scenario: str = typer.Argument(..., help="scenario YAML file, or a preset name (lorasim...)"),
    out: Path | None = typer.Option(None, "--out", help="directory for metrics (JSON, CSV)"),
    plot: bool = typer.Option(
        False, "--plot", help="draw PNG plots into --out (default ./sim-out)"
    ),
    json_out: bool = typer.Option(False, "--json", help="print the metrics as JSON on stdout"),
    policy: str | None = typer.Option(None, "--policy", help="rate-control policy name"),
    devices: int | None = typer.Option(None, "--devices", min=1, help="override device count"),
    seed: int | None = typer.Option(None, "--seed", help="override the random seed"),
    sweep_devices: str | None = typer.Option(
        None, "--sweep-devices", help="comma-separated device counts, e.g. 100,500,1000"
    ),
    sweep_policy: str | None = typer.Option(
        None, "--sweep-policy", help="comma-separated policy names"
    ),
) -> None:
    """Simulate a LoRaWAN radio scenario and report DER, collisions, load and energy."""
    err = Console(stderr=True)
    try:
        sc = load_scenario(scenario).with_overrides(devices=devices, seed=seed, policy=policy)
        counts = _int_list(sweep_devices)
        policies = _str_list(sweep_policy)
        for name in {sc.policy, *(policies or [])}:
            get_policy(name)
    except (FileNotFoundError, ValidationError, UnknownPolicy) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc

    n_runs = len(sweep_points(sc, counts, policies))
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=err,
        transient=json_out,
    ) as bar:
        task = bar.add_task(f"{sc.name}", total=float(n_runs))

        def progress(i: int, n: int, frac: float) -> None:
            bar.update(task, completed=i + frac, description=f"{sc.name} run {i + 1}/{n}")

        results = run_sweep(sc, counts, policies, progress)

    swept = counts is not None or policies is not None
    out_dir = out if out is not None else (Path("sim-out") if plot else None)
    if out_dir is not None:
        from simulator.plots import plot_sweep, write_plots

        for r in results:
            sub = out_dir / f"{r.scenario}-{r.policy}-{r.devices}" if swept else out_dir
            r.write(sub)
            if plot:
                write_plots(r, sub)
        if swept and plot:
            plot_sweep(results, out_dir / "der_sweep.png")
        if swept:
            (out_dir / "sweep.json").write_bytes(
                orjson.dumps([r.to_dict() for r in results], option=orjson.OPT_INDENT_2)
            )
    if json_out:
        payload = [r.to_dict() for r in results] if swept else results[0].to_dict()
        typer.echo(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode())
        return
    for r in results:
        err.print(
            f"{r.scenario} policy={r.policy} devices={r.devices}: DER {r.der:.4f}, "
            f"PDR {r.pdr:.4f}, sent {r.sent}, delivered {r.delivered}, "
            f"collisions {r.collisions} ({r.wall_s:.1f} s)"
        )
    if out_dir is not None:
        err.print(f"results in {out_dir}")
