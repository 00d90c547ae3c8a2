"""The built-in migration policies: ``none``, ``threshold`` and ``predictive``.

* ``none``: no migration; every record stays in its zone.
* ``threshold`` (reactive): a zone over its backlog or p95-latency threshold moves its excess
  — the rate above ``target_utilisation x capacity`` plus the backlog above the threshold
  spread over one period — to the least-loaded zone, no more than that zone can absorb while
  staying under ``target_utilisation``; each period it may add a share to the next
  least-loaded zone. It gives shares back once its backlog is under half its threshold, its
  latency under its threshold, and the zone has room for them.
* ``predictive``: forecasts each zone's arrival rate over the next period (Holt by default)
  and searches the shares that minimise the arrival-weighted modelled commit latency
  (model.py) with every receiving zone under ``target_utilisation`` (a receiver that ends
  up more than ``utilisation_tolerance`` over it, e.g. after the forecasts changed, gives the
  excess back first — a zone only takes what it can absorb): a greedy descent from
  the current shares, moving or returning ``step`` of an origin's records at a time (``step``
  halves when no move helps). The backlog counted is the excess over what the zone holds in
  normal operation (its rate x nominal latency, Little's law). It keeps the current shares
  unless the plan lowers the modelled mean latency by at least ``min_gain`` (relative) and
  ``min_gain_s`` (absolute) — the policy's own hysteresis. Each migrated record also costs
  ``migration_cost_s`` in the objective (cross-zone writes, lookups that ask two ledgers), so
  records go home once migrating them no longer pays; a plan that migrates less and costs no
  more than ``min_gain`` of modelled latency is taken without the hysteresis.
"""

from __future__ import annotations

from typing import Any

from . import forecast
from .data import PolicyInput, PolicyOutput, Shares, clean, out_share, stored_rates
from .model import expected_latency
from .policy import register_policy


def _copy(shares: Shares) -> Shares:
    return {o: dict(t) for o, t in shares.items()}


class NonePolicy:
    name = "none"

    def decide(self, request: PolicyInput) -> PolicyOutput:
        return PolicyOutput(shares={}, reason="no migration")


class ThresholdPolicy:
    name = "threshold"

    def decide(self, request: PolicyInput) -> PolicyOutput:
        opts = request.options
        thr_backlog = float(opts.get("backlog_threshold", 100))
        thr_latency = float(opts.get("latency_threshold_s", 2.0))
        target = request.target_utilisation
        period = max(request.period_s, 1e-9)
        zones = request.zones
        arrivals = {z: s.arrival_rate for z, s in zones.items()}
        shares = _copy(clean(request.current))
        reasons: list[str] = []

        def cap(z: str) -> float:
            return zones[z].capacity

        def stored() -> dict[str, float]:
            return stored_rates(arrivals, shares)

        receivers = {t for row in shares.values() for t in row}
        for z in sorted(zones):
            s = zones[z]
            lam = s.arrival_rate
            if z in receivers or lam <= 0 or cap(z) <= 0:
                continue
            home = lam * (1 - out_share(shares, z))
            over = s.backlog > thr_backlog or (s.latency_p95_s or 0.0) > thr_latency
            if over:
                excess = (
                    max(0.0, home - target * cap(z)) + max(0.0, s.backlog - thr_backlog) / period
                )
                if excess <= 0:
                    continue
                now = stored()
                candidates = [
                    t
                    for t in zones
                    if t != z and t not in shares and cap(t) > 0 and now[t] < target * cap(t)
                ]
                if not candidates:
                    reasons.append(f"{z} over threshold, no zone can absorb")
                    continue
                t = min(candidates, key=lambda c: (now[c] / cap(c), c))
                room = target * cap(t) - now[t]
                moved = min(excess, room, home)
                shares.setdefault(z, {})[t] = shares.get(z, {}).get(t, 0.0) + moved / lam
                reasons.append(f"{z} over threshold: {moved:.2f}/s to {t}")
            elif z in shares:
                calm = s.backlog < thr_backlog / 2 and (s.latency_p95_s or 0.0) < thr_latency
                room = target * cap(z) - home
                if calm and room > 0:
                    back = room / lam
                    now = stored()
                    for t in sorted(shares[z], key=lambda c: (-now[c] / cap(c), c)):
                        give = min(back, shares[z][t])
                        shares[z][t] -= give
                        back -= give
                    reasons.append(f"{z} calm: shares back home")
        # a receiver over its target utilisation sheds what it was given
        now = stored()
        for t in sorted(zones):
            if cap(t) <= 0 or now[t] <= target * cap(t):
                continue
            incoming = [(o, row[t]) for o, row in shares.items() if t in row]
            given = sum(arrivals[o] * sh for o, sh in incoming)
            if given <= 0:
                continue
            keep = max(0.0, 1 - (now[t] - target * cap(t)) / given)
            for o, sh in incoming:
                shares[o][t] = sh * keep
            reasons.append(f"{t} over target utilisation: incoming x{keep:.2f}")
        return PolicyOutput(shares=clean(shares), reason="; ".join(reasons) or "within thresholds")


