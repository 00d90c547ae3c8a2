"""``hyperlora simulate``: run a radio scenario in pure mode, or in live mode against a running
HyperLoRa over Semtech UDP (``--live HOST:PORT``); see docs/simulator.md.

Register with ``app.command("simulate")(simulate)``.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import typer
import yaml  # type: ignore[import-untyped]
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from simulator.policy import UnknownPolicy, get_policy
from simulator.runner import run_sweep, sweep_points
from simulator.scenario import load_scenario


def _int_list(text: str | None, option: str = "--sweep-devices") -> list[int] | None:
    if not text:
        return None
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise typer.BadParameter(
            f"expected comma-separated integers, got {text!r}", param_hint=option
        ) from exc


def _str_list(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [x.strip() for x in text.split(",") if x.strip()]


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise typer.BadParameter(f"expected HOST:PORT, got {text!r}", param_hint="--live")
    return host, int(port)


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
    sweep_seeds: str | None = typer.Option(
        None,
        "--sweep-seeds",
        help="comma-separated seeds, e.g. 1,2,3 (all runs in this one process)",
    ),
    live: str | None = typer.Option(
        None,
        "--live",
        help="live mode: drive the HyperLoRa at this Semtech UDP HOST:PORT (e.g. 127.0.0.1:1700)",
    ),
    api_url: str | None = typer.Option(
        None, "--api-url", help="live mode: provision through this REST API first"
    ),
    api_key: str | None = typer.Option(
        None, "--api-key", envvar="HYPERLORA_API_KEY", help="live mode: API key (admin or tenant)"
    ),
    speed: float = typer.Option(
        1.0, "--speed", min=0.01, help="live mode: simulated seconds per wall-clock second"
    ),
    mac_version: str = typer.Option(
        "1.0.3", "--mac-version", help="live mode: LoRaWAN version of the devices"
    ),
) -> None:
    """Simulate a LoRaWAN radio scenario and report DER, collisions, load and energy."""
    err = Console(stderr=True)
    if live is not None:
        if sweep_devices or sweep_policy or sweep_seeds:
            err.print("[red]error:[/red] --live runs one scenario: no --sweep-* options")
            raise typer.Exit(2)
        if (api_url is None) != (api_key is None):
            err.print("[red]error:[/red] --api-url and --api-key go together")
            raise typer.Exit(2)
        _simulate_live(
            scenario, _host_port(live), api_url, api_key, speed, mac_version,
            devices, seed, policy, out, json_out, err,
        )  # fmt: skip
        return
    try:
        sc = load_scenario(scenario).with_overrides(devices=devices, seed=seed, policy=policy)
        counts = _int_list(sweep_devices)
        policies = _str_list(sweep_policy)
        seeds = _int_list(sweep_seeds, "--sweep-seeds")
        for name in {sc.policy, *(policies or [])}:
            get_policy(name)
    except (FileNotFoundError, ValidationError, UnknownPolicy, yaml.YAMLError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc

    n_runs = len(sweep_points(sc, counts, policies, seeds))
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

        results = run_sweep(sc, counts, policies, progress, seeds)

    swept = counts is not None or policies is not None or seeds is not None
    out_dir = out if out is not None else (Path("sim-out") if plot else None)
    if out_dir is not None:
        from simulator.plots import plot_sweep, write_plots

        for r in results:
            name = f"{r.scenario}-{r.policy}-{r.devices}" + (f"-seed{r.seed}" if seeds else "")
            sub = out_dir / name if swept else out_dir
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


def _simulate_live(
    scenario: str,
    server: tuple[str, int],
    api_url: str | None,
    api_key: str | None,
    speed: float,
    mac_version: str,
    devices: int | None,
    seed: int | None,
    policy: str | None,
    out: Path | None,
    json_out: bool,
    err: Console,
) -> None:
    from simulator.live import (
        ApiTarget,
        LiveConnectionError,
        LiveOptions,
        ProvisioningError,
        run_live,
    )

    try:
        sc = load_scenario(scenario).with_overrides(devices=devices, seed=seed, policy=policy)
        get_policy(sc.policy)
        options = LiveOptions(speed=speed, mac_version=mac_version)
    except (FileNotFoundError, ValidationError, UnknownPolicy, yaml.YAMLError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    api = None if api_url is None or api_key is None else ApiTarget(api_url, api_key)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=err,
        transient=json_out,
    ) as bar:
        task = bar.add_task(f"{sc.name} live x{speed:g}", total=1.0)
        try:
            res = run_live(sc, server, options, api, lambda f: bar.update(task, completed=f))
        except (LiveConnectionError, ProvisioningError) as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from exc
    if out is not None:
        res.write(out)
    if json_out:
        typer.echo(orjson.dumps(res.to_dict(), option=orjson.OPT_INDENT_2).decode())
        return
    st = res.live
    err.print(
        f"{sc.name} live x{speed:g} devices={sc.devices.count}: joined {st.joined}, "
        f"sent {st.frames_sent}, forwarded {st.uplinks_forwarded} "
        f"({st.rxpk_forwarded} gateway copies), joins {st.join_requests_forwarded}/"
        f"{st.join_requests_sent} forwarded, downlinks {st.downlinks_received} "
        f"(ACKs {st.acks_received}, LinkADRReq applied {st.link_adr_applied}), "
        f"{res.wall_s:.1f} s wall"
    )
