"""The built-in migration policies: ``none``, ``threshold`` and ``predictive``.

* ``none``: no migration; every record stays in its zone.
* ``threshold`` (reactive): a zone over its backlog or p95-latency threshold moves its excess
  — the rate above ``target_utilisation x capacity`` plus the backlog above the threshold
  spread over one period — to the least-loaded zone, no more than that zone can absorb while
  staying under ``target_utilisation``; each period it may add a share to the next
  least-loaded zone. It gives shares back once its backlog is under half its threshold, its
  latency under its threshold, and the zone has room for them.
* ``predictive``: forecasts each zone's arrival rate over the next period (a slow EWMA by
  default, alpha 0.2: it filters the periods' Poisson noise; level changes are the onset
  detector's job) and searches the shares that minimise the arrival-weighted modelled commit latency
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

  Between decisions (``react``, at the service's fast checks) it runs an onset detector per
  sending or neutral zone (onset.py: Poisson CUSUM + backlog trigger). On an alarm it plans at
  once for the alarmed zones — a rate alarm restarts the zone's forecast at the rate
  estimated since the change point; the next decision re-estimates it from the part of its
  period after the change, and the forecast then averages the periods since the change
  (gain 1/(n+1)) until that gain falls to alpha. While an origin's forecast is that young,
  its receivers give back what they cannot absorb only past the knee of the queueing model
  (0.95) rather than past the target: a short streak right after an onset would otherwise
  push the origin over its capacity.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import forecast
from .data import PolicyInput, PolicyOutput, Shares, ZoneParams, clean, out_share, stored_rates
from .model import RHO_KNEE, expected_latency
from .onset import Alarm, OnsetConfig, detect
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
        fc, fc_kw = _forecaster(request.options)
        old_state = request.state.get("forecast", {}) if request.state else {}
        new_state: dict[str, Any] = {}
        lam_hat: dict[str, float] = {}
        for z, s in sorted(request.zones.items()):
            st = old_state.get(z)
            if st and "changed_at" in st:
                # a change point was detected within this period (react): the period's mean
                # rate mixes the old and the new regime, so the forecast restarts at the rate
                # of the part of the period after the change
                x = _after_change(st, s.arrival_rate, request.now, request.observed_s)
                lam_hat[z], new_state[z] = fc(None, x, **fc_kw)
                new_state[z]["n"] = 1  # periods averaged since the change
            elif st and "n" in st:
                # shortly after a change the forecast is the running mean of the periods
                # since it (gain 1/(n+1), the estimate of a constant rate), until that gain
                # falls to the forecaster's own: one early noisy period does not linger
                n = int(st["n"])
                kw = {**fc_kw, "alpha": max(float(fc_kw["alpha"]), 1.0 / (n + 1))}
                plain = {k: v for k, v in st.items() if k != "n"}
                lam_hat[z], new_state[z] = fc(plain, s.arrival_rate, **kw)
                if 1.0 / (n + 1) > float(fc_kw["alpha"]):
                    new_state[z]["n"] = n + 1
            else:
                lam_hat[z], new_state[z] = fc(st, s.arrival_rate, **fc_kw)
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
        young = frozenset(z for z, st in new_state.items() if "n" in st)
        shares, reason, predicted = _plan(request, lam_hat, params, backlog, young)
        state: dict[str, Any] = {"forecast": new_state}
        if request.state and "onset" in request.state:
            state["onset"] = request.state["onset"]
        return PolicyOutput(
            shares=shares,
            reason=reason,
            predicted_latency_s=predicted,
            forecast_rate={z: round(v, 6) for z, v in lam_hat.items()},
            state=state,
        )

    def react(self, request: PolicyInput) -> PolicyOutput:
        """A fast check between decisions (``request.zones`` cover the ``window_s`` since the
        last check): run each sending or neutral zone's onset detector (onset.py); for the
        zones that alarm, plan at once with the queueing model — a rate alarm restarts the
        zone's forecast at the rate estimated since the change — and propose new shares for
        those zones only (the service applies them as increases only). Without an alarm the
        shares proposed are the current ones."""
        cfg = OnsetConfig.from_options(request.options)
        dt = request.observed_s
        state = dict(request.state or {})
        forecasts: dict[str, Any] = {z: dict(v) for z, v in (state.get("forecast") or {}).items()}
        detectors: dict[str, Any] = dict(state.get("onset") or {})
        zones = [z for z in sorted(request.zones) if z in request.params]
        params = {z: request.params[z] for z in zones}
        current = {
            o: {t: s for t, s in row.items() if t in params}
            for o, row in clean(request.current).items()
            if o in params
        }
        receivers = {t for row in current.values() for t in row}
        alarms: list[Alarm] = []
        excess: dict[str, float] = {}
        for z in zones:
            s = request.zones[z]
            fc_state = forecasts.get(z)
            keep = 1.0 - out_share(current, z)
            nominal = expected_latency(0.0, params[z], 0.0, 0.0)
            level = _level(fc_state) if fc_state else s.arrival_rate
            excess[z] = max(0.0, s.backlog - level * keep * nominal)
            det = dict(detectors.get(z) or {})
            if z in receivers or not fc_state or dt <= 0:
                detectors[z] = {"q": excess[z], "fired_at": det.get("fired_at")}
                continue
            new, alarm = detect(
                det,
                zone=z,
                count=s.arrival_rate * dt,
                dt=dt,
                level=float(fc_state["level"]),
                capacity=params[z].capacity,
                out_share=1.0 - keep,
                target=request.target_utilisation,
                backlog_excess=excess[z],
                last_backlog_excess=float(det.get("q", 0.0)),
                config=cfg,
            )
            fired_at = det.get("fired_at")
            recent = fired_at is not None and request.now - float(fired_at) < request.period_s
            if alarm is not None and recent and alarm.cause == "backlog":
                alarm = None  # one backlog reaction per zone and period: let it drain
            detectors[z] = {**new, "q": excess[z], "fired_at": fired_at}
            if alarm is None:
                continue
            alarms.append(alarm)
            detectors[z]["fired_at"] = request.now
            if alarm.cause == "rate":
                restart: dict[str, Any] = {
                    "level": alarm.rate,
                    "changed_at": request.now - alarm.since_s,
                    "before": alarm.before,
                }
                if "trend" in fc_state:
                    restart["trend"] = 0.0
                forecasts[z] = restart
        state = {**state, "forecast": forecasts, "onset": detectors}
        if not alarms:
            return PolicyOutput(shares=current, reason="", state=state)
        lam_hat = {
            z: (_level(forecasts[z]) if z in forecasts else request.zones[z].arrival_rate)
            for z in zones
        }
        for a in alarms:
            lam_hat[a.zone] = max(lam_hat[a.zone], a.rate)
        young = frozenset(a.zone for a in alarms if a.cause == "rate") | frozenset(
            z for z, st in forecasts.items() if "n" in st
        )
        planned, reason, predicted = _plan(request, lam_hat, params, excess, young)
        alarmed = {a.zone for a in alarms}
        shares = {o: dict(r) for o, r in current.items() if o not in alarmed}
        for o in alarmed:
            if planned.get(o):
                shares[o] = dict(planned[o])
        what = ", ".join(
            f"{a.zone} {a.cause} (rate {a.rate:.2f}/s, statistic {a.statistic:.1f})" for a in alarms
        )
        return PolicyOutput(
            shares=clean(shares),
            reason=f"onset: {what}; {reason}",
            predicted_latency_s=predicted,
            forecast_rate={z: round(v, 6) for z, v in lam_hat.items()},
            state=state,
        )


def _forecaster(opts: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    method = str(opts.get("forecaster", "ewma"))
    fc = forecast.FORECASTERS[method]
    fc_kw: dict[str, Any] = {"alpha": float(opts.get("alpha", 0.2 if method == "ewma" else 0.6))}
    if method == "holt":
        fc_kw["beta"] = float(opts.get("beta", 0.3))
    return fc, fc_kw


def _after_change(st: Mapping[str, Any], period_rate: float, now: float, period_s: float) -> float:
    """The arrival rate after a change point detected within the period that ends at ``now``:
    the period's records minus those the old rate accounts for before the change, over the
    time since it (the estimate the reaction used when that is too short to tell)."""
    start = now - period_s
    changed_at = max(start, float(st["changed_at"]))
    after = now - changed_at
    if after < 0.25 * period_s:
        return float(st["level"])
    before = float(st.get("before", 0.0)) * (changed_at - start)
    return max(0.0, (period_rate * period_s - before) / after)


def _level(state: Mapping[str, Any]) -> float:
    """The forecast one period ahead held in a forecaster's state."""
    return max(0.0, float(state["level"]) + float(state.get("trend", 0.0)))


