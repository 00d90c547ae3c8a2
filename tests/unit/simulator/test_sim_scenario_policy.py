"""Scenario configuration (pydantic, YAML presets) and the rate-control plugin registry."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]
from pydantic import ValidationError

import simulator.scenario
from simulator.policy import (
    LinkAdrDecision,
    PolicyRequest,
    RateControlPolicy,
    StaticPolicy,
    UnknownPolicy,
    UplinkRecord,
    available_policies,
    get_policy,
    history_window,
    register_policy,
)
from simulator.scenario import PRESET_DIR, Scenario, list_presets, load_scenario


def test_presets_load() -> None:
    names = list_presets()
    assert {"lorasim", "urban-1k", "urban-5k-4gw", "urban-10k-8gw"} <= set(names)
    for name in names:
        sc = load_scenario(name)
        assert sc.name == name
    big = load_scenario("urban-10k-8gw")
    assert big.devices.count == 10_000
    assert big.gateways.count == 8
    assert len(big.devices.channels_hz or []) == 8


def test_presets_parse_the_same_with_libyaml_and_pure_python() -> None:
    """load_scenario parses with libyaml when PyYAML has it (faster start-up): every preset
    gives the same scenario as with PyYAML's pure-Python safe loader."""
    assert simulator.scenario._YAML_LOADER is getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for name in list_presets():
        text = (PRESET_DIR / f"{name}.yaml").read_text(encoding="utf-8")
        pure = Scenario.model_validate(yaml.load(text, Loader=yaml.SafeLoader))
        assert load_scenario(name) == pure, name


def test_a_yaml_syntax_error_is_a_yaml_error(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("name: x\ndevices: [1, 2\n", encoding="utf-8")
    with pytest.raises(yaml.YAMLError):
        load_scenario(p)


def test_lorasim_preset_constants() -> None:
    sc = load_scenario("lorasim")
    assert (sc.path_loss.d0_m, sc.path_loss.pl_d0_db, sc.path_loss.gamma) == (40, 127.41, 2.08)
    assert sc.path_loss.sigma_db == 0
    assert sc.reception.capture_threshold_db == 6
    assert sc.reception.preamble_rule and sc.reception.lock_symbols == 5
    assert sc.reception.demodulator_paths == 8
    assert sc.devices.traffic.payload_bytes + sc.devices.traffic.phy_overhead_bytes == 20
    assert sc.devices.channels_hz == [868_100_000]
    assert sc.gateways.count == 1


def test_load_from_path(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text("name: mine\nduration_s: 60\ndevices: {count: 3}\n")
    sc = load_scenario(p)
    assert (sc.name, sc.duration_s, sc.devices.count) == ("mine", 60, 3)
    with pytest.raises(FileNotFoundError):
        load_scenario(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    "data",
    [
        {"unknown_field": 1},
        {"duration_s": 0},
        {"devices": {"count": 0}},
        {"devices": {"sf": 13}},
        {"area": {"shape": "square"}},
        {"gateways": {"count": 2, "placement": "explicit", "positions": [[0, 0]]}},
        {"devices": {"traffic": {"kind": "bursty"}}},
    ],
)
def test_invalid_scenarios(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Scenario.model_validate(data)


def test_overrides() -> None:
    sc = load_scenario("lorasim")
    o = sc.with_overrides(devices=7, seed=9, policy="static")
    assert (o.devices.count, o.seed, o.policy) == (7, 9, "static")
    assert sc.devices.count == 100  # the original is untouched
    assert sc.with_overrides() == sc


def _request() -> PolicyRequest:
    rec = UplinkRecord(0.0, 1, 5, 1, 868.1e6, 1, 5.0, -90.0)
    return PolicyRequest("0011", "EU868", 5, 1, 1, (868.1e6,), (rec,))


def test_static_policy() -> None:
    p = get_policy("static")
    assert isinstance(p, StaticPolicy)
    assert isinstance(p, RateControlPolicy)
    assert p.decide(_request()) is None
    assert "static" in available_policies()


def test_registry() -> None:
    class Fixed:
        name = "fixed-dr3"
        history_length = 0

        def decide(self, request: PolicyRequest) -> LinkAdrDecision | None:
            return LinkAdrDecision(3, 0, request.channels_hz)

    register_policy("fixed-dr3", Fixed)
    p = get_policy("fixed-dr3")
    assert p.decide(_request()) == LinkAdrDecision(3, 0, (868.1e6,), 1)
    assert get_policy("fixed-dr3") is not p  # a fresh instance per call
    with pytest.raises(UnknownPolicy):
        get_policy("no-such-policy")


def test_history_window() -> None:
    recs = [UplinkRecord(float(i), i, 5, 1, 868.1e6, 1, 0.0, -100.0) for i in range(10)]
    assert [r.f_cnt for r in history_window(recs, 3)] == [7, 8, 9]
    assert history_window(recs, 0) == ()
