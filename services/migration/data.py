"""Plain data of the migration service: what is observed per zone, what a policy decides.

Shares: ``{origin_zone: {target_zone: share}}`` — the fraction of the records whose zone is
``origin_zone`` that go to ``target_zone``'s ledger; the rest (``1 - sum``) stays home. A zone
that sends records away receives none, and the other way round.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

Shares = dict[str, dict[str, float]]

MIN_SHARE = 1e-3  # shares below this are dropped


@dataclass(frozen=True, slots=True)
class ZoneParams:
    """The ordering service of one zone, as the queueing model sees it.

    ``capacity`` (records/s) = block rate at full blocks x batch size
    = ``batch_size / block_interval_s``.
    """

    batch_size: int = 10
    batch_timeout_s: float = 0.25
    block_interval_s: float = 0.25  # time to order and commit one full block
    raft_delay_s: float = 0.05  # consensus round trip added to every block

    @property
    def capacity(self) -> float:
        return self.batch_size / self.block_interval_s


@dataclass(frozen=True, slots=True)
class ZoneStats:
    """One zone observed over the last decision period (rates in records/s)."""

    zone: str
    arrival_rate: float  # records whose zone (origin) is this zone, before routing
    stored_rate: float = 0.0  # records routed to this zone's ledger
    backlog: int = 0  # records of this zone's ledger not yet committed
    commit_rate: float = 0.0
    block_rate: float = 0.0  # blocks/s on this zone's application channel
    block_size: float = 0.0  # mean transactions per block
    latency_p50_s: float | None = None
    latency_p95_s: float | None = None
    capacity: float = 0.0  # records/s this zone can commit

    @property
    def utilisation(self) -> float:
        return self.stored_rate / self.capacity if self.capacity > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "zone": self.zone,
            "arrival_rate": self.arrival_rate,
            "stored_rate": self.stored_rate,
            "backlog": self.backlog,
            "commit_rate": self.commit_rate,
            "block_rate": self.block_rate,
            "block_size": self.block_size,
            "latency_p50_s": self.latency_p50_s,
            "latency_p95_s": self.latency_p95_s,
            "capacity": self.capacity,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ZoneStats:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True, slots=True)
class PolicyInput:
    now: float
    period_s: float
    zones: Mapping[str, ZoneStats]
    current: Shares
    params: Mapping[str, ZoneParams]
    target_utilisation: float = 0.8
    state: Mapping[str, Any] = field(default_factory=dict)  # the policy's own memory
    options: Mapping[str, Any] = field(default_factory=dict)  # policy settings
    # seconds the zones' stats cover: the period for a decision, the time since the last
    # fast check for a reaction (None: ``period_s``)
    window_s: float | None = None

    @property
    def observed_s(self) -> float:
        return self.period_s if self.window_s is None else self.window_s


@dataclass(frozen=True, slots=True)
class PolicyOutput:
    shares: Shares
    reason: str = ""
    predicted_latency_s: dict[str, float] = field(default_factory=dict)
    forecast_rate: dict[str, float] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    """One period's decision as recorded in the history."""

    at: float
    policy: str
    epoch: int
    changed: bool
    shares: Shares
    proposed: Shares
    reason: str
    zones: dict[str, dict[str, Any]]
    predicted_latency_s: dict[str, float]
    forecast_rate: dict[str, float]
    trigger: str = "period"  # "period": the periodic decision; "onset": a fast-check reaction

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "policy": self.policy,
            "epoch": self.epoch,
            "changed": self.changed,
            "shares": self.shares,
            "proposed": self.proposed,
            "reason": self.reason,
            "zones": self.zones,
            "predicted_latency_s": self.predicted_latency_s,
            "forecast_rate": self.forecast_rate,
            "trigger": self.trigger,
        }


def clean(shares: Mapping[str, Mapping[str, float]]) -> Shares:
    """Drop tiny and self shares, clamp to [0, 1], scale an origin whose sum exceeds 1."""
    out: Shares = {}
    for origin, targets in shares.items():
        kept = {
            t: min(1.0, float(s))
            for t, s in sorted(targets.items())
            if t != origin and s >= MIN_SHARE
        }
        total = sum(kept.values())
        if total > 1.0:
            kept = {t: s / total for t, s in kept.items()}
        if kept:
            out[origin] = {t: round(s, 6) for t, s in kept.items()}
    return out


def out_share(shares: Mapping[str, Mapping[str, float]], origin: str) -> float:
    return sum(shares.get(origin, {}).values())


def stored_rates(
    arrivals: Mapping[str, float], shares: Mapping[str, Mapping[str, float]]
) -> dict[str, float]:
    """Records/s each zone's ledger takes when ``arrivals`` (by origin) are routed by shares."""
    stored = {z: 0.0 for z in arrivals}
    for origin, lam in arrivals.items():
        targets = shares.get(origin, {})
        stored[origin] = stored.get(origin, 0.0) + lam * (1.0 - sum(targets.values()))
        for target, share in targets.items():
            stored[target] = stored.get(target, 0.0) + lam * share
    return stored
