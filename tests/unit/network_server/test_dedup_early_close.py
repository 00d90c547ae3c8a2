"""Adaptive early close of the dedup window, late duplicates, and each group's completion."""

from __future__ import annotations

import asyncio

import pytest

from services.network_server.core.dedup import (
    MIN_HISTORY,
    AddResult,
    Deduplicator,
    GatewayHistory,
    device_of,
)
from services.network_server.dedup_runner import DedupGroupFailed, DedupRunner

from .helpers import gw_uplink, rx

DEV = bytes.fromhex("DA1B0126")  # DevAddr 26011BDA as on the air


def frame(f_cnt: int, dev_addr: bytes = DEV) -> bytes:
    return b"\x40" + dev_addr + b"\x00" + f_cnt.to_bytes(2, "little") + b"\x01\x02\x03\xa1\xb2"


JOIN = bytes.fromhex("00" + "01" * 8 + "02" * 8 + "0304" + "A1B2C3D4")


def gw(i: int) -> str:
    return f"AA555A00000000{i:02X}"


def test_device_of_data_frames_only() -> None:
    assert device_of(frame(1)) == DEV
    assert device_of(JOIN) is None
    assert device_of(b"\x40\x01") is None


@pytest.mark.parametrize(
    ("history", "copies", "ready_after"),
    [
        # no history: the first frames of a device wait for the full window
        ([], [1, 2, 3], None),
        # fewer than MIN_HISTORY frames: still the full window
        ([1], [1], None),
        # heard by one gateway lately: ready at the first copy
        ([1, 1], [1], 1),
        # heard by up to three: ready once three distinct gateways reported
        ([2, 3, 1], [1, 2, 3], 3),
        # the same gateway twice counts once
        ([2, 2], [1, 1, 2], 3),
        # fewer gateways than expected this time: the window runs to its end
        ([3, 3], [1, 2], None),
    ],
)
def test_ready_once_as_many_gateways_as_recently(
    history: list[int], copies: list[int], ready_after: int | None
) -> None:
    d = Deduplicator(0.2, early_close=True)
    for n in history:
        d.history.record(DEV, n)
    ready_at = None
    for i, g in enumerate(copies, start=1):
        _, group = d.add(gw_uplink(frame(9), rx(gw(g))), 0.01 * i)
        assert group is not None
        if group.ready and ready_at is None:
            ready_at = i
    assert ready_at == ready_after


def test_learns_from_full_windows_then_closes_early() -> None:
    d = Deduplicator(0.2, early_close=True)
    for f_cnt in range(1, MIN_HISTORY + 1):  # first frames: full window
        _, group = d.add(gw_uplink(frame(f_cnt), rx(gw(1))), f_cnt * 10.0)
        assert group is not None and not group.ready
        assert len(d.pop_due(f_cnt * 10.0 + 0.2)) == 1
    _, group = d.add(gw_uplink(frame(99), rx(gw(1))), 100.0)
    assert group is not None and group.ready and group.expected == 1


def test_off_never_closes_early() -> None:
    d = Deduplicator(0.2, early_close=False)
    for n in (1, 1, 1):
        d.history.record(DEV, n)
    _, group = d.add(gw_uplink(frame(1), rx(gw(1))), 0.0)
    assert group is not None and group.expected is None and not group.ready


def test_join_requests_wait_the_full_window() -> None:
    d = Deduplicator(0.2, early_close=True)
    _, group = d.add(gw_uplink(JOIN, rx(gw(1))), 0.0)
    assert group is not None and group.device is None and not group.ready


def test_previous_window_of_the_device_still_open_keeps_order() -> None:
    d = Deduplicator(0.2, early_close=True)
    d.history.record(DEV, 1)
    d.history.record(DEV, 1)
    d.history.record(DEV, 2)  # frame 1 is expected from two gateways
    _, first = d.add(gw_uplink(frame(1), rx(gw(1))), 0.0)
    assert first is not None and not first.ready
    # the next frame must not overtake it, even though one gateway may suffice later
    _, second = d.add(gw_uplink(frame(2), rx(gw(1))), 0.05)
    assert second is not None and second.expected is None and not second.ready
    assert [g.key for g in d.pop_due(0.3)] == [frame(1), frame(2)]


