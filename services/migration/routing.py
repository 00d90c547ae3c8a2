"""The routing table the ledger writer consults: ``route(record) -> zone``.

Routing is by device: a device's hash ``h(dev_eui)`` in [0, 1) picks one interval of its
zone's split — ``[0, home)`` stays in the zone, then one interval per target zone (sorted by
name) of the target's share. So within a routing epoch all records of one device go to one
zone (their FCnt order is kept on that zone's ledger), and a share that grows or shrinks moves
only the devices at the edge of the intervals. The table changes only when the migration
service applies a new decision, i.e. at period boundaries; each change starts a new epoch,
kept in ``epochs`` (the routing history that lookups use).

Only application records are routed; device and network records use the shared ledgers.

The table also counts what passes through it (records per origin zone and per
(origin, stored) pair): the arrival rates the migration service watches.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.bus.messages import LedgerRecord

from .data import Shares, clean
from .errors import InvalidRouting


def device_hash(dev_eui: str) -> float:
    """A stable position of a device in [0, 1)."""
    digest = hashlib.sha256(dev_eui.strip().upper().encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def route_device(origin: str, dev_eui: str, shares: Mapping[str, Mapping[str, float]]) -> str:
    """The zone a device of ``origin`` is routed to under ``shares`` (pure)."""
    row = shares.get(origin)
    if not row:
        return origin
    u = device_hash(dev_eui)
    edge = 1.0 - sum(row.values())
    if u < edge:
        return origin
    for target in sorted(row):
        edge += row[target]
        if u < edge:
            return target
    return sorted(row)[-1] if edge >= 1.0 - 1e-9 else origin


def record_device(record: LedgerRecord) -> str:
    dev = record.payload.get("dev_eui") if isinstance(record.payload, dict) else None
    return str(dev) if dev else record.key.split("/", 1)[0]


@dataclass(frozen=True, slots=True)
class RoutingEpoch:
    epoch: int
    started_at: float
    shares: Shares
    policy: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "started_at": self.started_at,
            "shares": self.shares,
            "policy": self.policy,
        }


def validate_shares(shares: Mapping[str, Mapping[str, float]]) -> None:
    receivers = {t for row in shares.values() for t in row}
    for origin, row in shares.items():
        if any(not 0.0 <= s <= 1.0 for s in row.values()) or sum(row.values()) > 1.0 + 1e-6:
            raise InvalidRouting(f"shares of {origin!r} must lie in [0, 1] and sum to <= 1")
        if origin in row:
            raise InvalidRouting(f"zone {origin!r} routes to itself")
        if row and origin in receivers:
            raise InvalidRouting(f"zone {origin!r} both sends and receives records")


@dataclass
class RoutingTable:
    """The current routing epoch plus the history of epochs (newest last)."""

    epochs: list[RoutingEpoch] = field(default_factory=lambda: [RoutingEpoch(0, 0.0, {})])
    keep_epochs: int = 10_000
    arrivals: Counter[str] = field(default_factory=Counter)  # records per origin zone
    routed: Counter[tuple[str, str]] = field(default_factory=Counter)  # (origin, stored)

    @property
    def current(self) -> RoutingEpoch:
        return self.epochs[-1]

    @property
    def shares(self) -> Shares:
        return self.current.shares

    def route(self, record: LedgerRecord) -> str:
        """The writer's hook: the zone whose ledger stores ``record``."""
        origin = record.zone
        if record.channel != "application":
            return origin
        zone = route_device(origin, record_device(record), self.current.shares)
        self.arrivals[origin] += 1
        self.routed[(origin, zone)] += 1
        return zone

    __call__ = route

    def zone_for(self, origin: str, dev_eui: str) -> str:
        return route_device(origin, dev_eui, self.current.shares)

    def apply(self, shares: Mapping[str, Mapping[str, float]], at: float, policy: str = "") -> bool:
        """Install new shares (a new epoch) if they differ; True when the routing changed."""
        validate_shares(shares)
        new = clean(shares)
        if new == self.current.shares:
            return False
        self.epochs.append(RoutingEpoch(self.current.epoch + 1, at, new, policy))
        if len(self.epochs) > self.keep_epochs:
            del self.epochs[: len(self.epochs) - self.keep_epochs]
        return True

    def restore(self, epochs: list[RoutingEpoch]) -> None:
        """Load a persisted history (oldest first); keeps the initial epoch when empty."""
        if epochs:
            self.epochs = list(epochs)[-self.keep_epochs :]

    def zones_of_device(self, dev_eui: str, origin: str | None = None) -> list[str]:
        """Every zone the device's records may have been stored in, newest epoch first
        (its origin first when given; without it, every origin a past split covered)."""
        out: list[str] = []
        if origin is not None:
            out.append(origin)
        for ep in reversed(self.epochs):
            origins = [origin] if origin is not None else sorted(ep.shares)
            for o in origins:
                z = route_device(o, dev_eui, ep.shares)
                if z not in out:
                    out.append(z)
        return out

    def epoch_at(self, at: float) -> RoutingEpoch:
        for ep in reversed(self.epochs):
            if ep.started_at <= at:
                return ep
        return self.epochs[0]
