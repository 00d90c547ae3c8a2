"""Forecasts of a zone's arrival rate over the next period (pure; state is plain data).

* EWMA: level = alpha x + (1 - alpha) level.
* Holt (double exponential smoothing): level and trend; the forecast one period ahead is
  level + trend, never below zero. A step in the arrival rate is followed within a few periods,
  and the trend term anticipates a ramp.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def ewma(
    state: Mapping[str, Any] | None, x: float, alpha: float = 0.5
) -> tuple[float, dict[str, float]]:
    level = x if not state else alpha * x + (1 - alpha) * float(state["level"])
    return max(0.0, level), {"level": level}


def holt(
    state: Mapping[str, Any] | None, x: float, alpha: float = 0.6, beta: float = 0.3
) -> tuple[float, dict[str, float]]:
    """(forecast one period ahead, new state) after observing ``x``."""
    if not state:
        return max(0.0, x), {"level": x, "trend": 0.0}
    level0, trend0 = float(state["level"]), float(state["trend"])
    level = alpha * x + (1 - alpha) * (level0 + trend0)
    trend = beta * (level - level0) + (1 - beta) * trend0
    return max(0.0, level + trend), {"level": level, "trend": trend}


FORECASTERS = {"ewma": ewma, "holt": holt}
