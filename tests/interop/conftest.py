"""Fixtures for the cross-checks against lora-packet (an independent LoRaWAN implementation).

The ``lora_packet`` fixture starts one bridge process per test session. It skips only when Node.js
is absent; a missing ``node_modules`` is a setup error and fails with the command that fixes it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.interop.lorapacket import LoraPacket, LoraPacketNotInstalled, NodeNotFound


@pytest.fixture(scope="session")
def lora_packet() -> Iterator[LoraPacket]:
    try:
        client = LoraPacket()
    except NodeNotFound as exc:
        pytest.skip(f"interop: {exc}")
    except LoraPacketNotInstalled as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield client
    finally:
        client.close()
