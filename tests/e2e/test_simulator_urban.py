"""End-to-end (pure mode): dense urban presets through the command line, with class A
downlinks limited by the gateways' duty cycle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml  # type: ignore[import-untyped]
from typer.testing import CliRunner

from services.cli.simulate import simulate
from simulator import Scenario, load_scenario, run_scenario

pytestmark = pytest.mark.e2e

app = typer.Typer()
app.command()(simulate)


def _short(name: str, hours: float) -> dict[str, Any]:
    data = load_scenario(name).model_dump()
    data["duration_s"] = hours * 3600.0
    return data


def test_confirmed_traffic_is_limited_by_gateway_duty_cycle() -> None:
    data = _short("urban-1k", 2.0)
    data["devices"]["traffic"]["confirmed"] = True
    sc = Scenario.model_validate(data)
    r = run_scenario(sc)
    dl = r.downlinks
    # one gateway cannot acknowledge 1.7 frames per second within 1 % (RX1) and 10 % (RX2)
    assert dl["refused"].get("duty_cycle", 0) > 0
    assert 0 < dl["acks_received"] < r.transmissions
    assert r.retransmissions > 0
    # every retransmission is a frame whose ACK did not arrive
    assert r.transmissions == r.sent + r.retransmissions
    assert r.der > r.pdr * 0.9


def test_density_sweep_through_cli(tmp_path: Path) -> None:
    scenario = tmp_path / "urban-short.yaml"
    data = _short("urban-1k", 1.0)
    scenario.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    r = CliRunner().invoke(
        app,
        [str(scenario), "--sweep-devices", "500,2000,5000", "--json", "--plot", "--out", str(out)],
    )
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    ders = [row["der"] for row in rows]
    assert [row["devices"] for row in rows] == [500, 2000, 5000]
    assert ders[0] > ders[1] > ders[2]  # more devices, more collisions
    assert rows[2]["collisions"] > rows[0]["collisions"]
    assert (out / "der_sweep.png").exists()
    assert (out / "urban-1k-static-5000" / "map.png").exists()


def test_more_gateways_deliver_more() -> None:
    base = load_scenario("urban-5k-4gw")
    data = base.model_dump()
    data["duration_s"] = 3600.0
    four = run_scenario(Scenario.model_validate(data))
    data["gateways"] = {"count": 1, "placement": "center"}
    one = run_scenario(Scenario.model_validate(data))
    assert four.der > one.der
    assert one.lost_by_cause["out_of_range"] > four.lost_by_cause["out_of_range"]