class PredictivePolicy:
    name = "predictive"

    def decide(self, request: PolicyInput) -> PolicyOutput:
        opts = request.options
        method = str(opts.get("forecaster", "holt"))
        fc = forecast.FORECASTERS[method]
        fc_kw: dict[str, Any] = {"alpha": float(opts.get("alpha", 0.6))}
        if method == "holt":
            fc_kw["beta"] = float(opts.get("beta", 0.3))
        min_gain = float(opts.get("min_gain", 0.03))
        min_gain_s = float(opts.get("min_gain_s", 0.05))
        target = request.target_utilisation
        horizon = request.period_s
        old_state = request.state.get("forecast", {}) if request.state else {}
        new_state: dict[str, Any] = {}
        lam_hat: dict[str, float] = {}
        for z, s in sorted(request.zones.items()):
            lam_hat[z], new_state[z] = fc(old_state.get(z), s.arrival_rate, **fc_kw)
        zones = [z for z in sorted(request.zones) if z in request.params]
        params = {z: request.params[z] for z in zones}
        lam_hat = {z: lam_hat[z] for z in zones}
        # backlog beyond what a zone holds in normal operation (Little: rate x nominal latency)
        backlog = {
            z: max(
                0.0,
                request.zones[z].backlog
                - request.zones[z].stored_rate * expected_latency(0.0, params[z], 0.0, 0.0),
            )
            for z in zones
        }
        total = sum(lam_hat.values())

        def cost(z: str, lam: float) -> float:  # records/s x latency: the objective's term
            return lam * expected_latency(lam, params[z], backlog[z], horizon)

        current = {
            o: {t: s for t, s in row.items() if t in params}
            for o, row in clean(request.current).items()
            if o in params
        }
        # a receiver over its target utilisation (with the new forecasts, beyond a small
        # tolerance band) gives back what it cannot absorb before anything else is planned
        tolerance = float(opts.get("utilisation_tolerance", 0.05))
        current = _fit(current, lam_hat, params, target, tolerance)
        shares = _copy(current)
        stored = stored_rates(lam_hat, shares)
        mig_cost = float(opts.get("migration_cost_s", 0.1))

        def migrated(sh: Shares) -> float:  # records/s stored away from their origin
            return sum(lam_hat[o] * sum(row.values()) for o, row in sh.items())

        latency_start = sum(cost(z, stored[z]) for z in zones)
        start_cost = latency_start + mig_cost * migrated(shares)
        cost_now = start_cost
        step = float(opts.get("step", 0.1))
        min_step = float(opts.get("min_step", 0.01))
        for _ in range(500):
            if step < min_step or total <= 0:
                break
            senders = {o for o, row in shares.items() if row}
            receivers = {t for row in shares.values() for t in row}
            best: tuple[float, str, str, float] | None = None
            for o in zones:
                lam_o = lam_hat[o]
                if o in receivers or lam_o <= 0:
                    continue
                row = shares.get(o, {})
                home_share = 1 - sum(row.values())
                for t in zones:
                    if t == o or t in senders:
                        continue
                    for delta in (step, -step):
                        have = row.get(t, 0.0)
                        d = min(delta, home_share) if delta > 0 else -min(-delta, have)
                        if abs(d) < 1e-9:
                            continue
                        moved = lam_o * d
                        new_t = stored[t] + moved
                        if d > 0 and new_t > target * params[t].capacity:
                            continue
                        new_o = stored[o] - moved
                        delta_cost = (
                            cost(o, new_o)
                            + cost(t, new_t)
                            - cost(o, stored[o])
                            - cost(t, stored[t])
                            + mig_cost * moved
                        )
                        if delta_cost < -1e-12 and (best is None or delta_cost < best[0]):
                            best = (delta_cost, o, t, d)
            if best is None:
                step /= 2
                continue
            delta_cost, o, t, d = best
            shares.setdefault(o, {})[t] = shares.get(o, {}).get(t, 0.0) + d
            if shares[o][t] <= 1e-9:
                del shares[o][t]
            stored[o] -= lam_hat[o] * d
            stored[t] += lam_hat[o] * d
            cost_now += delta_cost
        gain = (start_cost - cost_now) / start_cost if start_cost > 0 else 0.0
        gain_s = (start_cost - cost_now) / total if total > 0 else 0.0
        latency_end = sum(cost(z, stored[z]) for z in zones)
        # returning records home is free of hysteresis when it costs (almost) no latency:
        # the routing then goes back to normal once a burst is over
        homeward = migrated(shares) < migrated(current) - 1e-9 and latency_end <= latency_start * (
            1 + min_gain
        )
        if not homeward and (gain < min_gain or gain_s < min_gain_s):
            shares = current
            stored = stored_rates(lam_hat, shares)
            reason = f"keep: modelled gain {gain:.1%} ({gain_s * 1000:.0f} ms) below hysteresis"
        else:
            reason = f"modelled latency -{gain:.1%}"
        predicted = {
            z: round(expected_latency(stored[z], params[z], backlog[z], horizon), 6) for z in zones
        }
        return PolicyOutput(
            shares=clean(shares),
            reason=reason,
            predicted_latency_s=predicted,
            forecast_rate={z: round(v, 6) for z, v in lam_hat.items()},
            state={"forecast": new_state},
        )


def _fit(
    shares: Shares,
    lam: dict[str, float],
    params: dict[str, Any],
    target: float,
    tolerance: float,
) -> Shares:
    """Scale down the shares into each receiver whose load exceeds (target + tolerance) x
    capacity, so that it is back at target x capacity."""
    out = _copy(shares)
    stored = stored_rates(lam, out)
    for t in sorted({t for row in out.values() for t in row}):
        cap = params[t].capacity
        if stored[t] <= (target + tolerance) * cap:
            continue
        incoming = sum(lam[o] * row[t] for o, row in out.items() if t in row)
        if incoming <= 0:
            continue
        keep = max(0.0, 1 - (stored[t] - target * cap) / incoming)
        for row in out.values():
            if t in row:
                row[t] *= keep
    return clean(out)


register_policy("none", NonePolicy)
register_policy("threshold", ThresholdPolicy)
register_policy("predictive", PredictivePolicy)
