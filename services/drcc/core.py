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
from dataclasses import asdict, dataclass, field
from typing import Any

from services.lorawan.errors import LoRaWANError
from services.lorawan.region import Region, get_region

from .der import f_cnt_distance
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


@dataclass(slots=True)
class DeviceView:
    history: list[dict[str, Any]] = field(default_factory=list)
    channels: list[int] | None = None
    tx_power_index: int = 0
    pending: dict[str, Any] | None = None
    policy: str = ""
    policy_state: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> DeviceView:
        if not data:
            return cls()
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def f_cnts(self) -> set[int]:
        return {int(r["f_cnt"]) for r in self.history}


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
    d = asdict(r)
    d["gateways"] = [asdict(g) for g in r.gateways]
    return d


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
        return pol

    def resolve_policy(self, profile_policy: str | None) -> str:
        name = canonical_name(profile_policy or "default")
        if name == "default" or name not in FACTORIES:
            return self.settings.default_policy
        return name

    def plan(self, region: Region) -> tuple[int, ...]:
        return self.settings.channel_plan_hz(region.name)

    def handle(self, view: DeviceView, up: UplinkInput, policy_name: str) -> Outcome:
        s = self.settings
        region = get_region(up.region or s.region)
        plan = self.plan(region)
        if up.f_cnt in view.f_cnts():
            return Outcome(view, duplicate=True)
        # global channel usage (every uplink, controlled or not)
        phy_len = up.size if up.size else s.default_payload_bytes + LORAWAN_OVERHEAD_BYTES
        try:
            air = uplink_airtime_s(region, up.dr, phy_len)
        except LoRaWANError:  # a DR the region does not define: no airtime to count
            air = 0.0
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
        hist = [record_from_json(r) for r in view.history]
        hist.append(rec)
        if len(hist) > 1:
            last = max(hist, key=lambda r: (r.time_s, r.f_cnt))
            hist.sort(key=lambda r: -f_cnt_distance(r.f_cnt, last.f_cnt))
        hist = hist[-s.history_size :]
        view.history = [record_to_json(r) for r in hist]

        name = canonical_name(policy_name)
        if view.policy != name:
            view.policy, view.policy_state = name, {}
        if s.respect_adr_bit and not up.adr:
            return Outcome(view, skipped="adr_bit_off")
        pol = self.policy(name)
        if pol.history_length == 0 and name == "static":
            return Outcome(view, skipped="static")
        if isinstance(pol, StatefulPolicy):
            pol.import_state(up.dev_eui, view.policy_state)
        channels_hz = tuple(float(plan[i]) for i in view.channels if 0 <= i < len(plan))
        n = max(pol.history_length, 1)
        request = PolicyRequest(
            dev_eui=up.dev_eui,
            region=region.name,
            dr=up.dr,
            tx_power_index=view.tx_power_index,
            nb_trans=up.nb_trans,
            channels_hz=channels_hz,
            history=tuple(hist[-n:]),
            channel_load=self.usage.channel_load(up.time_s, (float(f) for f in plan)),
            now_s=up.time_s,
            channel_plan_hz=tuple(float(f) for f in plan),
            dr_load=self.usage.dr_load(up.time_s, len(plan)),
        )
        decision = pol.decide(request)
        if isinstance(pol, StatefulPolicy):
            view.policy_state = pol.export_state(up.dev_eui)
            pol.forget(up.dev_eui)  # the stored state is the only copy: memory stays bounded
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
