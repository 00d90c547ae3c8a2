"""DRCC: data rate and channel control, and the standard LoRaWAN ADR beside it.

- :mod:`services.drcc.plugin` — the plugin interface (``PolicyRequest`` ->
  ``LinkAdrDecision``) and the registry shared with the simulator;
- :mod:`services.drcc.plugins` — ``static``, ``lorawan-adr``, ``drcc``;
- :mod:`services.drcc.der`, :mod:`services.drcc.usage` — DER from frame-counter gaps, the
  network-wide channel usage window;
- :mod:`services.drcc.service` — ``DrccService`` (ns.up.meta in, drcc.link_adr out);
- :mod:`services.drcc.study` — the simulator study (``python -m services.drcc.study``).

Importing this package registers the shipped plugins by name, so any lookup through
:func:`services.drcc.plugin.get_policy` finds them. The registration is cheap: ``static`` is
registered directly, ``lorawan-adr`` and ``drcc`` through a small factory that imports
:mod:`services.drcc.plugins` (and with it the regional tables) on first use. A process that
only needs the interface or the ``static`` policy (the simulator's fast path) does not pay
for them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from services.lazy import submodule

from .plugin import PolicyFactory, RateControlPolicy, StaticPolicy, register_policy

if TYPE_CHECKING:
    from .plugins import register_all

#: the shipped plugins registered on import, loaded on first use (must equal
#: ``services.drcc.plugins.FACTORIES``; tests/unit/simulator/test_lazy_imports.py checks it)
SHIPPED_POLICIES = ("static", "lorawan-adr", "drcc")


def _deferred(name: str) -> PolicyFactory:
    def factory() -> RateControlPolicy:
        from .plugins import FACTORIES

        return FACTORIES[name]()

    factory.__name__ = f"deferred_{name.replace('-', '_')}"
    factory.__qualname__ = factory.__name__
    return factory


register_policy("static", StaticPolicy)
for _name in SHIPPED_POLICIES[1:]:
    register_policy(_name, _deferred(_name))
del _name

__all__ = ["SHIPPED_POLICIES", "register_all", "register_policy"]


def __getattr__(name: str) -> Any:
    """``register_all`` and the submodules (``services.drcc.plugins``...), imported on use."""
    if name == "register_all":
        value = importlib.import_module(".plugins", __name__).register_all
        globals()[name] = value
        return value
    return submodule(__name__, name)