def test_late_copy_after_early_close_is_late_and_raises_the_history() -> None:
    d = Deduplicator(0.2, early_close=True)
    d.history.record(DEV, 1)
    d.history.record(DEV, 1)
    result, group = d.add(gw_uplink(frame(5), rx(gw(1))), 0.0)
    assert result is AddResult.FIRST and group is not None and group.ready
    d.pop(group.key, 0.0)
    # another gateway's copy comes 50 ms later: a late duplicate, never a new uplink
    assert d.add(gw_uplink(frame(5), rx(gw(2))), 0.05) == (AddResult.LATE, None)
    # the same gateway again does not count twice
    assert d.add(gw_uplink(frame(5), rx(gw(2))), 0.06)[0] is AddResult.LATE
    assert d.history.expected(DEV) == 2
    # the next frame now waits for two gateways
    _, nxt = d.add(gw_uplink(frame(6), rx(gw(1))), 5.0)
    assert nxt is not None and not nxt.ready
    _, nxt = d.add(gw_uplink(frame(6), rx(gw(3))), 5.01)
    assert nxt is not None and nxt.ready
    # late period: counted from the full window's end
    assert d.add(gw_uplink(frame(5), rx(gw(4))), 0.39)[0] is AddResult.LATE
    assert d.add(gw_uplink(frame(5), rx(gw(4))), 0.41)[0] is AddResult.FIRST


def test_history_is_bounded() -> None:
    h = GatewayHistory(frames=3, max_devices=2)
    for n in (5, 1, 1, 1):
        h.record(b"a", n)
    assert h.expected(b"a") == 1  # the 5 left the last three frames
    h.record(b"b", 2)
    h.record(b"c", 2)  # b"a" was heard least recently: forgotten
    assert len(h) == 2 and h.expected(b"a") is None
    with pytest.raises(ValueError):
        GatewayHistory(frames=0)


# ------------------------------------------------------------------ the runner


async def test_runner_closes_early_and_every_copy_gets_the_completion() -> None:
    handled: list[int] = []

    async def on_complete(group) -> None:  # type: ignore[no-untyped-def]
        handled.append(len(group.rx))

    runner = DedupRunner(5.0, on_complete, early_close=True)
    runner.dedup.history.record(DEV, 2)
    runner.dedup.history.record(DEV, 1)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    r1, c1 = runner.add(gw_uplink(frame(1), rx(gw(1))))
    r2, c2 = runner.add(gw_uplink(frame(1), rx(gw(2))))
    assert (r1, r2) == (AddResult.FIRST, AddResult.MERGED)
    assert c1 is not None and c1 is c2
    await asyncio.wait_for(c1, 1.0)  # long before the 5 s window
    assert loop.time() - t0 < 1.0
    assert handled == [2] and runner.early_closed == 1
    r3, c3 = runner.add(gw_uplink(frame(1), rx(gw(3))))
    assert (r3, c3) == (AddResult.LATE, None)
    await asyncio.wait_for(runner.wait_idle(), 1.0)


async def test_completion_resolves_only_after_the_group_was_handled() -> None:
    release = asyncio.Event()

    async def on_complete(group) -> None:  # type: ignore[no-untyped-def]
        await release.wait()

    runner = DedupRunner(0.01, on_complete)
    _, completion = runner.add(gw_uplink(frame(1), rx(gw(1))))
    assert completion is not None
    await asyncio.sleep(0.05)  # the window closed; the handler is still running
    assert not completion.done()
    release.set()
    await asyncio.wait_for(completion, 1.0)
    assert completion.result() is None


async def test_completion_raises_after_the_last_retry() -> None:
    calls = 0

    async def on_complete(group) -> None:  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        raise ConnectionError("database gone")

    runner = DedupRunner(0.01, on_complete, retry_delays_s=(0.01, 0.01))
    _, completion = runner.add(gw_uplink(frame(1), rx(gw(1))))
    assert completion is not None
    with pytest.raises(DedupGroupFailed):
        await asyncio.wait_for(completion, 2.0)
    assert calls == 3  # the first try and both retries, before the completion failed
    await asyncio.wait_for(runner.wait_idle(), 1.0)


async def test_flush_resolves_the_completions_of_open_windows() -> None:
    async def on_complete(group) -> None:  # type: ignore[no-untyped-def]
        return None

    runner = DedupRunner(10.0, on_complete)
    _, completion = runner.add(gw_uplink(frame(1), rx(gw(1))))
    assert completion is not None and not completion.done()
    await asyncio.wait_for(runner.flush(), 1.0)
    assert completion.done() and completion.result() is None
