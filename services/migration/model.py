"""The queueing model of one zone's ordering service (pure), used by the predictive policy.

A zone orders records like Fabric's orderer under RAFT: records wait for the ordering service
(which commits at most ``capacity = batch_size / block_interval_s`` records/s: the block rate
at full blocks times the batch size), are cut into blocks of ``batch_size`` or after
``batch_timeout_s`` from the first record of the batch, and a block commits ``raft_delay_s``
(one consensus round trip) after it is cut. The expected commit latency of a record arriving
in the next ``horizon_s`` seconds at rate ``lam`` with ``backlog`` records already queued:

    latency = batch wait + service + queueing (steady) + queueing (backlog, fluid) + RAFT

* batch wait  = min(batch_timeout, batch_size / lam): a record waits for its block to fill
  or time out (the first record of a batch waits the whole of it; this is the upper tail,
  used on purpose since the study's objective is the p95);
* service     = 1 / capacity;
* queueing (steady): the M/D/1 waiting time (Pollaczek-Khinchine, deterministic service)
  rho / (2 capacity (1 - rho)), with rho = lam / capacity; above ``rho_knee`` it is continued
  by its tangent, so the function stays finite, monotone and convex for rho >= 1;
* queueing (backlog): a fluid queue starting at ``backlog`` and changing at ``lam - capacity``
  over the horizon; the mean queue over the horizon divided by the capacity. For rho > 1 this
  is the term that grows without bound (the backlog grows linearly with time).
"""

from __future__ import annotations

from .data import ZoneParams

RHO_KNEE = 0.95


def md1_wait(rho: float, capacity: float, rho_knee: float = RHO_KNEE) -> float:
    """Mean M/D/1 queueing delay at utilisation ``rho``, continued linearly past the knee."""
    if capacity <= 0:
        return float("inf")
    rho = max(0.0, rho)
    if rho <= rho_knee:
        return rho / (2 * capacity * (1 - rho))
    at_knee = rho_knee / (2 * capacity * (1 - rho_knee))
    slope = 1 / (2 * capacity * (1 - rho_knee) ** 2)  # d/drho of rho / (2c(1 - rho))
    return at_knee + slope * (rho - rho_knee)


def fluid_backlog_wait(lam: float, capacity: float, backlog: float, horizon_s: float) -> float:
    """Mean wait behind the queue over the horizon, the queue starting at ``backlog`` and
    drifting at ``lam - capacity`` records/s (never below zero)."""
    if capacity <= 0:
        return float("inf")
    drift = lam - capacity
    q0 = max(0.0, backlog)
    if horizon_s <= 0:
        return q0 / capacity
    if drift >= 0:
        mean_q = q0 + drift * horizon_s / 2
    elif q0 <= 0:
        mean_q = 0.0
    else:
        t_empty = q0 / -drift
        if t_empty >= horizon_s:
            mean_q = q0 + drift * horizon_s / 2
        else:
            mean_q = q0 * t_empty / (2 * horizon_s)
    return mean_q / capacity


def batch_wait(lam: float, params: ZoneParams) -> float:
    if lam <= 0:
        return params.batch_timeout_s
    return min(params.batch_timeout_s, params.batch_size / lam)


def expected_latency(
    lam: float, params: ZoneParams, backlog: float = 0.0, horizon_s: float = 10.0
) -> float:
    """Modelled commit latency (s) of a record of a zone receiving ``lam`` records/s."""
    cap = params.capacity
    return (
        batch_wait(lam, params)
        + 1 / cap
        + md1_wait(lam / cap, cap)
        + fluid_backlog_wait(lam, cap, backlog, horizon_s)
        + params.raft_delay_s
    )


def weighted_latency(
    rates: dict[str, float],
    params: dict[str, ZoneParams],
    backlogs: dict[str, float],
    horizon_s: float,
) -> float:
    """Arrival-weighted mean of the modelled latencies (the predictive policy's objective)."""
    total = sum(rates.values())
    if total <= 0:
        return 0.0
    return (
        sum(
            lam * expected_latency(lam, params[z], backlogs.get(z, 0.0), horizon_s)
            for z, lam in rates.items()
        )
        / total
    )
