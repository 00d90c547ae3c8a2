"""``drcc``: Data Rate and Channel Control driven by the short-term DER.

After the idea of DRCC (arXiv:1902.04383): the network measures each device's short-term
data extraction rate from frame-counter gaps and moves the device between data rates and
channels to raise it, instead of trusting the SNR alone as ADR does. The paper's constants
are not available here; the ones below were chosen with the simulator (see
docs/experiments/drcc.md, where every rule and constant is argued).

Per device, on each uplink (the first rule that applies decides):

0. Rate limit: no decision before ``min_uplinks`` frames and ``min_interval_s`` seconds have
   passed since the last one. Before ``min_samples`` frames were received at the current
   data rate and TX power there is no DER yet: from ``snr_min_samples`` frames on, only the
   early raise of a device far slower than its SNR needs (rules 2 and 6) is possible.
1. DER = received / frame-counter span over the last ``window`` counters sent with the
   current settings (widened to the last ``min_samples`` received frames when fewer fall in
   it). Hysteresis: the device becomes *degraded* when DER < ``der_low`` and *healthy* again
   only when DER >= ``der_high``.
2. SNR margin = best SNR of the recent uplinks (normalised to the current TX power) -
   required SNR of the DR (RP002 floors) - ``snr_guard_db``. A data rate is never raised
   beyond what the margin supports (2.5 dB per step), nor above a *ceiling* set when a
   faster rate lost the link (kept ``ceiling_hold_s``).
3. Degraded and SNR below the floor by more than ``link_floor_db`` (link-limited): raise the
   TX power first, then lower the DR by as many steps as are missing; the failed DR becomes
   the ceiling. At DR0 and full power NbTrans goes up (ADR's loss table).
4. Degraded otherwise (collision-limited): (a) channels — if the device uses channels whose
   network-wide load exceeds the plan's mean by ``channel_imbalance``, steer it off them
   (keeping ``min_channels``, and the default channels if ``keep_default_channels``);
   (b) data rate — move to the reachable DR group with the lowest per-channel airtime load:
   a faster one if no busier, a slower one (at most ``max_slower_steps`` away) only if at
   least ``dr_load_hysteresis`` less loaded and this device falls in the fraction of its
   group that should move
   (:meth:`DrccPolicy._gate`, so a group moves by a fraction, not as a herd). NbTrans 1.
5. Healthy: raise the DR by floor(margin / 2.5 dB) steps (up to the ceiling and the region's
   highest ADR DR); lower the TX power with what margin is left only if ``power_control``;
   give back channels that are no longer overloaded.
6. A faster DR must pay for its LinkADRReq: the airtime it saves per uplink must be at least
   ``min_gain_ratio`` times the airtime of the downlink carrying it (a gateway hears nothing
   while it transmits, and its duty cycle allows few downlinks). No decision when nothing
   changes.
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.lorawan.region import Region, get_region

from ..der import der_of, distinct_in_order, window_by_span
from ..plugin import (
    LinkAdrDecision,
    PolicyRequest,
    UplinkRecord,
    request_dr_load,
    request_plan,
    request_time_s,
)
from ..usage import LORAWAN_OVERHEAD_BYTES, ChannelUsage, uplink_airtime_s
from .lorawan_adr import max_adr_dr, max_tx_power_index, nb_trans_for

#: SNR difference between neighbouring LoRa data rates (RP002 demodulation floors)
DR_STEP_DB = 2.5
#: a downlink carrying only a LinkADRReq: MHDR + FHDR (7) + FOpts LinkADRReq (5) + MIC
DOWNLINK_LINK_ADR_BYTES = 17


@dataclass(frozen=True, slots=True)
class DrccParams:
    window: int = 16
    min_samples: int = 6
    snr_min_samples: int = 2
    der_low: float = 0.75
    der_high: float = 0.9
    snr_guard_db: float = 6.0
    link_floor_db: float = -2.0
    move_damping: float = 0.5
    min_power_steps: int = 3
    min_gain_ratio: float = 1.25
    snr_window: int = 10
    min_uplinks: int = 8
    min_interval_s: float = 600.0
    ceiling_hold_s: float = 3600.0
    channel_imbalance: float = 0.25
    min_channels: int = 3
    keep_default_channels: bool = False
    dr_load_hysteresis: float = 0.5
    max_slower_steps: int = 1
    power_control: bool = False
    payload_bytes: int = 20
    usage_window_s: float = 600.0
    history_length: int = 20


@dataclass(slots=True)
class DeviceState:
    """Per-device memory of the policy (JSON-ready through ``asdict``)."""

    degraded: bool = False
    last_decision_s: float | None = None
    last_decision_f_cnt: int | None = None
    ceiling: int | None = None
    ceiling_until_s: float = 0.0
    last_fed_f_cnt: int | None = None
    last_der: float | None = None
    decisions: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeviceState:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


_STATE_FIELDS = tuple(DeviceState.__dataclass_fields__)


def power_offset(region: Region, index: int) -> float:
    return float(region.tx_power_offsets_db[index])


def snr_at_current_power(region: Region, r: UplinkRecord, tx_power_index: int) -> float:
    """The record's best SNR as if sent with ``tx_power_index``."""
    n = len(region.tx_power_offsets_db)
    if not 0 <= r.tx_power_index < n or not 0 <= tx_power_index < n:
        return r.max_snr_db
    return (
        r.max_snr_db + power_offset(region, tx_power_index) - power_offset(region, r.tx_power_index)
    )


