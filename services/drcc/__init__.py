"""DRCC: data rate and channel control, and the standard LoRaWAN ADR beside it.

- :mod:`services.drcc.plugin` — the plugin interface (``PolicyRequest`` ->
  ``LinkAdrDecision``) and the registry shared with the simulator;
- :mod:`services.drcc.plugins` — ``static``, ``lorawan-adr``, ``drcc``;
- :mod:`services.drcc.der`, :mod:`services.drcc.usage` — DER from frame-counter gaps, the
  network-wide channel usage window;
- :mod:`services.drcc.service` — ``DrccService`` (ns.up.meta in, drcc.link_adr out);
- :mod:`services.drcc.study` — the simulator study (``python -m services.drcc.study``).
"""

from .plugin import register_policy
from .plugins import register_all

register_all(register_policy)
