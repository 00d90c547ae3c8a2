"""Migration policies: one small interface, registered by name, and the damping every
decision goes through.

A policy is a pure function of a :class:`PolicyInput` (the zones observed over the last
period, the current shares, the zone model parameters, its own state) returning a
:class:`PolicyOutput` (the shares it wants). The service then damps the change
(:func:`damp`): shares move by at most ``max_step_up`` (more migration) or ``max_step_down``
(less) per period, and an origin whose shares would all move by less than ``deadband`` — and
its share kept home too, so that several small moves adding up to a large one are not held
back — keeps them (hysteresis): routing changes are bounded and do not oscillate. A proposal
to stop migrating an origin's records altogether is not held back by the deadband (only by
the step).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from .data import PolicyInput, PolicyOutput, Shares, clean
from .errors import UnknownPolicy


class MigrationPolicy(Protocol):
    name: str

    def decide(self, request: PolicyInput) -> PolicyOutput: ...


class ReactivePolicy(MigrationPolicy, Protocol):
    """A policy that can also react between decisions (at each fast check of the service):
    ``react`` sees the zones over the ``window_s`` since the last check and returns the shares
    it wants now (the current ones when nothing happened) and its new state. The service
    applies a reaction as an increase of shares only (:func:`escalate`); decreases wait for
    the next decision."""

    def react(self, request: PolicyInput) -> PolicyOutput: ...


def can_react(policy: MigrationPolicy) -> bool:
    return callable(getattr(policy, "react", None))


_REGISTRY: dict[str, Callable[[], MigrationPolicy]] = {}


def register_policy(name: str, factory: Callable[[], MigrationPolicy]) -> None:
    _REGISTRY[name] = factory


def get_policy(name: str) -> MigrationPolicy:
    from . import policies  # noqa: F401  (registers the built-in policies)

    try:
        return _REGISTRY[name]()
    except KeyError:
        raise UnknownPolicy(
            f"unknown migration policy {name!r} ({', '.join(available())})"
        ) from None


def available() -> list[str]:
    from . import policies  # noqa: F401

    return sorted(_REGISTRY)


@dataclass(frozen=True, slots=True)
class Damping:
    max_step_up: float = 0.5  # per period, per (origin, target) share
    max_step_down: float = 0.1
    deadband: float = 0.05


def damp(current: Mapping[str, Mapping[str, float]], proposed: Shares, d: Damping) -> Shares:
    """Move from ``current`` towards ``proposed`` by at most the damping's steps."""
    out: Shares = {}
    for origin in sorted(set(current) | set(proposed)):
        cur = current.get(origin, {})
        want = proposed.get(origin, {})
        targets = sorted(set(cur) | set(want))
        deltas = {t: want.get(t, 0.0) - cur.get(t, 0.0) for t in targets}
        if not want and sum(cur.values()) <= d.deadband:
            continue  # release a last small share entirely
        small = all(abs(x) < d.deadband for x in deltas.values())
        if want and small and abs(sum(deltas.values())) < d.deadband:  # the home share too
            if cur:
                out[origin] = dict(cur)
            continue
        row: dict[str, float] = {}
        for t in targets:
            step = max(-d.max_step_down, min(d.max_step_up, deltas[t]))
            value = cur.get(t, 0.0) + step
            if value > 0:
                row[t] = value
        if row:
            out[origin] = row
    return clean(_resolve(current, out))


def escalate(current: Mapping[str, Mapping[str, float]], proposed: Shares, d: Damping) -> Shares:
    """A reaction between decisions: shares may only grow (by at most ``max_step_up``, with
    the deadband), never shrink — an origin's proposed row is merged with its current one by
    the larger share, other origins keep theirs. So fast checks can only add migration, and
    the periodic decision alone takes it back (at ``max_step_down`` per period): the two
    time scales cannot push the routing back and forth."""
    merged: Shares = {o: dict(r) for o, r in current.items()}
    for origin, row in proposed.items():
        cur = current.get(origin, {})
        inc = {t: max(0.0, s - cur.get(t, 0.0)) for t, s in row.items()}
        room = max(0.0, 1.0 - sum(cur.values()))
        scale = min(1.0, room / sum(inc.values())) if sum(inc.values()) > 0 else 0.0
        merged[origin] = {
            t: cur.get(t, 0.0) + inc.get(t, 0.0) * scale for t in sorted(set(cur) | set(inc))
        }
    return damp(current, merged, Damping(d.max_step_up, 0.0, d.deadband))


def _resolve(current: Mapping[str, Mapping[str, float]], shares: Shares) -> Shares:
    """Drop new (origin, target) pairs that would make a zone both send and receive while
    the damped old pairs still hold (old pairs win; the new ones come in a later period)."""
    out = {o: dict(r) for o, r in shares.items()}
    while True:
        senders = {o for o, r in out.items() if r}
        receivers = {t for r in out.values() for t in r}
        both = senders & receivers
        if not both:
            return out
        for o, r in out.items():
            for t in list(r):
                new_pair = current.get(o, {}).get(t, 0.0) <= 0.0
                if new_pair and (o in both or t in both):
                    del r[t]
        if senders & {t for r in out.values() for t in r} == both:
            # only old pairs conflict (an invalid current routing): keep the larger side
            for z in both:
                out[z] = {}


def change(a: Mapping[str, Mapping[str, float]], b: Mapping[str, Mapping[str, float]]) -> float:
    """Largest absolute difference of one share between two routings."""
    worst = 0.0
    for origin in set(a) | set(b):
        ra, rb = a.get(origin, {}), b.get(origin, {})
        for t in set(ra) | set(rb):
            worst = max(worst, abs(ra.get(t, 0.0) - rb.get(t, 0.0)))
    return worst