def current_settings_tail(request: PolicyRequest) -> list[UplinkRecord]:
    """The most recent run of records sent at the device's current DR and TX power."""
    out: list[UplinkRecord] = []
    for r in reversed(request.history):
        if r.dr != request.dr or r.tx_power_index != request.tx_power_index:
            break
        out.append(r)
    out.reverse()
    return out


def overloaded_channels(
    load: Mapping[float, float], plan: tuple[float, ...], k: float
) -> set[float]:
    """Channels of ``plan`` whose load exceeds the plan's mean load by more than ``k``."""
    if not plan:
        return set()
    mean = sum(load.get(f, 0.0) for f in plan) / len(plan)
    if mean <= 0:
        return set()
    return {f for f in plan if load.get(f, 0.0) > mean * (1.0 + k)}


def relieved_channels(load: Mapping[float, float], plan: tuple[float, ...], k: float) -> set[float]:
    """Channels whose load is back at or below the mean (half the imbalance band)."""
    if not plan:
        return set()
    mean = sum(load.get(f, 0.0) for f in plan) / len(plan)
    return {f for f in plan if load.get(f, 0.0) <= mean * (1.0 + k / 2.0)}


def _unit_hash(text: str) -> float:
    """A stable number in [0, 1) for ``text`` (the same on every run and process)."""
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / float(1 << 64)


