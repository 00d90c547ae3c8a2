"""The plugin interface: same names and fields as the simulator's, registries, settings."""

from __future__ import annotations

import dataclasses

import pytest

import services.drcc  # noqa: F401  (registers the plugins)
from services.drcc import plugin
from services.drcc.plugins import canonical_name, register_all
from services.drcc.settings import DrccSettings
from simulator import policy as sim_policy


@pytest.mark.parametrize("name", ["UplinkRecord", "PolicyRequest", "LinkAdrDecision"])
def test_same_fields_as_the_simulator_interface(name: str) -> None:
    ours = [f.name for f in dataclasses.fields(getattr(plugin, name))]
    theirs = [f.name for f in dataclasses.fields(getattr(sim_policy, name))]
    assert ours[: len(theirs)] == theirs  # extended only at the end, with defaults
    required = [
        f.name
        for f in dataclasses.fields(getattr(plugin, name))
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    assert set(required) <= set(theirs)


def test_same_registry_api_as_the_simulator() -> None:
    for name in ("register_policy", "get_policy", "available_policies", "history_window"):
        assert callable(getattr(plugin, name))
    assert issubclass(plugin.UnknownPolicy, KeyError)
    assert plugin.StaticPolicy().decide(plugin.PolicyRequest("x", "EU868", 0, 0, 1, (), ())) is None


def test_registered_by_name() -> None:
    assert {"static", "lorawan-adr", "drcc"} <= set(plugin.available_policies())
    for name in ("static", "lorawan-adr", "drcc"):
        pol = plugin.get_policy(name)
        assert pol.name == name and isinstance(pol, plugin.RateControlPolicy)
    assert isinstance(plugin.get_policy("drcc"), plugin.StatefulPolicy)
    with pytest.raises(plugin.UnknownPolicy):
        plugin.get_policy("nope")


def test_register_all_with_the_simulators_registry() -> None:
    register_all(sim_policy.register_policy)
    assert sim_policy.get_policy("drcc").name == "drcc"
    assert sim_policy.get_policy("lorawan-adr").name == "lorawan-adr"


@pytest.mark.parametrize(
    ("given", "canonical"),
    [("lorawan_adr", "lorawan-adr"), ("ADR", "lorawan-adr"), ("drcc", "drcc"), ("off", "static")],
)
def test_aliases(given: str, canonical: str) -> None:
    assert canonical_name(given) == canonical


def test_decision_equality_ignores_the_reason() -> None:
    a = plugin.LinkAdrDecision(5, 1, (1.0,), 1, reason="a")
    assert a == plugin.LinkAdrDecision(5, 1, (1.0,), 1, reason="b")


def test_settings() -> None:
    s = DrccSettings(default_policy="lorawan_adr")
    assert s.default_policy == "lorawan-adr"
    assert s.channel_plan_hz() == (
        868_100_000,
        868_300_000,
        868_500_000,
        867_100_000,
        867_300_000,
        867_500_000,
        867_700_000,
        867_900_000,
    )
    with pytest.raises(ValueError):
        DrccSettings(default_policy="magic")
    with pytest.raises(ValueError):
        DrccSettings(der_low=0.95, der_high=0.9)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYPERLORA_DRCC_DEFAULT_POLICY", "drcc")
    monkeypatch.setenv("HYPERLORA_DRCC_DER_LOW", "0.6")
    s = DrccSettings()
    assert s.default_policy == "drcc" and s.drcc_params().der_low == 0.6
