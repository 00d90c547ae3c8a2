"""Helpers of the ledger tests: record builders and an injected clock."""

from __future__ import annotations

import json
from typing import Any

DEV = "0102030405060708"


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class WallNs:
    """Deterministic wall clock in ns: +1 ms per call."""

    def __init__(self, start: int = 1_767_225_600_000_000_000) -> None:
        self.now = start

    def __call__(self) -> int:
        self.now += 1_000_000
        return self.now


def uplink_args(
    f_cnt: int, idem: str | None = None, payload: str = "cafe", zone: str = "zone-a"
) -> list[str]:
    body: dict[str, Any] = {
        "dev_eui": DEV,
        "f_cnt": f_cnt,
        "received_at": "2026-01-01T00:00:00+00:00",
        "gateways": ["AABBCCDDEEFF0011"],
        "payload": payload,
        "origin_zone": zone,
        "stored_zone": zone,
    }
    return ["uplink", f"{DEV}/{f_cnt}", idem or f"up:{f_cnt}", json.dumps(body)]
