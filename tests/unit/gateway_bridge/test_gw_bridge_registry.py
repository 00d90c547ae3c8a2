"""Tables for the gateway registry and the downlink token tracker (pure state)."""

from __future__ import annotations

import itertools

import pytest

from services.gateway_bridge.errors import NoDownlinkRoute
from services.gateway_bridge.registry import DownlinkTracker, GatewayRegistry
from services.lorawan.types import EUI64

GW1 = EUI64.from_hex("0000000000000001")
GW2 = EUI64.from_hex("0000000000000002")


def test_registry_tracks_last_seen_and_addresses() -> None:
    reg = GatewayRegistry()
    reg.on_push_data(GW1, ("10.0.0.1", 5000), now=1.0)
    state = reg.on_pull_data(GW1, ("10.0.0.1", 5001), now=2.0, version=2)
    assert (state.first_seen, state.last_seen) == (1.0, 2.0)
    assert (state.push_addr, state.pull_addr) == (("10.0.0.1", 5000), ("10.0.0.1", 5001))
    assert (state.push_count, state.pull_count) == (1, 1)
    assert GW1 in reg and GW2 not in reg and len(reg) == 1
    # a new PULL_DATA from another port (NAT rebinding) moves the downlink route
    reg.on_pull_data(GW1, ("10.0.0.9", 7000), now=3.0)
    assert reg.downlink_route(GW1, now=3.0).pull_addr == ("10.0.0.9", 7000)


@pytest.mark.parametrize(
    ("ttl", "pull_at", "now", "ok"),
    [(None, 0.0, 1e9, True), (30.0, 0.0, 29.0, True), (30.0, 0.0, 31.0, False)],
)
def test_registry_route_ttl(ttl: float | None, pull_at: float, now: float, ok: bool) -> None:
    reg = GatewayRegistry(route_ttl_s=ttl)
    reg.on_pull_data(GW1, ("127.0.0.1", 1), now=pull_at)
    if ok:
        assert reg.downlink_route(GW1, now).pull_addr == ("127.0.0.1", 1)
    else:
        with pytest.raises(NoDownlinkRoute):
            reg.downlink_route(GW1, now)


def test_registry_no_route_without_pull_data() -> None:
    reg = GatewayRegistry()
    reg.on_push_data(GW1, ("127.0.0.1", 1), now=0.0)
    for gw in (GW1, GW2):
        with pytest.raises(NoDownlinkRoute):
            reg.downlink_route(gw, 0.0)


def test_tracker_issue_resolve_expire() -> None:
    tokens = iter([7, 7, 8, 9])
    tracker = DownlinkTracker(lambda: next(tokens), ttl_s=10.0)
    a = tracker.issue(GW1, "d1", now=0.0)
    b = tracker.issue(GW1, "d2", now=5.0)  # 7 is pending for GW1: the next token is drawn
    c = tracker.issue(GW2, "d3", now=5.0)
    assert (a.token, b.token, c.token) == (7, 8, 9)
    assert tracker.already_sent("d1") and not tracker.already_sent("dx")
    assert tracker.resolve(GW2, 7) is None  # tokens are per gateway
    assert tracker.resolve(GW1, 8) == b
    assert tracker.resolve(GW1, 8) is None  # a second TX_ACK matches nothing
    assert tracker.expire(now=10.5) == [a]
    assert len(tracker) == 1
    assert tracker.already_sent("d1")  # still remembered: a redelivery is not resent


def test_tracker_remembers_a_bounded_number_of_ids() -> None:
    counter = itertools.count()
    tracker = DownlinkTracker(lambda: next(counter), remember_sent=3)
    for i in range(5):
        tracker.issue(GW1, f"d{i}", now=0.0)
    assert [tracker.already_sent(f"d{i}") for i in range(5)] == [False, False, True, True, True]
