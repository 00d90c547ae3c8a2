"""Placement of devices and gateways in the scenario area (area centre at the origin)."""

from __future__ import annotations

import math
import random

from .scenario import AreaConfig, GatewayConfig


def uniform_in_area(rng: random.Random, area: AreaConfig, radius_m: float) -> tuple[float, float]:
    """One point uniformly distributed in the disc of ``radius_m`` or the square area."""
    if area.shape == "square":
        assert area.side_m is not None
        h = area.side_m / 2.0
        return rng.uniform(-h, h), rng.uniform(-h, h)
    r = radius_m * math.sqrt(rng.random())
    a = 2.0 * math.pi * rng.random()
    return r * math.cos(a), r * math.sin(a)


def grid_points(n: int, extent_m: float) -> list[tuple[float, float]]:
    """``n`` points at the centres of a near-square grid covering [-extent, extent]^2."""
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    pts: list[tuple[float, float]] = []
    for i in range(n):
        r, c = divmod(i, cols)
        x = -extent_m + (2 * c + 1) * extent_m / cols
        y = -extent_m + (2 * r + 1) * extent_m / rows
        pts.append((x, y))
    return pts


def place_gateways(
    rng: random.Random, cfg: GatewayConfig, area: AreaConfig, radius_m: float
) -> list[tuple[float, float]]:
    if cfg.placement == "explicit":
        assert cfg.positions is not None
        return [(float(x), float(y)) for x, y in cfg.positions]
    if cfg.placement == "random":
        return [uniform_in_area(rng, area, radius_m) for _ in range(cfg.count)]
    if cfg.placement == "grid" or cfg.count > 1:
        # a grid inscribed in the area (disc: inside the inscribed square)
        extent = (area.side_m / 2.0) if area.shape == "square" and area.side_m else radius_m
        if area.shape == "disc":
            extent = radius_m / math.sqrt(2.0)
        return grid_points(cfg.count, extent)
    return [(0.0, 0.0)]
