"""Rate-control plugin interface: device uplink history in, LinkADRReq-like decision out.

A policy is an object with a ``name``, a ``history_length`` (how many recent uplinks it wants
to see; 0 = none) and one method::

    decide(request: PolicyRequest) -> LinkAdrDecision | None

``None`` means "leave the device as it is". The simulator calls ``decide`` after every
delivered uplink (in live mode the network server's DRCC service takes this role). Policies
are registered by name with :func:`register_policy`; ``static`` ships here, ``lorawan-adr``
and ``drcc`` are registered by services/drcc (import it, then call ``register_policy``).

Everything in the request and the decision is plain, frozen data, so a policy is a pure
function of its input plus whatever per-device state it chooses to keep.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


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


@dataclass(frozen=True, slots=True)
class LinkAdrDecision:
    """LinkADRReq content: target data rate, TX power index, enabled channels, NbTrans."""

    dr: int
    tx_power_index: int
    channels_hz: tuple[float, ...]
    nb_trans: int = 1


@runtime_checkable
class RateControlPolicy(Protocol):
    name: str
    history_length: int

    def decide(self, request: PolicyRequest) -> LinkAdrDecision | None: ...


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


def history_window(history: Sequence[UplinkRecord], n: int) -> tuple[UplinkRecord, ...]:
    """The last ``n`` records (helper for policies)."""
    return tuple(history[-n:]) if n > 0 else ()


register_policy("static", StaticPolicy)