def _plan(
    request: PolicyInput,
    lam_hat: dict[str, float],
    params: dict[str, ZoneParams],
    backlog: dict[str, float],
    transient: frozenset[str] = frozenset(),
) -> tuple[Shares, str, dict[str, float]]:
    """The predictive search: from the current shares, the split minimising the modelled
    latency (+ migration cost) under the receivers' target utilisation, with hysteresis.
    ``transient``: origins whose rate changed within the last few periods (see _fit).
    Returns (shares, reason, predicted latency per zone)."""
    opts = request.options
    min_gain = float(opts.get("min_gain", 0.03))
    min_gain_s = float(opts.get("min_gain_s", 0.05))
    target = request.target_utilisation
    horizon = request.period_s
    zones = sorted(params)
    total = sum(lam_hat.values())

    def cost(z: str, lam: float) -> float:  # records/s x latency: the objective's term
        return lam * expected_latency(lam, params[z], backlog[z], horizon)

    current = {
        o: {t: s for t, s in row.items() if t in params}
        for o, row in clean(request.current).items()
        if o in params
    }
    # a receiver over its target utilisation (with the new forecasts, beyond a small
    # tolerance band) gives back what it cannot absorb before anything else is planned —
    # except, up to the knee of the queueing model, what it receives from an origin whose
    # rate changed a moment ago (its forecast is young: a short streak after an onset must
    # not push the origin over its capacity; a lasting overload is trimmed once it is old)
    tolerance = float(opts.get("utilisation_tolerance", 0.05))
    current = _fit(current, lam_hat, params, target, tolerance, transient)
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
                    # a young origin's records (a change detected a moment ago) may fill
                    # a receiver up to the knee, others up to the target (see _fit)
                    cap_t = RHO_KNEE if o in transient else target
                    if d > 0 and new_t > cap_t * params[t].capacity:
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
    return clean(shares), reason, predicted


