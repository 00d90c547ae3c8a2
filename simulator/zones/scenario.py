"""Zone scenarios: per-zone arrival-rate profiles (piecewise constant), e.g. a hotspot."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RateStep:
    zone: str
    start_s: float
    end_s: float
    rate: float  # records/s during [start_s, end_s)


@dataclass(frozen=True, slots=True)
class ZoneScenario:
    zones: tuple[str, ...]
    base_rate: dict[str, float]
    steps: tuple[RateStep, ...] = ()
    duration_s: float = 1080.0
    meta: dict[str, float] = field(default_factory=dict)

    def rate(self, zone: str, t: float) -> float:
        for s in self.steps:
            if s.zone == zone and s.start_s <= t < s.end_s:
                return s.rate
        return self.base_rate.get(zone, 0.0)

    def breakpoints(self) -> list[float]:
        pts = {0.0, self.duration_s}
        for s in self.steps:
            pts.update((s.start_s, s.end_s))
        return sorted(p for p in pts if 0.0 <= p <= self.duration_s)


def hotspot(
    zones: int = 6,
    capacity: float = 5.0,
    idle_load: float = 0.3,
    hot_load: float = 3.0,
    burst_start_s: float = 120.0,
    burst_s: float = 600.0,
    after_s: float = 360.0,
) -> ZoneScenario:
    """Zone ``zone-1``'s arrival rate steps to ``hot_load`` x capacity for ``burst_s``; every
    zone (``zone-1`` outside the burst too) stays at ``idle_load`` x capacity."""
    names = tuple(f"zone-{i + 1}" for i in range(zones))
    base = {z: idle_load * capacity for z in names}
    step = RateStep(names[0], burst_start_s, burst_start_s + burst_s, hot_load * capacity)
    return ZoneScenario(
        names,
        base,
        (step,),
        burst_start_s + burst_s + after_s,
        {"burst_start_s": burst_start_s, "burst_end_s": burst_start_s + burst_s},
    )
