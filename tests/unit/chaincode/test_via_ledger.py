"""The ledger-level contract scenarios on the embedded ledger."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.ledger.embedded import EmbeddedLedger

from .ledger_scenarios import SCENARIOS


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_scenario_on_embedded_ledger(name: str, tmp_path: Path) -> None:
    async with EmbeddedLedger(tmp_path, batch_size=5, batch_timeout_s=0.005) as ledger:
        await SCENARIOS[name](ledger, "app-zone-a", name)
        assert ledger.verify_chain("app-zone-a") is None