def _fit(
    shares: Shares,
    lam: dict[str, float],
    params: dict[str, Any],
    target: float,
    tolerance: float,
    transient: frozenset[str] = frozenset(),
) -> Shares:
    """Scale down the shares into each receiver whose load exceeds (target + tolerance) x
    capacity, so that it is back at target x capacity. What it receives from ``transient``
    origins (a rate change detected within the last few periods) is only scaled down past
    ``RHO_KNEE`` x capacity (where it could not absorb it at all)."""
    out = _copy(shares)
    stored = stored_rates(lam, out)
    for t in sorted({t for row in out.values() for t in row}):
        cap = params[t].capacity
        if stored[t] <= (target + tolerance) * cap:
            continue
        fixed = sum(lam[o] * row[t] for o, row in out.items() if t in row and o in transient)
        others = sum(lam[o] * row[t] for o, row in out.items() if t in row and o not in transient)
        over = stored[t] - target * cap  # first from the lasting origins, down to target
        keep_others = max(0.0, 1 - over / others) if others > 0 else 1.0
        over = max(0.0, over - others) if others > 0 else over
        over_knee = max(0.0, stored[t] - others * (1 - keep_others) - RHO_KNEE * cap)
        keep_fixed = max(0.0, 1 - over_knee / fixed) if fixed > 0 else 1.0
        for o, row in out.items():
            if t in row:
                row[t] *= keep_fixed if o in transient else keep_others
    return clean(out)


register_policy("none", NonePolicy)
register_policy("threshold", ThresholdPolicy)
register_policy("predictive", PredictivePolicy)
