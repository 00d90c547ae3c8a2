"""Outbox.add_many: one transaction per group, known idempotency keys dropped (pending,
committed, failed, or earlier in the group), nothing written when the group fails."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from services.ledger.outbox import NewRecord, Outbox


def row(key: str, zone: str = "zone-a") -> NewRecord:
    args = ("uplink", key, key, '{"a":"\\u00e9"}')
    return NewRecord(key, f"app-{zone}", zone, zone, "application", key, "application:create",
                     args, 1.5)  # fmt: skip


def test_add_many_drops_known_keys_and_keeps_order(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    pending, committed, failed = box.add_many([row("p"), row("c"), row("f")])
    assert pending is not None and committed is not None and failed is not None
    box.committed([(committed, "tx", 3)], 2.0)
    box.failed(failed, "InvalidInput: x", 2.0)
    out = box.add_many([row("n1"), row("p"), row("c"), row("f"), row("n2"), row("n1")])
    assert [e is not None for e in out] == [True, False, False, False, True, False]
    assert [e.idempotency_key for e in box.pending()] == ["p", "n1", "n2"]
    assert box.pending()[1] == out[0]  # the entry handed out is the row stored
    assert box.known("c") == "committed" and box.known("f") == "failed"
    assert box.add(**{f: getattr(row("n3"), f) for f in NewRecord.__slots__}) is not None
    box.close()


def test_a_failing_group_writes_nothing(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.add_many([row("a")])
    bad = row("b")
    bad = NewRecord(*[getattr(bad, f) for f in NewRecord.__slots__][:-1], object())  # type: ignore[arg-type]
    with pytest.raises(sqlite3.Error):
        box.add_many([row("c"), bad])
    assert [e.idempotency_key for e in box.pending()] == ["a"]
    assert box.add_many([]) == []
    box.close()
