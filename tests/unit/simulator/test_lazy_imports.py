"""Start-up cost of the simulate path: what a fast-path run imports, and the lazy package
``__init__``s of services.lorawan and services.drcc that keep it small (same public names)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import services.drcc
import services.lorawan
from services.drcc import plugin
from services.drcc.plugins import FACTORIES

#: a fresh interpreter runs the LoRaSim preset (fast path) and lists what got imported
_PROBE = """
import json, sys
from simulator.engine import Simulation
from simulator.scenario import load_scenario
sim = Simulation(load_scenario("lorasim").with_overrides(devices=50))
result = sim.run()
print(json.dumps({"engine": result.engine, "modules": sorted(sys.modules)}))
"""

#: modules the fast path must not load: the event engine, its network side and the policy
#: registry (the fast path runs only the static policy), crypto and frame codecs, the
#: rate-control plugins with their regional tables, plotting, the CLI's UI, numpy.ma,
#: numpy.typing (annotations only)
NOT_ON_THE_FAST_PATH = [
    "simpy",
    "simulator.network",
    "simulator.policy",
    "services.drcc",
    "cryptography",
    "services.lorawan.crypto",
    "services.lorawan.phy_payload",
    "services.lorawan.region",
    "services.drcc.plugins",
    "matplotlib",
    "rich",
    "typer",
    "orjson",
    "numpy.ma",
    "numpy.typing",
]


def test_a_fast_path_run_imports_only_what_it_needs() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["engine"] == "fast"
    loaded = set(out["modules"])
    assert "services.lorawan.airtime" in loaded and "numpy" in loaded
    assert sorted(m for m in NOT_ON_THE_FAST_PATH if m in loaded) == []


def test_the_event_engine_still_gets_its_simpy_environment() -> None:
    from simulator.engine import Simulation
    from simulator.scenario import load_scenario

    sim = Simulation(load_scenario("lorasim").with_overrides(devices=5))
    assert sim.engine == "fast"
    env = sim.env  # created on demand
    assert type(env).__name__ == "Environment" and sim.env is env
    with pytest.raises(AttributeError):
        _ = sim.no_such_attribute  # type: ignore[attr-defined]


def test_the_fast_path_creates_its_policy_and_network_side_on_demand() -> None:
    from simulator.engine import Simulation
    from simulator.network import PureNetwork
    from simulator.policy import StaticPolicy
    from simulator.scenario import load_scenario

    sim = Simulation(load_scenario("lorasim").with_overrides(devices=5))
    assert sim.engine == "fast" and "policy" not in vars(sim) and "network" not in vars(sim)
    assert sim.policy_name == "static"
    result = sim.run()
    assert result.policy == "static" and "policy" not in vars(sim)
    assert isinstance(sim.policy, StaticPolicy) and sim.policy is sim.policy
    network = sim.network  # a PureNetwork attached to the run, as the event engine has
    assert isinstance(network, PureNetwork) and sim.network is network
    assert sim._wants_all is False and sim._on_dl_received is None


def test_the_event_engine_creates_its_policy_and_network_side_up_front() -> None:
    from simulator.engine import Simulation
    from simulator.network import PureNetwork
    from simulator.scenario import load_scenario

    data = load_scenario("lorasim").with_overrides(devices=5).model_dump()
    data["engine"] = "simpy"
    sim = Simulation(type(load_scenario("lorasim")).model_validate(data))
    assert sim.engine == "simpy" and isinstance(vars(sim)["network"], PureNetwork)
    assert vars(sim)["policy"].name == sim.policy_name == "static"
    assert sim.run().policy == "static"


def test_drcc_registers_every_shipped_plugin_on_import() -> None:
    assert set(services.drcc.SHIPPED_POLICIES) == set(FACTORIES)
    assert set(FACTORIES) <= set(plugin.available_policies())
    for name, factory in FACTORIES.items():
        policy = plugin.get_policy(name)
        assert type(policy) is factory and policy.name == name
    assert callable(services.drcc.register_all)
    assert services.drcc.plugins.FACTORIES is FACTORIES  # submodules reachable as attributes
    with pytest.raises(AttributeError):
        _ = services.drcc.no_such_name


@pytest.mark.parametrize("name", services.lorawan.__all__)
def test_lorawan_public_names_resolve_lazily(name: str) -> None:
    value = getattr(services.lorawan, name)
    module = services.lorawan._WHERE[name]
    assert value is getattr(sys.modules[f"services.lorawan.{module}"], name)
    assert name in dir(services.lorawan)


def test_lorawan_submodules_and_unknown_names() -> None:
    from services.lorawan import PhyPayload, aes_cmac

    assert services.lorawan.crypto.aes_cmac is aes_cmac
    assert PhyPayload.__module__ == "services.lorawan.phy_payload"
    assert not hasattr(services.lorawan, "no_such_name")
    with pytest.raises(ImportError):
        from services.lorawan import no_such_name  # type: ignore[attr-defined]  # noqa: F401


@pytest.mark.parametrize("n", [1, 2, 3, 10, 101, 5000])
def test_latency_percentiles_equal_numpys(n: int) -> None:
    import numpy as np

    from simulator.metrics import _percentile

    rng = np.random.default_rng(n)
    for _ in range(20):
        values = rng.exponential(2.0, n)
        ordered = np.sort(values)
        for q in (0.0, 0.25, 0.5, 0.95, 1.0):
            assert _percentile(ordered, q) == float(np.percentile(values, 100 * q))
