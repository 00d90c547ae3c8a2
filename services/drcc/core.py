"""The DRCC service's pure core: one uplink's metadata and the device's stored state in,
the new state and (maybe) a decision out. No I/O; the adapter (service.py) loads and saves.

Per-device state (persisted as the DrccState JSON):

- ``history``: the last ``history_size`` uplinks (UplinkRecord fields, per-gateway signals);
- ``channels``: the channel indices the device uses as far as the network knows (the whole
  plan until a decision with another mask is seen applied);
- ``pending``: the last published decision not yet seen applied (an uplink at its DR and TX
  power applies it); an identical decision is not published again while it is pending;
- ``policy``/``policy_state``: the policy that owns the device and its own memory.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, cast

from services.lorawan.errors import LoRaWANError
from services.lorawan.region import Region, get_region

from .der import F_CNT_BITS
from .plugin import (
    GatewaySignal,
    LinkAdrDecision,
    PolicyRequest,
    RateControlPolicy,
    StatefulPolicy,
    UplinkRecord,
)
from .plugins import FACTORIES, canonical_name
from .settings import DrccSettings
from .usage import LORAWAN_OVERHEAD_BYTES, ChannelUsage, uplink_airtime_s


@dataclass(frozen=True, slots=True)
class UplinkInput:
    """What the core needs of one ns.up.meta record (plain data)."""

    dev_eui: str
    f_cnt: int
    time_s: float
    dr: int
    freq_hz: int
    adr: bool
    tx_power_index: int | None
    nb_trans: int
    signals: tuple[GatewaySignal, ...]
    region: str | None = None
    size: int | None = None  # PHYPayload bytes, when the meta carries it
    #: the device's enabled channel indices as the network server knows them (None: unknown)
    enabled_channels: tuple[int, ...] | None = None


#: the state's JSON keys (``DeviceView`` fields other than the record cache)
VIEW_KEYS = ("history", "channels", "tx_power_index", "pending", "policy", "policy_state")
_F_CNT_MOD = 1 << F_CNT_BITS
#: (region, dr, PHYPayload length) -> airtime entries kept before the memo starts over
AIRTIME_CACHE_MAX = 4096
_newest = attrgetter("time_s", "f_cnt")


@dataclass(slots=True)
class DeviceView:
    """A device's state. ``history`` is kept in its JSON form (one dict per record, made once
    when the record is added, never mutated afterwards); ``records`` is the same history as
    :class:`UplinkRecord` objects, built from ``history`` on first use and then kept in step
    with it (not persisted)."""

    history: list[dict[str, Any]] = field(default_factory=list)
    channels: list[int] | None = None
    tx_power_index: int = 0
    pending: dict[str, Any] | None = None
    policy: str = ""
    policy_state: dict[str, Any] = field(default_factory=dict)
    records: list[UplinkRecord] | None = field(default=None, repr=False, compare=False)
    #: ``records`` is known to be in counter order with the newest record (by time, then
    #: counter) last: set by the first full sort in :meth:`add_record` (not persisted)
    ordered: bool = field(default=False, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> DeviceView:
        if not data:
            return cls()
        known = {k: data[k] for k in VIEW_KEYS if k in data}
        return cls(**known)

    def to_json(self) -> dict[str, Any]:
        """The persisted state: new containers at the top (the view may change after this
        returns, e.g. while a coalesced write waits), the record dicts shared (immutable)."""
        return {
            "history": list(self.history),
            "channels": None if self.channels is None else list(self.channels),
            "tx_power_index": self.tx_power_index,
            "pending": None if self.pending is None else dict(self.pending),
            "policy": self.policy,
            "policy_state": dict(self.policy_state),
        }

    def f_cnts(self) -> set[int]:
        return {int(r["f_cnt"]) for r in self.history}

    def uplink_records(self) -> list[UplinkRecord]:
        """``records``, built (and ``history`` normalised) on first use."""
        if self.records is None:
            self.records = [record_from_json(r) for r in self.history]
            self.history = [record_to_json(r) for r in self.records]
        return self.records

    def add_record(self, rec: UplinkRecord, keep: int) -> None:
        """Add ``rec`` in counter order (a late redelivery slots in place: records sorted by
        their counter distance to the newest one, by time then counter) and keep the last
        ``keep``. Only the new record is converted to JSON."""
        records = self.uplink_records()
        if self.ordered and records and _newest(rec) > _newest(records[-1]):
            # the usual case: the newest record so far. The others keep their order (their
            # distances to it all grow by the same step) unless the oldest one wraps around
            last_f = records[-1].f_cnt
            step = (rec.f_cnt - last_f) % _F_CNT_MOD
            if (last_f - records[0].f_cnt) % _F_CNT_MOD + step < _F_CNT_MOD:
                records.append(rec)
                self.history.append(record_to_json(rec))
                if len(records) > keep:
                    del records[:-keep]
                    del self.history[:-keep]
                return
        records.append(rec)
        self.history.append(record_to_json(rec))
        self.ordered = True  # the sort below leaves the newest record last
        if len(records) > 1:
            last_f = max(records, key=_newest).f_cnt
            dist = [(last_f - r.f_cnt) % _F_CNT_MOD for r in records]
            if dist != sorted(dist, reverse=True):
                # stable sort on -distance, as the history always was
                order = sorted(range(len(records)), key=lambda i: -dist[i])
                self.records = records = [records[i] for i in order]
                self.history = [self.history[i] for i in order]
        if len(records) > keep:
            del records[:-keep]
            del self.history[:-keep]


@dataclass(frozen=True, slots=True)
class Outcome:
    """Result of one uplink: the new state, and the decision to publish (if any)."""

    view: DeviceView
    decision: LinkAdrDecision | None = None
    decision_id: str | None = None
    channels: tuple[int, ...] = ()
    policy: str = ""
    duplicate: bool = False
    skipped: str | None = None


def record_to_json(r: UplinkRecord) -> dict[str, Any]:
    """The record as JSON (what ``dataclasses.asdict`` gives, written out: it is ~10x faster)."""
    return {
        "time_s": r.time_s,
        "f_cnt": r.f_cnt,
        "dr": r.dr,
        "tx_power_index": r.tx_power_index,
        "freq_hz": r.freq_hz,
        "gateway_count": r.gateway_count,
        "max_snr_db": r.max_snr_db,
        "max_rssi_dbm": r.max_rssi_dbm,
        "gateways": [
            {"gw_eui": g.gw_eui, "snr_db": g.snr_db, "rssi_dbm": g.rssi_dbm} for g in r.gateways
        ],
    }


def record_from_json(d: Mapping[str, Any]) -> UplinkRecord:
    gws = tuple(GatewaySignal(**g) for g in d.get("gateways", ()))
    fields = {k: d[k] for k in UplinkRecord.__dataclass_fields__ if k in d and k != "gateways"}
    return UplinkRecord(**fields, gateways=gws)


class DrccCore:
    """Holds the network-wide channel usage and one instance of each policy."""

    def __init__(self, settings: DrccSettings) -> None:
        self.settings = settings
        self.usage = ChannelUsage(settings.usage_window_s, settings.usage_bins)
        self._policies: dict[str, RateControlPolicy] = {}
        self._stateful: dict[str, bool] = {}
        self._airtimes: dict[tuple[str, int, int], float] = {}
        self._plans: dict[str, tuple[int, ...]] = {}
        self._plans_hz: dict[str, tuple[float, ...]] = {}

    def policy(self, name: str) -> RateControlPolicy:
        name = canonical_name(name)
        pol = self._policies.get(name)
        if pol is None:
            s = self.settings
            if name == "lorawan-adr":
                from .plugins import LoRaWanAdrPolicy

                pol = LoRaWanAdrPolicy(s.adr_params())
            elif name == "drcc":
                from .plugins import DrccPolicy

                pol = DrccPolicy(s.drcc_params())
            else:
                pol = FACTORIES[name]()
            self._policies[name] = pol
            # a runtime-checkable Protocol's isinstance costs ~30 us: asked once per policy
            self._stateful[name] = isinstance(pol, StatefulPolicy)
        return pol

    def resolve_policy(self, profile_policy: str | None) -> str:
        name = canonical_name(profile_policy or "default")
        if name == "default" or name not in FACTORIES:
            return self.settings.default_policy
        return name

    def _airtime(self, region: Region, dr: int, phy_len: int) -> float:
        """uplink_airtime_s, memoised (few distinct DR and length pairs)."""
        key = (region.name, dr, phy_len)
        air = self._airtimes.get(key)
        if air is None:
            try:
                air = uplink_airtime_s(region, dr, phy_len)
            except LoRaWANError:  # a DR the region does not define: no airtime to count
                air = 0.0
            if len(self._airtimes) >= AIRTIME_CACHE_MAX:
                self._airtimes.clear()
            self._airtimes[key] = air
        return air

    def plan(self, region: Region) -> tuple[int, ...]:
        plan = self._plans.get(region.name)
        if plan is None:  # settings do not change: computed once per region
            plan = self._plans[region.name] = self.settings.channel_plan_hz(region.name)
            self._plans_hz[region.name] = tuple(float(f) for f in plan)
        return plan

    def handle(self, view: DeviceView, up: UplinkInput, policy_name: str) -> Outcome:
        s = self.settings
        region = get_region(up.region or s.region)
        plan = self.plan(region)
        if up.f_cnt in [r.f_cnt for r in view.uplink_records()]:
            return Outcome(view, duplicate=True)
        # global channel usage (every uplink, controlled or not)
        phy_len = up.size if up.size else s.default_payload_bytes + LORAWAN_OVERHEAD_BYTES
        air = self._airtime(region, up.dr, phy_len)
        self.usage.add(up.time_s, float(up.freq_hz), up.dr, air)

        if up.tx_power_index is not None:
            view.tx_power_index = up.tx_power_index
        if view.channels is None:
            view.channels = list(range(len(plan)))
        # a pending decision is applied once the device transmits with its settings
        if view.pending is not None:
            p = view.pending
            if up.dr == p["dr"] and (
                up.tx_power_index is None or up.tx_power_index == p["tx_power_index"]
            ):
                view.channels = list(p["channels"])
                if up.tx_power_index is None:
                    view.tx_power_index = int(p["tx_power_index"])
                view.pending = None
        # the network server's view of the enabled channels (updated by LinkADRAns) is the
        # truth when it is given: the whole plan is only the guess without it
        if up.enabled_channels is not None:
            known = sorted({i for i in up.enabled_channels if 0 <= i < len(plan)})
            if known:
                view.channels = known
        signals = up.signals
        snrs = [g.snr_db for g in signals]
        rssis = [g.rssi_dbm for g in signals]
        rec = UplinkRecord(
            time_s=up.time_s,
            f_cnt=up.f_cnt,
            dr=up.dr,
            tx_power_index=view.tx_power_index,
            freq_hz=float(up.freq_hz),
            gateway_count=len(signals),
            max_snr_db=max(snrs) if snrs else -30.0,
            max_rssi_dbm=max(rssis) if rssis else -150.0,
            gateways=signals,
        )
        # keep the history in counter order (a late redelivery slots in place)
        view.add_record(rec, s.history_size)
        hist = view.uplink_records()

        name = canonical_name(policy_name)
        if view.policy != name:
            view.policy, view.policy_state = name, {}
        if s.respect_adr_bit and not up.adr:
            return Outcome(view, skipped="adr_bit_off")
        pol = self.policy(name)
        if pol.history_length == 0 and name == "static":
            return Outcome(view, skipped="static")
        stateful = cast(StatefulPolicy, pol) if self._stateful[name] else None
        if stateful is not None:
            stateful.import_state(up.dev_eui, view.policy_state)
        plan_hz = self._plans_hz[region.name]
        n_plan = len(plan)
        channels_hz = tuple([plan_hz[i] for i in view.channels if 0 <= i < n_plan])
        n = max(pol.history_length, 1)
        request = PolicyRequest(
            dev_eui=up.dev_eui,
            region=region.name,
            dr=up.dr,
            tx_power_index=view.tx_power_index,
            nb_trans=up.nb_trans,
            channels_hz=channels_hz,
            history=tuple(hist[-n:]),
            channel_load=self.usage.channel_load(up.time_s, plan_hz),
            now_s=up.time_s,
            channel_plan_hz=plan_hz,
            dr_load=self.usage.dr_load(up.time_s, len(plan)),
        )
        decision = pol.decide(request)
        if stateful is not None:
            view.policy_state = stateful.export_state(up.dev_eui)
            stateful.forget(up.dev_eui)  # the stored state is the only copy: memory stays bounded
        if decision is None:
            return Outcome(view, policy=name)
        index = {float(f): i for i, f in enumerate(plan)}
        chans = tuple(sorted(index[f] for f in decision.channels_hz if f in index))
        entry = {
            "dr": decision.dr,
            "tx_power_index": decision.tx_power_index,
            "channels": list(chans),
            "nb_trans": decision.nb_trans,
        }
        if view.pending is not None and all(view.pending.get(k) == v for k, v in entry.items()):
            return Outcome(view, policy=name, skipped="same_as_pending")
        decision_id = uuid.uuid4().hex
        view.pending = {**entry, "decision_id": decision_id, "f_cnt": up.f_cnt}
        return Outcome(view, decision, decision_id, chans, name)
