"""Helpers for the simulator tests: tiny simulations with hand-placed transmissions."""

from __future__ import annotations

from typing import Any

from simulator.engine import Simulation
from simulator.scenario import Scenario


def tiny_scenario(**overrides: Any) -> Scenario:
    """One gateway, devices on one channel, no duty cycle, no downlinks, very long period so
    each device sends only what the test schedules."""
    data: dict[str, Any] = {
        "name": "tiny",
        "duration_s": 100.0,
        "seed": 7,
        "area": {"shape": "disc", "radius_m": 100.0},
        "devices": {
            "count": 2,
            "sf": 7,
            "channels_hz": [868_100_000],
            "traffic": {"kind": "periodic", "period_s": 1e9, "payload_bytes": 20},
        },
        "gateways": {"count": 1},
        "duty_cycle": False,
        "class_a": False,
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return Scenario.model_validate(data)


class Harness:
    """A Simulation whose devices transmit only at the times a test asks for."""

    def __init__(self, scenario: Scenario) -> None:
        self.sim = Simulation(scenario)

    def set_rssi(self, dev_idx: int, rssi_dbm: float, gw_idx: int = 0) -> None:
        dev = self.sim.devices[dev_idx]
        dev.links[gw_idx] = (gw_idx, dev.tx_power_dbm - rssi_dbm)
        dev.profile = None

    def send_at(self, dev_idx: int, t: float) -> None:
        dev = self.sim.devices[dev_idx]
        self.sim._at(t, self.sim._generate, dev)

    def run(self) -> Any:
        self.sim._ran = True
        self.sim.env.run()
        return self.sim._result(0.0)
