"""``hyperlora ledger verify|show`` over a data dir."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from services.cli.ledger import app
from services.ledger.embedded import EmbeddedLedger
from services.ledger.embedded.store import channel_path

from .conftest import DEV, uplink_args

runner = CliRunner()


async def _fill(data_dir: Path) -> None:
    async with EmbeddedLedger(data_dir, batch_size=2, batch_timeout_s=0.01) as ledger:
        for i in range(6):
            await ledger.submit("app-zone-a", "application:create", uplink_args(i))
        await ledger.submit("app-zone-b", "application:create", uplink_args(1, zone="zone-b"))


async def test_verify_ok_then_broken(tmp_path: Path) -> None:
    await _fill(tmp_path)
    ok = runner.invoke(app, ["verify", "--data-dir", str(tmp_path)])
    assert ok.exit_code == 0, ok.output
    assert "app-zone-a: OK" in ok.output and "app-zone-b: OK" in ok.output
    db = sqlite3.connect(channel_path(tmp_path, "app-zone-a"))
    db.execute("UPDATE txs SET validation_code = 'VALID ' WHERE block_number = 2")
    db.commit()
    db.close()
    bad = runner.invoke(app, ["verify", "--data-dir", str(tmp_path)])
    assert bad.exit_code == 1
    assert "app-zone-a: BROKEN at block 2" in bad.output
    assert "app-zone-b: OK" in bad.output
    one = runner.invoke(app, ["verify", "--data-dir", str(tmp_path), "--channel", "app-zone-b"])
    assert one.exit_code == 0
    missing = runner.invoke(app, ["verify", "--data-dir", str(tmp_path), "--channel", "nope"])
    assert missing.exit_code == 2


async def test_show_channel_and_key(tmp_path: Path) -> None:
    await _fill(tmp_path)
    res = runner.invoke(app, ["show", "--data-dir", str(tmp_path), "--channel", "app-zone-a"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["height"] == 7 and len(summary["blocks"]) == 5  # --last 5
    assert summary["blocks"][-1]["hash"] == summary["last_hash"]
    res = runner.invoke(
        app, ["show", "--data-dir", str(tmp_path), "--channel", "app-zone-a", "--key", f"{DEV}/3"]
    )
    assert res.exit_code == 0, res.output
    (rec,) = json.loads(res.output)
    assert rec["state_key"] == f"rec:uplink:{DEV}/3"
    assert rec["value"]["payload"]["f_cnt"] == 3 and len(rec["history"]) == 1
    res = runner.invoke(
        app, ["show", "--data-dir", str(tmp_path), "--channel", "app-zone-a", "--key", "nokey"]
    )
    assert res.exit_code == 1
