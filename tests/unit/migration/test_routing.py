"""Routing by device hash: one zone per device within an epoch, shares realised, history."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.bus.messages import LedgerRecord
from services.migration import InvalidRouting, RoutingTable, device_hash, route_device

DEVS = [f"{i:016X}" for i in range(4000)]


def rec(dev: str, f_cnt: int, zone: str = "a", channel: str = "application") -> LedgerRecord:
    return LedgerRecord(
        idempotency_key=f"up:{dev}:{f_cnt}",
        channel=channel,  # type: ignore[arg-type]
        kind="uplink",
        zone=zone,
        key=f"{dev}/{f_cnt}",
        payload={"dev_eui": dev, "f_cnt": f_cnt},
    )


def test_device_hash_is_stable_and_case_blind():
    assert device_hash("0102030405060708") == device_hash("0102030405060708".lower())
    assert 0.0 <= device_hash("FFFFFFFFFFFFFFFF") < 1.0


def test_every_record_of_a_device_goes_to_one_zone_within_an_epoch():
    table = RoutingTable()
    table.apply({"a": {"b": 0.3, "c": 0.3}}, at=1.0)
    for dev in DEVS[:300]:
        zones = {table.route(rec(dev, f)) for f in range(20)}
        assert len(zones) == 1


@settings(max_examples=200, deadline=None)
@given(
    st.floats(0.0, 0.5),
    st.floats(0.0, 0.5),
    st.sampled_from(DEVS),
)
def test_route_device_is_a_function_of_hash_and_shares(sb, sc, dev):
    shares = {"a": {"b": sb, "c": sc}}
    z = route_device("a", dev, shares)
    assert z in {"a", "b", "c"}
    assert z == route_device("a", dev, shares)
    u = device_hash(dev)
    home = 1 - sb - sc
    assert (z == "a") == (u < home)


def test_shares_are_realised_over_many_devices():
    shares = {"a": {"b": 0.25, "c": 0.5}}
    counts = {"a": 0, "b": 0, "c": 0}
    for dev in DEVS:
        counts[route_device("a", dev, shares)] += 1
    assert counts["a"] / len(DEVS) == pytest.approx(0.25, abs=0.03)
    assert counts["b"] / len(DEVS) == pytest.approx(0.25, abs=0.03)
    assert counts["c"] / len(DEVS) == pytest.approx(0.5, abs=0.03)


def test_shrinking_the_home_share_moves_only_devices_out_of_home():
    before = {d: route_device("a", d, {"a": {"b": 0.2}}) for d in DEVS}
    after = {d: route_device("a", d, {"a": {"b": 0.4}}) for d in DEVS}
    for d in DEVS:
        if before[d] == "b":
            assert after[d] == "b"  # devices already moved stay where they are


def test_only_application_records_are_routed_and_counted():
    table = RoutingTable()
    table.apply({"a": {"b": 1.0}}, at=1.0)
    assert table.route(rec(DEVS[0], 1, channel="device")) == "a"
    assert table.route(rec(DEVS[0], 1)) == "b"
    assert table.arrivals["a"] == 1
    assert table.routed[("a", "b")] == 1


def test_apply_starts_an_epoch_only_on_change():
    table = RoutingTable()
    assert table.current.epoch == 0
    assert table.apply({"a": {"b": 0.5}}, at=5.0, policy="threshold")
    assert not table.apply({"a": {"b": 0.5}}, at=10.0)
    assert table.current.epoch == 1
    assert table.epoch_at(7.0).epoch == 1
    assert table.epoch_at(1.0).epoch == 0


@pytest.mark.parametrize(
    "shares",
    [
        {"a": {"b": 1.5}},
        {"a": {"b": 0.6, "c": 0.6}},
        {"a": {"b": 0.5}, "b": {"c": 0.5}},
        {"a": {"b": -0.1}},
    ],
)
def test_invalid_routings_are_refused(shares):
    with pytest.raises(InvalidRouting):
        RoutingTable().apply(shares, at=1.0)


def test_zones_of_device_follows_the_history():
    table = RoutingTable()
    dev = next(d for d in DEVS if device_hash(d) > 0.9)
    table.apply({"a": {"b": 0.5}}, at=1.0)
    table.apply({"a": {"c": 0.5}}, at=2.0)
    assert table.zones_of_device(dev, "a") == ["a", "c", "b"]
    assert set(table.zones_of_device(dev)) >= {"b", "c"}
