"""Zone migration: the current routing, per-zone load and the decisions of the migration
service (services.migration.state). Any API key reads them (zones are shared, like
``/api/zones``); without a migration service (fewer than two zones) they answer 503."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.migration import available, state

from ..deps import CurrentKey, MigrationDep
from ..schemas.common import DEFAULT_LIMIT, MAX_LIMIT
from ..schemas.migration import (
    CurrentRouting,
    DecisionPage,
    DecisionPublic,
    MigrationOverview,
    RoutingEpochPublic,
    ZoneLoad,
)
from ._common import API_PREFIX

router = APIRouter(prefix=f"{API_PREFIX}/migration", tags=["migration"])

RECENT = 20


@router.get("")
async def migration_overview(_key: CurrentKey, service: MigrationDep) -> MigrationOverview:
    """Current routing, each zone's load over the last period, recent decisions and the
    latest routing epochs."""
    return MigrationOverview(
        routing=CurrentRouting.model_validate(state.current_routing(service)),
        zones=[ZoneLoad.model_validate(z) for z in state.zone_load(service)],
        policies=available(),
        recent_decisions=[
            DecisionPublic.model_validate(d) for d in state.decision_history(service, RECENT)
        ],
        routing_history=[
            RoutingEpochPublic.from_dict(ep) for ep in state.routing_history(service, RECENT)
        ],
    )


@router.get("/decisions")
async def migration_decisions(
    _key: CurrentKey,
    service: MigrationDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size")] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, le=100_000, description="newest to skip")] = 0,
    changed_only: Annotated[
        bool, Query(description="only decisions that changed the routing")
    ] = False,
) -> DecisionPage:
    """The decision history, newest first."""
    rows = state.decision_history(service, offset + limit + 1, changed_only=changed_only)
    newest_first = rows[::-1]
    page = newest_first[offset : offset + limit]
    return DecisionPage(
        items=[DecisionPublic.model_validate(d) for d in page],
        limit=limit,
        offset=offset,
        has_more=len(newest_first) > offset + limit,
    )
