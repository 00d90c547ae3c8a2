"""Live mode: the simulated gateways are Semtech UDP packet forwarders talking to a running
HyperLoRa, the devices join over the air and send real LoRaWAN frames. See docs/simulator.md.

    from simulator import load_scenario
    from simulator.live import ApiTarget, LiveOptions, run_live
    res = run_live(load_scenario("my.yaml"), ("127.0.0.1", 1700), LiveOptions(speed=20),
                   ApiTarget("http://127.0.0.1:8080", api_key))
    print(res.live.uplinks_forwarded, res.live.joined)
"""

from .device import LiveDevice, derive_root_key
from .env import LiveEnvironment
from .network import LiveConnectionError, LiveNetwork, LiveOptions, LiveStats
from .provision import Provisioned, Provisioner, ProvisioningError
from .runner import ApiTarget, LiveResult, live_scenario, run_live

__all__ = [
    "ApiTarget",
    "LiveConnectionError",
    "LiveDevice",
    "LiveEnvironment",
    "LiveNetwork",
    "LiveOptions",
    "LiveResult",
    "LiveStats",
    "Provisioned",
    "Provisioner",
    "ProvisioningError",
    "derive_root_key",
    "live_scenario",
    "run_live",
]
