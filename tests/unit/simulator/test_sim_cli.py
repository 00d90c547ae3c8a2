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
    assert runner.invoke(app, ["lorasim", "--sweep-seeds", "1,x"]).exit_code == 2


def test_sweep_seeds_equal_single_runs(tmp_path: Path) -> None:
    """A seed sweep runs in one process and gives, run by run, what the single runs give."""
    r = runner.invoke(
        app,
        ["lorasim", "--devices", "25", "--sweep-seeds", "3,1", "--json", "--out", str(tmp_path)],
    )
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert [(row["devices"], row["seed"]) for row in rows] == [(25, 3), (25, 1)]
    for row in rows:
        single = runner.invoke(
            app, ["lorasim", "--devices", "25", "--seed", str(row["seed"]), "--json"]
        )
        assert json.loads(single.stdout) == row
        assert (tmp_path / f"lorasim-static-25-seed{row['seed']}" / "metrics.json").exists()
    assert (tmp_path / "sweep.json").exists()


def test_sweep_devices_and_seeds_plot_the_mean(tmp_path: Path) -> None:
    r = runner.invoke(
        app,
        ["lorasim", "--sweep-devices", "10,30", "--sweep-seeds", "1,2", "--json", "--plot",
         "--out", str(tmp_path)],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert [(row["devices"], row["seed"]) for row in rows] == [(10, 1), (10, 2), (30, 1), (30, 2)]
    assert (tmp_path / "der_sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_yaml_syntax_error_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ndevices: [1, 2\n", encoding="utf-8")
    r = runner.invoke(app, [str(bad)])
    assert r.exit_code == 2
    assert "error" in r.output
