"""Adapters and the writer built from settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.bus import MemoryBus
from services.ledger import LedgerSettings, make_ledger
from services.ledger.channels import ledger_channel, zone_of_channel, zone_slug
from services.ledger.embedded import EmbeddedLedger
from services.ledger.embedded.ledger import default_policy, zone_msp
from services.ledger.factory import make_writer


def test_embedded_ledger_from_settings(tmp_path: Path) -> None:
    s = LedgerSettings(data_dir=str(tmp_path), batch_size=7, batch_timeout_ms=40)
    ledger = make_ledger(s)
    assert isinstance(ledger, EmbeddedLedger)
    assert (ledger.batch_size, ledger.batch_timeout_s) == (7, 0.04)
    writer = make_writer(ledger, MemoryBus(), s)
    assert writer.config.max_batch == s.writer_max_batch


def test_fabric_backend_needs_a_profile() -> None:
    with pytest.raises(ValueError, match="FABRIC_PROFILE"):
        make_ledger(LedgerSettings(backend="fabric"))


@pytest.mark.parametrize(
    ("channel", "zone", "expected"),
    [
        ("device", "zone-a", "device-ledger"),
        ("network", "x", "network-ledger"),
        ("application", "zone-a", "app-zone-a"),
        ("application", "Zone A_1", "app-zone-a-1"),
    ],
)
def test_channel_names(channel: str, zone: str, expected: str) -> None:
    assert ledger_channel(channel, zone) == expected


def test_zone_helpers() -> None:
    assert zone_of_channel("app-zone-a") == "zone-a" and zone_of_channel("device-ledger") is None
    with pytest.raises(ValueError):
        zone_slug("!!")
    assert zone_msp("zone-a") == "ZoneAMSP"
    policy = default_policy("Op", {"zone-a": "OrgA", "zone-b": "OrgB"})
    assert policy("app-zone-a").contracts["application"].writers == ("Op", "OrgA")
    assert policy("device-ledger").contracts["device"].writers == ("Op", "OrgA", "OrgB")
    assert set(policy("network-ledger").contracts) == {"network"}
