"""Fixtures of the simulator tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.unit.simulator.sim_harness import Harness, tiny_scenario


@pytest.fixture
def harness() -> Callable[..., Harness]:
    def make(**overrides: Any) -> Harness:
        return Harness(tiny_scenario(**overrides))

    return make
