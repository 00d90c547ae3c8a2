"""``hyperlora simulate`` through typer's CliRunner on the command function itself."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from services.cli.simulate import simulate

app = typer.Typer()
app.command()(simulate)
runner = CliRunner()


def test_json_output() -> None:
    r = runner.invoke(app, ["lorasim", "--devices", "30", "--seed", "2", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert {"der", "sent", "delivered", "collisions"} <= set(d)
    assert d["devices"] == 30 and d["seed"] == 2
    assert 0.0 < d["der"] <= 1.0
    again = runner.invoke(app, ["lorasim", "--devices", "30", "--seed", "2", "--json"])
    assert json.loads(again.stdout) == d


def test_out_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = runner.invoke(app, ["lorasim", "--devices", "20", "--out", str(out), "--plot"])
    assert r.exit_code == 0, r.output
    for name in ("metrics.json", "summary.csv", "der_over_time.csv", "per_sf.csv"):
        assert (out / name).stat().st_size > 0
    for name in ("der_over_time.png", "sf_distribution.png", "channel_utilisation.png", "map.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sweep(tmp_path: Path) -> None:
    r = runner.invoke(
        app,
        ["lorasim", "--sweep-devices", "10,40", "--json", "--out", str(tmp_path), "--plot"],
    )
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert [row["devices"] for row in rows] == [10, 40]
    assert (tmp_path / "der_sweep.png").exists()
    assert (tmp_path / "sweep.json").exists()


def test_sweep_policy() -> None:
    r = runner.invoke(app, ["lorasim", "--devices", "10", "--sweep-policy", "static", "--json"])
    assert r.exit_code == 0, r.output
    assert [row["policy"] for row in json.loads(r.stdout)] == ["static"]


def test_errors() -> None:
    assert runner.invoke(app, ["no-such-scenario.yaml"]).exit_code == 2
    assert runner.invoke(app, ["lorasim", "--policy", "nope"]).exit_code == 2
    assert runner.invoke(app, ["lorasim", "--sweep-devices", "a,b"]).exit_code == 2
