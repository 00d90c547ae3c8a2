"""Reception rules of the engine, checked on hand-placed transmissions."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from services.lorawan.airtime import time_on_air
from simulator import radio
from tests.unit.simulator.sim_harness import Harness

TOA_SF7 = time_on_air(33, 7)  # 20-byte payload + 13 bytes of LoRaWAN overhead


@pytest.mark.parametrize(
    ("rssi_a", "rssi_b", "capture", "delivered", "collisions"),
    [
        (-100.0, -100.0, 6.0, 0, 2),  # equal power: both lost
        (-100.0, -106.0, 6.0, 1, 1),  # 6 dB: the stronger is captured
        (-100.0, -105.9, 6.0, 0, 2),  # just under the threshold
        (-100.0, -120.0, None, 0, 2),  # no capture: both lost whatever the powers
        (-100.0, -103.0, 3.0, 1, 1),  # configurable threshold
    ],
)
def test_same_sf_capture(
    harness: Callable[..., Harness],
    rssi_a: float,
    rssi_b: float,
    capture: float | None,
    delivered: int,
    collisions: int,
) -> None:
    h = harness(reception={"capture_threshold_db": capture, "preamble_rule": True})
    h.set_rssi(0, rssi_a)
    h.set_rssi(1, rssi_b)
    h.send_at(0, 1.0)
    h.send_at(1, 1.0 + TOA_SF7 / 2)
    r = h.run()
    assert r.sent == 2
    assert r.delivered == delivered
    assert r.collisions == collisions
    assert r.lost_by_cause["collision_same_sf"] == collisions


@pytest.mark.parametrize(
    ("offset_symbols", "preamble_rule", "delivered"),
    [
        (-2.5, True, 2),  # the first frame ends 2.5 symbols into the second's preamble: saved
        (-3.0, True, 2),  # exactly the 3 symbols that may be lost
        (-3.5, True, 0),  # too much overlap
        (-2.5, False, 0),  # without the rule any overlap destroys both
        (0.1, False, 2),  # no overlap at all
    ],
)
def test_preamble_rule(
    harness: Callable[..., Harness], offset_symbols: float, preamble_rule: bool, delivered: int
) -> None:
    h = harness(reception={"capture_threshold_db": None, "preamble_rule": preamble_rule})
    h.set_rssi(0, -100.0)
    h.set_rssi(1, -100.0)
    t_sym = 128 / 125_000
    h.send_at(0, 1.0)
    # second frame starts so that the first ends offset_symbols after... (negative = overlap)
    h.send_at(1, 1.0 + TOA_SF7 + offset_symbols * t_sym)
    r = h.run()
    assert r.delivered == delivered


def test_different_channels_do_not_collide(harness: Callable[..., Harness]) -> None:
    h = harness()
    h.sim.devices[1].channels_hz = (868_300_000.0,)
    h.send_at(0, 1.0)
    h.send_at(1, 1.0)
    assert h.run().delivered == 2


@pytest.mark.parametrize(("freq_b", "delivered"), [(868_200_000.0, 0), (868_300_000.0, 2)])
def test_overlapping_neighbour_channel(
    harness: Callable[..., Harness], freq_b: float, delivered: int
) -> None:
    # 100 kHz apart, two 125 kHz signals overlap; 200 kHz apart they do not
    h = harness(reception={"capture_threshold_db": None})
    h.sim.devices[1].channels_hz = (freq_b,)
    h.send_at(0, 1.0)
    h.send_at(1, 1.01)
    assert h.run().delivered == delivered


def test_different_sf_orthogonal_without_inter_sf(harness: Callable[..., Harness]) -> None:
    h = harness(reception={"inter_sf": False})
    h.sim.devices[1].sf = 12
    h.set_rssi(0, -80.0)
    h.set_rssi(1, -125.0)
    h.send_at(0, 1.0)
    h.send_at(1, 1.0)
    assert h.run().delivered == 2


@pytest.mark.parametrize(
    ("rssi_sf12", "delivered_sf12"),
    [(-105.0, 1), (-105.5, 0)],  # SF7 interferer at -80 dBm; threshold SF12<-SF7 is -25 dB
)
def test_inter_sf_interference(
    harness: Callable[..., Harness], rssi_sf12: float, delivered_sf12: int
) -> None:
    h = harness(reception={"inter_sf": True})
    h.sim.devices[1].sf = 12
    h.set_rssi(0, -80.0)
    h.set_rssi(1, rssi_sf12)
    h.send_at(1, 1.0)
    h.send_at(0, 1.2)
    r = h.run()
    sf7_ok = 1  # SF7 at +25 dB over SF12 always survives
    assert r.delivered == sf7_ok + delivered_sf12
    assert r.lost_by_cause["collision_inter_sf"] == 1 - delivered_sf12


def test_demodulator_paths(harness: Callable[..., Harness]) -> None:
    h = harness(devices={"count": 9}, reception={"demodulator_paths": 8})
    for i, dev in enumerate(h.sim.devices):
        dev.channels_hz = (867_000_000.0 + 200_000.0 * i,)
        h.set_rssi(i, -100.0)
        h.send_at(i, 1.0 + i * 0.001)
    r = h.run()
    assert r.delivered == 8
    assert r.lost_by_cause["no_demodulator"] == 1


def test_out_of_range(harness: Callable[..., Harness]) -> None:
    h = harness(devices={"count": 1})
    h.set_rssi(0, radio.sensitivity_dbm(7) - 0.1)
    h.send_at(0, 1.0)
    r = h.run()
    assert r.delivered == 0
    assert r.lost_by_cause["out_of_range"] == 1


def test_several_gateways_hear_one_frame(harness: Callable[..., Harness]) -> None:
    h = harness(devices={"count": 2}, gateways={"count": 2, "placement": "grid"})
    # device 0 collides with device 1 at gateway 0 but is alone (in range) at gateway 1
    h.set_rssi(0, -100.0, gw_idx=0)
    h.set_rssi(1, -100.0, gw_idx=0)
    h.set_rssi(0, -110.0, gw_idx=1)
    h.set_rssi(1, -200.0, gw_idx=1)
    h.send_at(0, 1.0)
    h.send_at(1, 1.0)
    r = h.run()
    assert r.delivered == 1
    assert r.copies_lost_by_cause["collision_same_sf"] == 2
    assert h.sim.gateways[1].received == 1


@pytest.mark.parametrize(
    ("model", "rssi", "delivered"),
    [("table", -126.0, 1), ("table", -127.0, 0), ("snr", -124.5, 1), ("snr", -124.6, 0)],
)
def test_sensitivity_models(
    harness: Callable[..., Harness], model: str, rssi: float, delivered: int
) -> None:
    h = harness(devices={"count": 1}, reception={"sensitivity": model})
    h.set_rssi(0, rssi)
    h.send_at(0, 1.0)
    assert h.run().delivered == delivered
