"""The rate-control plugins of services.drcc: ``static``, ``lorawan-adr`` and ``drcc``.

``register_all(register_fn)`` registers them with any registry that takes
``(name, factory)`` — :func:`services.drcc.plugin.register_policy` (done on import of
:mod:`services.drcc`) or the simulator's ``simulator.policy.register_policy``.
"""

from __future__ import annotations

from collections.abc import Callable

from ..plugin import PolicyFactory, StaticPolicy
from .drcc import DrccParams, DrccPolicy
from .lorawan_adr import AdrParams, LoRaWanAdrPolicy

#: names accepted for each plugin (device profiles may say "default", "adr", "lorawan_adr")
ALIASES: dict[str, str] = {
    "adr": "lorawan-adr",
    "lorawan_adr": "lorawan-adr",
    "standard": "lorawan-adr",
    "none": "static",
    "off": "static",
}

FACTORIES: dict[str, PolicyFactory] = {
    "static": StaticPolicy,
    "lorawan-adr": LoRaWanAdrPolicy,
    "drcc": DrccPolicy,
}


def register_all(register_fn: Callable[[str, PolicyFactory], object]) -> None:
    """Register every plugin of this package with ``register_fn(name, factory)``."""
    for name, factory in FACTORIES.items():
        register_fn(name, factory)


def canonical_name(name: str) -> str:
    key = name.strip().lower()
    return ALIASES.get(key, key)


__all__ = [
    "ALIASES",
    "FACTORIES",
    "AdrParams",
    "DrccParams",
    "DrccPolicy",
    "LoRaWanAdrPolicy",
    "canonical_name",
    "register_all",
]
