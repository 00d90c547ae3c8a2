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
