"""Rate-control plugin interface: device uplink history in, LinkADRReq-like decision out.

This module is the canonical home of the interface the simulator (``simulator/policy.py``)
and the DRCC service share: the same names and fields, extended only with optional fields
(per-gateway signals on :class:`UplinkRecord`; the decision time, the network's channel plan
and the per-DR load on :class:`PolicyRequest`; a ``reason`` on :class:`LinkAdrDecision`).

A policy is an object with a ``name``, a ``history_length`` (how many recent uplinks it wants
to see; 0 = none) and one method::

    decide(request: PolicyRequest) -> LinkAdrDecision | None

``None`` means "leave the device as it is". Everything in the request and the decision is
plain, frozen data. A policy may keep per-device state between calls; if it does, it also
implements :class:`StatefulPolicy` (``export_state`` / ``import_state`` as JSON-ready dicts)
so the DRCC service can persist that state and a restarted service continues where it was.

Policies are registered by name with :func:`register_policy`; ``static`` ships here,
``lorawan-adr`` and ``drcc`` in :mod:`services.drcc.plugins`
(``services.drcc.plugins.register_all(register_policy)``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class GatewaySignal:
    """What one gateway measured of one uplink."""

    gw_eui: str
    snr_db: float
    rssi_dbm: float


@dataclass(frozen=True, slots=True)
class UplinkRecord:
    """What the network saw of one delivered uplink (best gateway's radio figures)."""

    time_s: float
    f_cnt: int
    dr: int
    tx_power_index: int
    freq_hz: float
    gateway_count: int
    max_snr_db: float
    max_rssi_dbm: float
    #: every gateway's figures, when known (the service fills it; the simulator may not)
    gateways: tuple[GatewaySignal, ...] = ()


@dataclass(frozen=True, slots=True)
class PolicyRequest:
    """Input of a rate-control decision for one device."""

    dev_eui: str
    region: str
    dr: int
    tx_power_index: int
    nb_trans: int
    channels_hz: tuple[float, ...]
    history: tuple[UplinkRecord, ...]
    #: network-wide fraction of airtime per channel (frequency -> 0..1), when known
    channel_load: Mapping[float, float] = field(default_factory=dict)
    #: time of the decision (s, same clock as ``UplinkRecord.time_s``); None: the last record's
    now_s: float | None = None
    #: every channel the network operates (Hz); empty: the device's current channels
    channel_plan_hz: tuple[float, ...] = ()
    #: network-wide fraction of airtime per data rate, per channel (dr -> 0..1), when known
    dr_load: Mapping[int, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LinkAdrDecision:
    """LinkADRReq content: target data rate, TX power index, enabled channels, NbTrans."""

    dr: int
    tx_power_index: int
    channels_hz: tuple[float, ...]
    nb_trans: int = 1
    #: why (logged, published on drcc.link_adr and recorded); not part of the LinkADRReq
    reason: str = field(default="", compare=False)

    def same_settings(self, request: PolicyRequest) -> bool:
        """True when the decision would not change anything for the requesting device."""
        return (
            self.dr == request.dr
            and self.tx_power_index == request.tx_power_index
            and tuple(self.channels_hz) == tuple(request.channels_hz)
            and self.nb_trans == request.nb_trans
        )


@runtime_checkable
class RateControlPolicy(Protocol):
    name: str
    history_length: int

    def decide(self, request: PolicyRequest) -> LinkAdrDecision | None: ...


@runtime_checkable
class StatefulPolicy(Protocol):
    """A policy that keeps per-device state and can hand it out for persistence."""

    def export_state(self, dev_eui: str) -> dict[str, Any]: ...

    def import_state(self, dev_eui: str, state: Mapping[str, Any]) -> None: ...

    def forget(self, dev_eui: str) -> None:
        """Drop the device's state from memory (the caller persisted what export gave)."""
        ...


class StaticPolicy:
    """Never changes anything: devices keep their configured data rate, power and channels."""

    name = "static"
    history_length = 0

    def decide(self, request: PolicyRequest) -> LinkAdrDecision | None:
        return None


PolicyFactory = Callable[[], RateControlPolicy]

_REGISTRY: dict[str, PolicyFactory] = {}


class UnknownPolicy(KeyError):
    """No rate-control policy is registered under that name."""


def register_policy(name: str, factory: PolicyFactory) -> None:
    """Register ``factory`` (a zero-argument callable returning a policy) under ``name``."""
    _REGISTRY[name] = factory


def get_policy(name: str) -> RateControlPolicy:
    """A fresh instance of the policy registered as ``name``."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        known = available_policies()
        raise UnknownPolicy(f"unknown rate-control policy {name!r}; known: {known}") from None
    return factory()


def available_policies() -> list[str]:
    return sorted(_REGISTRY)


def request_time_s(request: PolicyRequest) -> float:
    """The decision time of any request (also the simulator's own PolicyRequest, which has no
    ``now_s``): ``now_s`` if set, else the last record's time."""
    now = getattr(request, "now_s", None)
    if now is not None:
        return float(now)
    return request.history[-1].time_s if request.history else 0.0


def request_plan(request: PolicyRequest) -> tuple[float, ...]:
    """The network's channel plan of a request, else the device's current channels."""
    plan = getattr(request, "channel_plan_hz", ())
    return tuple(plan) if plan else tuple(request.channels_hz)


def request_dr_load(request: PolicyRequest) -> Mapping[int, float]:
    return getattr(request, "dr_load", None) or {}


def same_settings(decision: LinkAdrDecision, request: PolicyRequest) -> bool:
    return decision.same_settings(request)


def history_window(history: Sequence[UplinkRecord], n: int) -> tuple[UplinkRecord, ...]:
    """The last ``n`` records (helper for policies)."""
    return tuple(history[-n:]) if n > 0 else ()


register_policy("static", StaticPolicy)
