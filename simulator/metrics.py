"""Metrics as data: a collector filled by the engine and the result it produces.

DER (data extraction rate) = distinct frames delivered / frames sent (a frame counts once
however many transmissions it took). PDR = transmissions received by at least one gateway /
transmissions. Collisions are counted per lost transmission, by the cause seen at its
strongest gateway.
"""

from __future__ import annotations

import csv
import math
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOSS_CAUSES = (
    "out_of_range",
    "collision_same_sf",
    "collision_inter_sf",
    "no_demodulator",
    "gateway_tx",
)
COLLISION_CAUSES = ("collision_same_sf", "collision_inter_sf")


@dataclass(slots=True)
class MetricsCollector:
    duration_s: float
    bins: int
    frames: int = 0
    delivered: int = 0
    transmissions: int = 0
    tx_received: int = 0
    retransmissions: int = 0
    duty_cycle_deferrals: int = 0
    downlinks_scheduled: int = 0
    downlinks_received: int = 0
    acks_received: int = 0
    link_adr_applied: int = 0
    lost: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LOSS_CAUSES, 0))
    copies_lost: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LOSS_CAUSES, 0))
    downlinks_refused: dict[str, int] = field(default_factory=dict)
    #: (sf, frequency) -> [transmissions, airtime seconds]
    load: dict[tuple[int, float], list[float]] = field(default_factory=dict)
    gen_bins: list[int] = field(default_factory=list)
    deliv_bins: list[int] = field(default_factory=list)
    latencies: array[float] = field(default_factory=lambda: array("d"))
    join_requests: int = 0
    join_requests_received: int = 0
    joins: int = 0
    join_latencies: array[float] = field(default_factory=lambda: array("d"))

    def __post_init__(self) -> None:
        self.gen_bins = [0] * self.bins
        self.deliv_bins = [0] * self.bins

    def bin_of(self, t: float) -> int:
        return min(int(t / self.duration_s * self.bins), self.bins - 1)


def _r(x: float, nd: int = 6) -> float:
    return round(float(x), nd)


@dataclass(slots=True)
class SimulationResult:
    """Everything a run measured, as plain data (JSON/CSV ready)."""

    scenario: str
    seed: int
    policy: str
    devices: int
    gateways: int
    duration_s: float
    wall_s: float
    sent: int
    delivered: int
    transmissions: int
    received_transmissions: int
    retransmissions: int
    lost_by_cause: dict[str, int]
    copies_lost_by_cause: dict[str, int]
    duty_cycle_deferrals: int
    downlinks: dict[str, Any]
    per_sf: dict[str, dict[str, float]]
    per_channel: dict[str, dict[str, float]]
    sf_distribution: dict[str, int]
    energy_j: dict[str, float]
    latency_s: dict[str, float]
    der_over_time: list[dict[str, float]]
    join: dict[str, Any] = field(default_factory=dict)
    device_positions: list[tuple[float, float, int]] = field(default_factory=list)
    gateway_positions: list[tuple[float, float]] = field(default_factory=list)
    #: which engine ran: "simpy" (event-driven) or "fast" (vectorized open-loop path)
    engine: str = "simpy"

    @property
    def der(self) -> float:
        return self.delivered / self.sent if self.sent else 0.0

    @property
    def pdr(self) -> float:
        return self.received_transmissions / self.transmissions if self.transmissions else 0.0

    @property
    def collisions(self) -> int:
        return sum(self.lost_by_cause.get(c, 0) for c in COLLISION_CAUSES)

    def to_dict(self, include_wall_time: bool = False) -> dict[str, Any]:
        """JSON-ready metrics. Wall time is left out by default so seeded runs compare equal."""
        d: dict[str, Any] = {
            "scenario": self.scenario,
            "seed": self.seed,
            "policy": self.policy,
            "devices": self.devices,
            "gateways": self.gateways,
            "duration_s": self.duration_s,
            "engine": self.engine,
            "der": _r(self.der),
            "pdr": _r(self.pdr),
            "sent": self.sent,
            "delivered": self.delivered,
            "transmissions": self.transmissions,
            "received_transmissions": self.received_transmissions,
            "retransmissions": self.retransmissions,
            "collisions": self.collisions,
            "lost_by_cause": self.lost_by_cause,
            "copies_lost_by_cause": self.copies_lost_by_cause,
            "duty_cycle_deferrals": self.duty_cycle_deferrals,
            "downlinks": self.downlinks,
            "per_sf": self.per_sf,
            "per_channel": self.per_channel,
            "sf_distribution": self.sf_distribution,
            "energy_j": self.energy_j,
            "latency_s": self.latency_s,
            "join": self.join,
            "der_over_time": self.der_over_time,
        }
        if include_wall_time:
            d["wall_s"] = _r(self.wall_s, 3)
        return d

    def to_json(self, include_wall_time: bool = False) -> bytes:
        import orjson

        return orjson.dumps(self.to_dict(include_wall_time), option=orjson.OPT_INDENT_2)

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write metrics.json and CSV files into ``out_dir``; return the paths written."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = [out / "metrics.json"]
        written[0].write_bytes(self.to_json(include_wall_time=True))
        summary = out / "summary.csv"
        keys = ["scenario", "seed", "policy", "devices", "gateways", "duration_s", "der", "pdr"]
        keys += ["sent", "delivered", "transmissions", "collisions"]
        d = self.to_dict()
        with summary.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(keys + [f"lost_{c}" for c in LOSS_CAUSES])
            w.writerow([d[k] for k in keys] + [self.lost_by_cause[c] for c in LOSS_CAUSES])
        written.append(summary)
        for name, rows, cols in (
            ("der_over_time.csv", self.der_over_time, ["t_start_s", "sent", "delivered", "der"]),
            (
                "per_sf.csv",
                [{"sf": k, **v} for k, v in self.per_sf.items()],
                ["sf", "transmissions", "airtime_s", "devices"],
            ),
            (
                "per_channel.csv",
                [{"freq_hz": k, **v} for k, v in self.per_channel.items()],
                ["freq_hz", "transmissions", "airtime_s", "utilisation"],
            ),
        ):
            p = out / name
            with p.open("w", newline="") as fh:
                dw = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore")
                dw.writeheader()
                dw.writerows(rows)
            written.append(p)
        return written


def latency_summary(latencies: array[float]) -> dict[str, float]:
    if len(latencies) == 0:
        return {"count": 0, "mean": 0.0, "p50": 0.0, "p95": 0.0, "max": 0.0}
    import numpy as np

    a = np.frombuffer(latencies, dtype=np.float64)
    ordered = np.sort(a)
    return {
        "count": int(a.size),
        "mean": _r(a.mean()),
        "p50": _r(_percentile(ordered, 0.5)),
        "p95": _r(_percentile(ordered, 0.95)),
        "max": _r(a.max()),
    }


def _percentile(ordered: Any, q: float) -> float:
    """``numpy.percentile(a, 100 * q)`` (its default ``linear`` method, same arithmetic) of
    the sorted values ``ordered``. numpy's own function imports ``numpy.ma`` on first use
    (about 10 ms of start-up for a small run)."""
    n = len(ordered)
    v = (n - 1) * q
    lo = math.floor(v)
    x = float(ordered[lo])
    y = float(ordered[min(lo + 1, n - 1)])
    g = v - lo
    d = y - x
    return y - d * (1.0 - g) if g >= 0.5 else x + d * g
