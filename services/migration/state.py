"""Data for the API: current routing, per-zone load and the history of decisions.

Plain dicts (JSON-ready); the API module wraps them in its response models.
"""

from __future__ import annotations

from typing import Any

from .data import stored_rates
from .policy import available
from .service import MigrationService


def current_routing(service: MigrationService) -> dict[str, Any]:
    ep = service.routing.current
    return {
        **ep.to_dict(),
        "policy_active": service.policy.name,
        "period_s": service.settings.period_s,
    }


def zone_load(service: MigrationService) -> list[dict[str, Any]]:
    """Per zone: the last period's observation, utilisation, and what the routing moves."""
    shares = service.routing.shares
    stats = service.last_stats
    arrivals = {z: s.arrival_rate for z, s in stats.items()}
    planned = stored_rates(arrivals, shares)
    last = service.decisions[-1] if service.decisions else None
    out = []
    for zone in sorted(set(stats) | set(service.params)):
        s = stats.get(zone)
        row: dict[str, Any] = s.to_dict() if s is not None else {"zone": zone}
        cap = service.params[zone].capacity if zone in service.params else None
        row["capacity"] = cap
        row["utilisation"] = (planned.get(zone, 0.0) / cap) if cap else None
        row["sends"] = dict(shares.get(zone, {}))
        row["receives"] = {o: r[zone] for o, r in shares.items() if zone in r}
        row["predicted_latency_s"] = last.predicted_latency_s.get(zone) if last else None
        out.append(row)
    return out


def decision_history(
    service: MigrationService,
    limit: int = 100,
    since: float | None = None,
    changed_only: bool = False,
) -> list[dict[str, Any]]:
    """Newest ``limit`` decisions, oldest first (from the store; memory when there is none)."""
    if service.store is not None:
        return service.store.decisions(limit, since, changed_only)
    rows = [
        d.to_dict()
        for d in service.decisions
        if (since is None or d.at >= since) and (d.changed or not changed_only)
    ]
    return rows[-limit:]


def routing_history(service: MigrationService, limit: int = 100) -> list[dict[str, Any]]:
    return [ep.to_dict() for ep in service.routing.epochs[-limit:]]


def overview(service: MigrationService) -> dict[str, Any]:
    return {
        "routing": current_routing(service),
        "zones": zone_load(service),
        "policies": available(),
        "recent_decisions": decision_history(service, limit=20),
    }
