"""Deduplication window: copies of one frame from several gateways merge, metadata kept."""

from __future__ import annotations

import asyncio

import pytest

from services.network_server.core.dedup import AddResult, Deduplicator
from services.network_server.dedup_runner import DedupRunner

from .helpers import gw_uplink, rx

FRAME = bytes.fromhex("40DA1B0126000100010203A1B2C3D4")
OTHER = bytes.fromhex("40DA1B0126000200010203A1B2C3D4")


@pytest.mark.parametrize(
    ("arrivals", "expect_groups", "expect_gws"),
    [
        # three gateways within the window -> one group with all three
        ([(0.00, "01", FRAME), (0.05, "02", FRAME), (0.15, "03", FRAME)], 1, [3]),
        # the third copy after the window (and after the late period) -> a second group
        ([(0.00, "01", FRAME), (0.05, "02", FRAME), (0.50, "03", FRAME)], 2, [2, 1]),
        # two different frames -> two groups
        ([(0.00, "01", FRAME), (0.01, "02", OTHER)], 2, [1, 1]),
        # the same gateway twice -> one metadata entry
        ([(0.00, "01", FRAME), (0.01, "01", FRAME)], 1, [1]),
    ],
)
def test_window_groups(
    arrivals: list[tuple[float, str, bytes]], expect_groups: int, expect_gws: list[int]
) -> None:
    d = Deduplicator(window_s=0.2, late_s=0.1)
    groups = []
    for t, gw, data in arrivals:
        groups += d.pop_due(t)
        d.add(gw_uplink(data, rx(f"AA555A00000000{gw}", snr=float(int(gw)))), t)
    groups += d.pop_all(10.0)
    assert len(groups) == expect_groups
    assert [len(g.rx) for g in groups] == expect_gws


def test_three_gateways_keep_every_rx_metadata_best_first() -> None:
    d = Deduplicator(0.2)
    copies = [
        rx("AA555A0000000001", snr=-3.0, rssi=-110, tmst=111),
        rx("AA555A0000000002", snr=7.5, rssi=-70, tmst=222),
        rx("AA555A0000000003", snr=2.0, rssi=-90, tmst=333),
    ]
    results = [d.add(gw_uplink(FRAME, m), 0.01 * i)[0] for i, m in enumerate(copies)]
    assert results == [AddResult.FIRST, AddResult.MERGED, AddResult.MERGED]
    assert d.pop_due(0.1) == []  # window still open
    (group,) = d.pop_due(0.2)
    assert group.copies == 3
    assert [r.gw_eui for r in group.rx] == [
        "AA555A0000000002",
        "AA555A0000000003",
        "AA555A0000000001",
    ]
    assert {r.tmst for r in group.rx} == {111, 222, 333}
    assert group.phy_payload == FRAME


def test_late_copy_is_reported_late_then_forgotten() -> None:
    d = Deduplicator(0.2, late_s=0.2)
    d.add(gw_uplink(FRAME, rx("AA555A0000000001")), 0.0)
    assert len(d.pop_due(0.2)) == 1
    assert d.add(gw_uplink(FRAME, rx("AA555A0000000002")), 0.3)[0] is AddResult.LATE
    assert d.add(gw_uplink(FRAME, rx("AA555A0000000002")), 0.5)[0] is AddResult.FIRST


def test_same_gateway_twice_keeps_the_better_copy() -> None:
    d = Deduplicator(0.2)
    d.add(gw_uplink(FRAME, rx("AA555A0000000001", snr=1.0, tmst=1)), 0.0)
    d.add(gw_uplink(FRAME, rx("AA555A0000000001", snr=4.0, tmst=2)), 0.01)
    (group,) = d.pop_all(1.0)
    assert [r.tmst for r in group.rx] == [2]


async def test_runner_fires_once_at_window_end_with_all_copies() -> None:
    done: list[int] = []
    fired = asyncio.Event()

    async def on_complete(group) -> None:  # type: ignore[no-untyped-def]
        done.append(len(group.rx))
        fired.set()

    runner = DedupRunner(0.05, on_complete)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    runner.add(gw_uplink(FRAME, rx("AA555A0000000001")))
    runner.add(gw_uplink(FRAME, rx("AA555A0000000002")))
    await asyncio.sleep(0.01)
    runner.add(gw_uplink(FRAME, rx("AA555A0000000003")))
    assert done == []
    await asyncio.wait_for(fired.wait(), 1.0)
    assert loop.time() - t0 >= 0.045
    await runner.wait_idle()
    assert done == [3]


async def test_runner_flush_processes_open_windows() -> None:
    done: list[int] = []

    async def on_complete(group) -> None:  # type: ignore[no-untyped-def]
        done.append(len(group.rx))

    runner = DedupRunner(5.0, on_complete)
    runner.add(gw_uplink(FRAME, rx("AA555A0000000001")))
    await runner.flush()
    assert done == [1]
