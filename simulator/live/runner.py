"""Running a scenario in live mode: provisioning, gateways, the real-time engine, results."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..engine import Simulation
from ..metrics import SimulationResult
from ..policy import RateControlPolicy
from ..scenario import Scenario
from .env import LiveEnvironment
from .network import LiveNetwork, LiveOptions, LiveStats
from .provision import Provisioned, Provisioner

log = logging.getLogger("hyperlora.simulator.live")


@dataclass(frozen=True, slots=True)
class ApiTarget:
    """Where and how to provision (None fields: the defaults below)."""

    url: str
    key: str
    tenant: str = "simulator"
    application: str = "simulator"
    device_profile: str | None = None  # None: "sim-<region>-<mac_version>"


@dataclass(slots=True)
class LiveResult:
    result: SimulationResult
    live: LiveStats
    gateways: dict[str, dict[str, object]]
    speed: float
    wall_s: float
    paused_s: float
    holds: int
    holds_expired: int
    provisioned: Provisioned | None = None
    dev_euis: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = self.result.to_dict()
        d["live"] = {
            "speed": self.speed,
            "wall_s": round(self.wall_s, 3),
            "paused_s": round(self.paused_s, 3),
            "holds": self.holds,
            "holds_expired": self.holds_expired,
            **self.live.to_dict(),
            "gateways": self.gateways,
            "provisioned": None
            if self.provisioned is None
            else dataclasses.asdict(self.provisioned),
        }
        return d

    def write(self, out_dir: str | Path) -> list[Path]:
        paths = self.result.write(out_dir)
        p = Path(out_dir) / "live.json"
        p.write_bytes(orjson.dumps(self.to_dict()["live"], option=orjson.OPT_INDENT_2))
        return [*paths, p]


def live_scenario(scenario: Scenario) -> Scenario:
    """Live mode joins over the air: OTAA on, class A on (the JoinAccept is a downlink)."""
    data = scenario.model_dump()
    data["devices"]["otaa"] = True
    data["class_a"] = True
    return Scenario.model_validate(data)


def run_live(
    scenario: Scenario,
    server: tuple[str, int],
    options: LiveOptions | None = None,
    api: ApiTarget | None = None,
    progress: Callable[[float], None] | None = None,
    policy: RateControlPolicy | None = None,
) -> LiveResult:
    """Provision (when ``api`` is given), connect the gateways, run the scenario against the
    server at ``options.speed`` times real time, and return both sides' counters."""
    options = options or LiveOptions()
    sc = live_scenario(scenario)
    env = LiveEnvironment(options.speed)
    net = LiveNetwork(server, options)
    sim = Simulation(sc, network=net, policy=policy, env=env)
    provisioned = None
    if api is not None:
        profile = api.device_profile or f"sim-{sc.region.lower()}-{options.mac_version}"
        with Provisioner(api.url, api.key) as prov:
            provisioned = prov.provision(
                tenant=api.tenant,
                application=api.application,
                profile=profile,
                region=sc.region,
                mac_version=options.mac_version,
                gateways=[g.gw_eui.upper() for g in sim.gateways],
                devices=net.device_keys(),
            )
    env.pump = net.pump
    net.connect()
    try:
        env.sync()
        t0 = time.monotonic()
        result = sim.run(progress)
        net.drain()
        wall = time.monotonic() - t0
    finally:
        stats = net.finish()
        gateways = net.gateway_counters()
        net.close()
    return LiveResult(
        result=result,
        live=stats,
        gateways=gateways,
        speed=options.speed,
        wall_s=wall,
        paused_s=env.paused_s,
        holds=env.holds_total,
        holds_expired=env.holds_expired,
        provisioned=provisioned,
        dev_euis=[d.dev_eui.upper() for d in sim.devices],
    )
