"""The network-wide channel usage window."""

from __future__ import annotations

import pytest

from services.drcc.usage import ChannelUsage, uplink_airtime_s
from services.lorawan.region import get_region


def test_channel_load_is_airtime_over_window() -> None:
    u = ChannelUsage(window_s=100.0, bins=10)
    u.add(100.0, 868.1e6, 5, 1.0)
    u.add(150.0, 868.1e6, 5, 2.0)
    u.add(160.0, 868.3e6, 0, 4.0)
    # 95 s since the first record: the window is not full yet, loads are over 95 s
    load = u.channel_load(195.0, [868.5e6])
    assert load[868.1e6] == pytest.approx(3.0 / 95)
    assert load[868.3e6] == pytest.approx(4.0 / 95)
    assert load[868.5e6] == 0.0
    dr = u.dr_load(195.0, n_channels=2)
    assert dr == {5: pytest.approx(3.0 / 190), 0: pytest.approx(4.0 / 190)}


def test_old_bins_expire() -> None:
    u = ChannelUsage(window_s=100.0, bins=10)
    u.add(0.0, 868.1e6, 5, 1.0)
    u.add(95.0, 868.3e6, 5, 1.0)
    load = u.channel_load(150.0)
    assert 868.1e6 not in load
    assert load[868.3e6] == pytest.approx(0.01)
    assert u.channel_load(300.0) == {}


def test_early_window_uses_elapsed_time() -> None:
    u = ChannelUsage(window_s=600.0, bins=10)
    u.add(1000.0, 868.1e6, 5, 3.0)
    assert u.channel_load(1060.0)[868.1e6] == pytest.approx(0.05)


def test_uplink_airtime() -> None:
    eu = get_region("EU868")
    assert uplink_airtime_s(eu, 0, 33) > 1.5 > uplink_airtime_s(eu, 5, 33) > 0.05
