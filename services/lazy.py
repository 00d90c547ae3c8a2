"""Lazy package attributes: a package's submodules imported on first attribute access.

Used by the ``__getattr__`` of packages whose import must stay cheap (the simulator's
start-up imports ``services.lorawan`` and ``services.drcc``).
"""

from __future__ import annotations

import importlib
from types import ModuleType


def submodule(package: str, name: str) -> ModuleType:
    """``package.name`` imported now, or AttributeError as for any missing attribute."""
    if not name.startswith("_"):
        try:
            return importlib.import_module(f".{name}", package)
        except ModuleNotFoundError as exc:
            if exc.name != f"{package}.{name}":
                raise
    raise AttributeError(f"module {package!r} has no attribute {name!r}")
