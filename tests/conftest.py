"""Tier markers follow the folder a test lives in, so `-m unit` (or integration, e2e, interop)
selects a whole tier without every file repeating its marker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The test process starts and stops many platforms: keep its garbage collector as Python's
# (a platform freezes the survivors of full collections, services.lifecycle.GcPauses, which
# would keep every stopped platform's cycles until the hourly thaw). The testbed's services
# inherit this; the `hyperlora run` tests drop HYPERLORA_* variables and keep the default.
os.environ.setdefault("HYPERLORA_GC_FREEZE_SURVIVORS", "false")

_TIERS = ("unit", "integration", "e2e", "interop")
_ROOT = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        try:
            rel = Path(str(item.path)).resolve().relative_to(_ROOT)
        except ValueError:
            continue
        tier = rel.parts[0] if rel.parts else ""
        if tier in _TIERS and not item.get_closest_marker(tier):
            item.add_marker(getattr(pytest.mark, tier))