class DrccPolicy:
    name = "drcc"

    def __init__(self, params: DrccParams | None = None) -> None:
        self.params = params or DrccParams()
        self.history_length = max(self.params.history_length, self.params.window)
        self._states: dict[str, DeviceState] = {}
        self._usage = ChannelUsage(self.params.usage_window_s)

    # -- state (StatefulPolicy) -------------------------------------------------------------

    def export_state(self, dev_eui: str) -> dict[str, Any]:
        st = self._states.get(dev_eui)
        if st is None:
            return {}
        # what asdict(st) gives, without its recursive walk (this runs on every uplink)
        out = {name: getattr(st, name) for name in _STATE_FIELDS}
        out["extra"] = copy.deepcopy(st.extra) if st.extra else {}
        return out

    def import_state(self, dev_eui: str, state: Mapping[str, Any]) -> None:
        self._states[dev_eui] = DeviceState.from_dict(state)

    def forget(self, dev_eui: str) -> None:
        self._states.pop(dev_eui, None)

    def state_of(self, dev_eui: str) -> DeviceState:
        st = self._states.get(dev_eui)
        if st is None:
            st = self._states[dev_eui] = DeviceState()
        return st

    # -- helpers ----------------------------------------------------------------------------

    def _feed_usage(self, region: Region, request: PolicyRequest, st: DeviceState) -> None:
        """Without a network-wide DR load in the request, learn it from what we are shown."""
        for r in request.history[-4:]:
            if st.last_fed_f_cnt is not None and (r.f_cnt - st.last_fed_f_cnt) % (1 << 32) >= (
                1 << 31
            ):
                continue
            if st.last_fed_f_cnt is not None and r.f_cnt == st.last_fed_f_cnt:
                continue
            air = uplink_airtime_s(region, r.dr, self.params.payload_bytes + LORAWAN_OVERHEAD_BYTES)
            self._usage.add(r.time_s, r.freq_hz, r.dr, air)
            st.last_fed_f_cnt = r.f_cnt

    def _dr_load(
        self, region: Region, request: PolicyRequest, st: DeviceState, plan: tuple[float, ...]
    ) -> Mapping[int, float]:
        given = request_dr_load(request)
        if given:
            return given
        self._feed_usage(region, request, st)
        return self._usage.dr_load(request_time_s(request), len(plan))

    def _rate_limited(self, request: PolicyRequest, st: DeviceState, now: float) -> bool:
        p = self.params
        if st.last_decision_s is None:
            return False
        if now - st.last_decision_s < p.min_interval_s:
            return True
        if st.last_decision_f_cnt is not None and request.history:
            sent = (request.history[-1].f_cnt - st.last_decision_f_cnt) % (1 << 32)
            if sent < p.min_uplinks:
                return True
        return False

    # -- decision ---------------------------------------------------------------------------

    def decide(self, request: PolicyRequest) -> LinkAdrDecision | None:
        p = self.params
        region = get_region(request.region)
        st = self.state_of(request.dev_eui)
        now = request_time_s(request)
        plan = request_plan(request)
        dr_load = self._dr_load(region, request, st, plan)
        if not request.history or self._rate_limited(request, st, now):
            return None
        tail = current_settings_tail(request)
        received = distinct_in_order(r.f_cnt for r in tail)
        if len(received) < p.min_samples:
            # too few frames for a DER, enough for the SNR: only the early raise of rule 6
            if len(received) < p.snr_min_samples:
                return None
            return self._early_raise(region, request, st, tail, now)
        f_cnts = window_by_span(received, p.window)
        if len(f_cnts) < p.min_samples:
            f_cnts = received[-p.min_samples :]  # a sparse window: widen it to min_samples
        der, span = der_of(f_cnts)
        st.last_der = der
        if der < p.der_low:
            st.degraded = True
        elif der >= p.der_high:
            st.degraded = False

        max_dr = max_adr_dr(region)
        max_pi = max_tx_power_index(region)
        if st.ceiling is not None and now >= st.ceiling_until_s:
            st.ceiling = None
        ceiling = max_dr if st.ceiling is None else min(max_dr, st.ceiling)
        snr_recs = tail[-p.snr_window :]
        snr = max(snr_at_current_power(region, r, request.tx_power_index) for r in snr_recs)
        dr = min(request.dr, max_dr)
        raw_margin = snr - region.required_snr(dr)
        margin = raw_margin - p.snr_guard_db

        new_dr, new_pi, nb_trans = dr, request.tx_power_index, request.nb_trans
        channels = tuple(request.channels_hz)
        why = f"der {der:.2f} over {span}, snr margin {margin:+.1f} dB"
        if st.degraded and raw_margin < p.link_floor_db:
            # link-limited: power first, then a more robust data rate
            need = p.link_floor_db - raw_margin
            while need > 0 and new_pi > 0:
                new_pi -= 1
                need -= power_offset(region, new_pi) - power_offset(region, new_pi + 1)
            if need > 0 and new_dr > 0:
                steps = max(1, math.ceil(need / DR_STEP_DB))
                st.ceiling, st.ceiling_until_s = new_dr - 1, now + p.ceiling_hold_s
                new_dr = max(0, new_dr - steps)
            if new_dr == 0 and new_pi == 0 and need > 0:
                nb_trans = nb_trans_for((1.0 - der) * 100.0, request.nb_trans)
            why = f"link-limited: {why}"
        elif st.degraded:
            why = f"collision-limited: {why}"
            nb_trans = 1
            hot = overloaded_channels(request.channel_load, plan, p.channel_imbalance)
            keep = self._mandatory(region, plan)
            if hot & set(channels):
                cand = tuple(f for f in plan if f not in hot or f in keep)
                if len(cand) >= p.min_channels:
                    channels = cand
                    why += f", off {len(hot)} loaded channel(s)"
            target = self._best_dr_group(
                region, request.dev_eui, dr, margin, min(ceiling, max_dr), dr_load
            )
            if target != dr:
                new_dr = target
                why += f", dr group load {dr_load.get(dr, 0.0):.3f}->{dr_load.get(target, 0.0):.3f}"
        else:
            steps = max(0, math.floor(margin / DR_STEP_DB))
            new_dr = min(dr + steps, max(ceiling, dr))
            left = margin - (new_dr - dr) * DR_STEP_DB
            if p.power_control and new_dr >= max_dr:
                while new_pi < max_pi:
                    step = power_offset(region, new_pi) - power_offset(region, new_pi + 1)
                    if left < step:
                        break
                    new_pi += 1
                    left -= step
                if new_dr == dr and new_pi - request.tx_power_index < p.min_power_steps:
                    new_pi = request.tx_power_index  # not worth a downlink on its own
            if request.nb_trans > 1 and der >= p.der_high:
                nb_trans = 1
            if set(plan) - set(channels):
                back = relieved_channels(request.channel_load, plan, p.channel_imbalance)
                channels = tuple(f for f in plan if f in channels or f in back)
            why = f"healthy: {why}"

        if new_dr > dr and not self._worth_a_downlink(region, dr, new_dr):
            # airtime saved per uplink too small for the LinkADRReq's own cost: keep the DR
            new_dr = dr
        decision = LinkAdrDecision(
            dr=new_dr,
            tx_power_index=new_pi,
            channels_hz=channels,
            nb_trans=nb_trans,
            reason=why,
        )
        if decision.same_settings(request):
            return None
        st.last_decision_s = now
        st.last_decision_f_cnt = request.history[-1].f_cnt
        st.decisions += 1
        return decision

    def _early_raise(
        self,
        region: Region,
        request: PolicyRequest,
        st: DeviceState,
        tail: list[UplinkRecord],
        now: float,
    ) -> LinkAdrDecision | None:
        """Before a DER can be measured: a device far slower than its SNR needs is moved to
        the data rate the SNR supports, if that pays for the downlink (rules 2 and 6)."""
        p = self.params
        max_dr = max_adr_dr(region)
        if st.ceiling is not None and now >= st.ceiling_until_s:
            st.ceiling = None
        ceiling = max_dr if st.ceiling is None else min(max_dr, st.ceiling)
        dr = min(request.dr, max_dr)
        snr = max(snr_at_current_power(region, r, request.tx_power_index) for r in tail)
        margin = snr - region.required_snr(dr) - p.snr_guard_db
        new_dr = min(dr + max(0, math.floor(margin / DR_STEP_DB)), max(ceiling, dr))
        if new_dr <= dr or not self._worth_a_downlink(region, dr, new_dr):
            return None
        st.last_decision_s = now
        st.last_decision_f_cnt = request.history[-1].f_cnt
        st.decisions += 1
        return LinkAdrDecision(
            dr=new_dr,
            tx_power_index=request.tx_power_index,
            channels_hz=tuple(request.channels_hz),
            nb_trans=request.nb_trans,
            reason=f"early: {len(tail)} uplinks, snr margin {margin:+.1f} dB",
        )

    def _worth_a_downlink(self, region: Region, dr: int, new_dr: int) -> bool:
        """A faster DR saves (toa(dr) - toa(new_dr)) per uplink; the LinkADRReq costs about
        one downlink at the uplink's DR (RX1) of gateway airtime, during which the gateway
        hears nothing. Worth it when the saving per uplink is at least ``min_gain_ratio``
        times that downlink's airtime."""
        size = self.params.payload_bytes + LORAWAN_OVERHEAD_BYTES
        saved = uplink_airtime_s(region, dr, size) - uplink_airtime_s(region, new_dr, size)
        cost = uplink_airtime_s(region, dr, DOWNLINK_LINK_ADR_BYTES)
        return saved >= self.params.min_gain_ratio * cost

    def _gate(
        self, region: Region, dev_eui: str, dr: int, target: int, dr_load: Mapping[int, float]
    ) -> bool:
        """Should this device be one of those moving from ``dr`` to the slower ``target``?

        Moving a fraction f of group ``dr`` to ``target`` equalises their loads when
        f = (L_dr - L_target) / ((1 + r) L_dr), r the airtime ratio target/dr. Every degraded
        device of the group sees the same figures, so each moves only if a stable hash of its
        DevEUI falls below ``move_damping * f`` — the group moves by a fraction, not as a herd.
        """
        cur, tgt = dr_load.get(dr, 0.0), dr_load.get(target, 0.0)
        if cur <= 0:
            return False
        size = self.params.payload_bytes + LORAWAN_OVERHEAD_BYTES
        r = uplink_airtime_s(region, target, size) / uplink_airtime_s(region, dr, size)
        f = max(0.0, (cur - tgt) / ((1.0 + r) * cur))
        return _unit_hash(f"{dev_eui}:{dr}:{target}") < self.params.move_damping * f

    def _mandatory(self, region: Region, plan: tuple[float, ...]) -> set[float]:
        if not self.params.keep_default_channels:
            return set()
        defaults = {float(c.frequency_hz) for c in region.default_channels()}
        return {f for f in plan if float(f) in defaults}

    def _best_dr_group(
        self,
        region: Region,
        dev_eui: str,
        dr: int,
        margin: float,
        ceiling: int,
        dr_load: Mapping[int, float],
    ) -> int:
        """The reachable data rate whose group's per-channel load is lowest: a faster one
        (less airtime) if its load is no higher; a slower one only if clearly lower and this
        device is among the fraction of its group that should move (:meth:`_gate`)."""
        if not dr_load:
            return dr
        hi = min(dr + max(0, math.floor(margin / DR_STEP_DB)), max(ceiling, dr))
        current = dr_load.get(dr, 0.0)
        best, best_key = dr, (current, 0)
        lo = max(0, dr - self.params.max_slower_steps)
        for cand in range(hi, lo - 1, -1):
            if cand == dr:
                continue
            load = dr_load.get(cand, 0.0)
            if cand > dr:
                ok = load <= current
            else:
                ok = load < current * (1.0 - self.params.dr_load_hysteresis) and self._gate(
                    region, dev_eui, dr, cand, dr_load
                )
            key = (load, -cand)
            if ok and key < best_key:
                best, best_key = cand, key
        return best
