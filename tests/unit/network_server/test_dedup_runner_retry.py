"""A completed dedup group whose handling fails on an infrastructure error is retried."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from services.bus.messages import GatewayUplink, RxMetadata
from services.network_server.core.dedup import DedupGroup
from services.network_server.dedup_runner import DedupRunner


def _copy() -> GatewayUplink:
    rx = RxMetadata(
        gw_eui="0102030405060708",
        freq_hz=868_100_000,
        rssi=-80.0,
        size=3,
        received_at=datetime.now(UTC),
    )
    return GatewayUplink(uplink_id="u1", phy_payload=b"\x40\x01\x02", rx=rx)


async def test_transient_failure_is_retried_until_handled() -> None:
    calls: list[int] = []

    async def on_complete(group: DedupGroup) -> None:
        calls.append(group.copies)
        if len(calls) < 3:
            raise ConnectionError("database restarting")

    runner = DedupRunner(0.01, on_complete, retry_delays_s=(0.01, 0.01, 0.01))
    runner.add(_copy())
    await asyncio.wait_for(runner.wait_idle(), 2)
    assert calls == [1, 1, 1]


async def test_gives_up_after_the_last_delay() -> None:
    calls = 0

    async def on_complete(group: DedupGroup) -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError("down for good")

    runner = DedupRunner(0.01, on_complete, retry_delays_s=(0.01,))
    runner.add(_copy())
    await asyncio.wait_for(runner.wait_idle(), 2)
    assert calls == 2


def _frame(dev_addr: bytes, f_cnt: int) -> GatewayUplink:
    phy = b"\x40" + dev_addr + b"\x00" + f_cnt.to_bytes(2, "little") + b"\x01\xa1\xb2\xc3\xd4"
    rx = RxMetadata(
        gw_eui="0102030405060708",
        freq_hz=868_100_000,
        rssi=-80.0,
        size=len(phy),
        received_at=datetime.now(UTC),
    )
    return GatewayUplink(uplink_id=f"u{f_cnt}", phy_payload=phy, rx=rx)


async def test_one_devices_frames_are_handled_in_order_across_retries() -> None:
    """While the database restarts, frame 2's retry must not overtake frame 1's (frame 1
    would then be refused as a replay and lost); another device is not held up."""
    order: list[tuple[bytes, int]] = []
    failures = {1: 3}  # frame 1 of device A fails three times, the rest succeed at once

    async def on_complete(group: DedupGroup) -> None:
        dev, f_cnt = group.phy_payload[1:5], int.from_bytes(group.phy_payload[6:8], "little")
        if dev == b"AAAA" and failures.get(f_cnt, 0) > 0:
            failures[f_cnt] -= 1
            raise ConnectionError("database restarting")
        order.append((dev, f_cnt))

    runner = DedupRunner(0.005, on_complete, retry_delays_s=(0.02, 0.02, 0.02, 0.02))
    runner.add(_frame(b"AAAA", 1))
    await asyncio.sleep(0.015)  # frame 1's window closed; its handling is failing
    runner.add(_frame(b"AAAA", 2))
    runner.add(_frame(b"BBBB", 1))
    await asyncio.wait_for(runner.wait_idle(), 2)
    assert order.index((b"AAAA", 1)) < order.index((b"AAAA", 2))
    assert order[0] == (b"BBBB", 1)  # the other device went through during the retries
