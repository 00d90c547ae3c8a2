"""Onset detection between decision periods (pure; state is plain data).

A decision period (5-10 s) is long next to a burst: a zone whose arrival rate steps to 3x its
capacity builds a backlog of (lambda - capacity) x period records before the first decision
sees it, and every record behind that backlog waits for it to drain. The service therefore
runs a *fast check* every ``fast_check_s`` (a fraction of the period) and the policy may react
out of cycle. This module holds the detector the predictive policy uses there:

* a one-sided Poisson CUSUM per zone on the records counted at each fast check, testing the
  zone's forecast level ``lam0`` against the alarm level ``lam1`` — the rate at which the
  records the zone keeps (``1 - out share``) would load it past its target utilisation (and at
  least ``rise`` x ``lam0``)::

      S <- max(0, S + n ln(lam1 / lam0) - (lam1 - lam0) dt)       alarm when S > threshold

  It is the sequential test with the shortest detection delay for a given false-alarm rate
  (Page 1954, Lorden 1971); the checks since S last left zero give the change point and the
  new rate (maximum likelihood over the excursion's suffixes, :func:`change_point`), so the
  forecast can restart at the new level instead of smoothing towards it over several
  periods. An alarm is raised only when the excursion's rate does overload the zone (its
  kept share above the target utilisation, by ``confidence`` standard errors: a rise that
  leaves the zone under its target is the decision's business, not an alarm);
* a backlog trigger: the zone's backlog beyond what it holds in normal operation (its rate x
  nominal latency, Little's law) above ``backlog_trigger`` records and growing.

Both only ever *raise* an alarm; what to do about it (a plan from the policy's queueing model,
applied as an increase of the alarmed zone's shares only) is the policy's and the service's
business. Receiving zones are not watched here: what they receive is the decision period's
business (a receiver over its target gives back at the next decision).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class OnsetConfig:
    threshold: float = 10.0  # CUSUM alarm level (log-likelihood ratio)
    rise: float = 1.5  # the alarm rate is at least rise x the forecast level
    floor: float = 0.05  # forecast level floor, as a fraction of the zone's capacity
    backlog_trigger: float = 20.0  # records beyond the normal in-flight count
    confidence: float = 1.5  # standard errors the rate estimate must clear the overload by

    @classmethod
    def from_options(cls, opts: Mapping[str, Any]) -> OnsetConfig:
        d = cls()
        return cls(
            threshold=float(opts.get("onset_threshold", d.threshold)),
            rise=float(opts.get("onset_rise", d.rise)),
            floor=float(opts.get("onset_floor", d.floor)),
            backlog_trigger=float(opts.get("onset_backlog", d.backlog_trigger)),
            confidence=float(opts.get("onset_confidence", d.confidence)),
        )


@dataclass(frozen=True, slots=True)
class Alarm:
    zone: str
    cause: str  # "rate" | "backlog"
    rate: float  # estimated arrival rate (records/s) since the change
    statistic: float  # the CUSUM value (rate) or the backlog excess (backlog)
    since_s: float = 0.0  # seconds since the estimated change point (rate)
    before: float = 0.0  # the rate before it (the forecast level tested against)


def alarm_rate(lam0: float, capacity: float, out_share: float, target: float, rise: float) -> float:
    """The arrival rate that makes the zone's kept records exceed ``target`` utilisation."""
    keep = 1.0 - out_share
    if keep <= 1e-3:
        return math.inf  # every record already leaves: nothing to escalate
    return max(target * capacity / keep, rise * lam0)


MAX_CHECKS = 32  # checks of an excursion kept for the change-point estimate


def _zero() -> dict[str, Any]:
    return {"s": 0.0, "n": 0.0, "t": 0.0, "counts": [], "dts": []}


def cusum_update(
    state: Mapping[str, Any] | None, count: float, dt: float, lam0: float, lam1: float
) -> dict[str, Any]:
    """One CUSUM step: ``count`` records in ``dt`` seconds, H0 rate ``lam0``, H1 ``lam1``.
    The state holds the statistic ``s``, the records ``n`` / seconds ``t`` counted since it
    last left zero, and the last checks of that excursion (``counts``, ``dts``)."""
    state = state or {}
    s0 = float(state.get("s", 0.0))
    if dt <= 0 or not math.isfinite(lam1) or lam1 <= lam0 or lam0 <= 0:
        return _zero()
    s = s0 + count * math.log(lam1 / lam0) - (lam1 - lam0) * dt
    if s <= 0:
        return _zero()
    if s0 <= 0:
        state = _zero()
    counts = [*list(state.get("counts", [])), count][-MAX_CHECKS:]
    dts = [*list(state.get("dts", [])), dt][-MAX_CHECKS:]
    return {
        "s": s,
        "n": float(state.get("n", 0.0)) + count,
        "t": float(state.get("t", 0.0)) + dt,
        "counts": counts,
        "dts": dts,
    }


def change_point(counts: list[float], dts: list[float], lam0: float) -> tuple[float, float]:
    """(rate after the change, seconds since it): the maximum-likelihood split of the
    excursion's checks — the suffix whose rate explains its counts best against ``lam0``.
    An excursion of the statistic often starts a check or two before the change (noise that
    happened to be high), and counting those checks would dilute the new rate."""
    best = (-math.inf, 0.0, 0.0)
    n = t = 0.0
    for c, d in zip(reversed(counts), reversed(dts), strict=True):
        n, t = n + c, t + d
        rate = n / t
        if rate <= lam0:
            continue
        llr = n * math.log(rate / lam0) - (rate - lam0) * t
        if llr > best[0]:
            best = (llr, rate, t)
    return best[1], best[2]


def detect(
    state: Mapping[str, Any] | None,
    *,
    zone: str,
    count: float,
    dt: float,
    level: float,
    capacity: float,
    out_share: float,
    target: float,
    backlog_excess: float,
    last_backlog_excess: float,
    config: OnsetConfig,
) -> tuple[dict[str, Any], Alarm | None]:
    """Update one zone's detector with a fast check's observation; an alarm when it fires.
    After an alarm the statistic restarts at zero (the caller restarts the forecast too)."""
    lam0 = max(level, config.floor * capacity, 1e-6)
    lam1 = alarm_rate(lam0, capacity, out_share, target, config.rise)
    new = cusum_update(state, count, dt, lam0, lam1)
    if new["s"] > config.threshold and new["t"] > 0:
        # whether to alarm: the excursion's rate overloads the zone, with confidence (less z
        # Poisson standard errors, sqrt(rate / t)) — conservative, as the excursion may hold
        # a check or two from before the change; what the new rate is: the change point's
        mean = new["n"] / new["t"]
        low = mean - config.confidence * math.sqrt(mean / new["t"])
        if low * (1.0 - out_share) > target * capacity:
            rate, since = change_point(new["counts"], new["dts"], lam0)
            if since <= 0:
                rate, since = mean, new["t"]
            return _zero(), Alarm(zone, "rate", rate, new["s"], since_s=since, before=lam0)
    if backlog_excess > config.backlog_trigger and backlog_excess > last_backlog_excess:
        rate = max(lam0, count / dt if dt > 0 else 0.0)
        return _zero(), Alarm(zone, "backlog", rate, backlog_excess)
    return new, None
