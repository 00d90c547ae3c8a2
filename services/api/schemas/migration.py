"""Migration schemas: routing epochs, per-zone load and the decision history.

Times (``at``, ``started_at``) are the migration service's clock (monotonic seconds unless the
composition root injects another). Shares: ``{origin_zone: {target_zone: share}}``, the part
of the origin's application records stored on the target zone's ledger.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from .common import PublicSchema

SharesModel = dict[str, dict[str, float]]


class RoutingEpochPublic(PublicSchema):
    epoch: int
    started_at: float
    shares: SharesModel
    policy: str = ""

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RoutingEpochPublic:
        return cls.model_validate(d)


class CurrentRouting(RoutingEpochPublic):
    policy_active: str = Field(description="the policy deciding now")
    period_s: float = Field(description="seconds between decisions")


class ZoneLoad(PublicSchema):
    """One zone over the last decision period, and what the current routing moves."""

    zone: str
    arrival_rate: float | None = Field(default=None, description="records/s of origin zone")
    stored_rate: float | None = Field(default=None, description="records/s routed to its ledger")
    backlog: int | None = None
    commit_rate: float | None = None
    block_rate: float | None = None
    block_size: float | None = None
    latency_p50_s: float | None = None
    latency_p95_s: float | None = None
    capacity: float | None = Field(default=None, description="records/s the zone can commit")
    utilisation: float | None = None
    sends: dict[str, float] = Field(default_factory=dict, description="target -> share")
    receives: dict[str, float] = Field(default_factory=dict, description="origin -> share")
    predicted_latency_s: float | None = None


class DecisionPublic(PublicSchema):
    at: float
    policy: str
    epoch: int
    changed: bool
    shares: SharesModel
    proposed: SharesModel
    reason: str
    zones: dict[str, dict[str, Any]]
    predicted_latency_s: dict[str, float]
    forecast_rate: dict[str, float]
    trigger: str = "period"  # "period" (the periodic decision) or "onset" (a fast-check reaction)


class MigrationOverview(PublicSchema):
    routing: CurrentRouting
    zones: list[ZoneLoad]
    policies: list[str] = Field(description="registered migration policies")
    recent_decisions: list[DecisionPublic] = Field(description="oldest first")
    routing_history: list[RoutingEpochPublic] = Field(description="epochs, oldest first")


class DecisionPage(PublicSchema):
    """Decisions newest first; ``has_more`` when older ones follow."""

    items: list[DecisionPublic]
    limit: int
    offset: int
    has_more: bool
