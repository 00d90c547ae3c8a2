"""Block cutting like Fabric's orderer: by size, by timeout (injected clock), by bytes."""

from __future__ import annotations

import pytest

from services.ledger.embedded.cutter import BlockCutter


def test_cuts_at_max_messages() -> None:
    c: BlockCutter[int] = BlockCutter(max_messages=3, batch_timeout_s=1.0)
    assert c.ordered(1, 0.0) == []
    assert c.ordered(2, 0.1) == []
    assert c.ordered(3, 0.2) == [[1, 2, 3]]
    assert c.pending == 0 and c.deadline is None


def test_timeout_counts_from_first_pending_envelope() -> None:
    c: BlockCutter[str] = BlockCutter(max_messages=10, batch_timeout_s=0.25)
    c.ordered("a", 10.0)
    c.ordered("b", 10.2)
    assert c.deadline == pytest.approx(10.25)
    assert not c.due(10.249)
    assert c.due(10.25)
    assert c.cut() == ["a", "b"]
    c.ordered("c", 11.0)
    assert c.deadline == pytest.approx(11.25)


def test_preferred_max_bytes() -> None:
    c: BlockCutter[bytes] = BlockCutter(10, 1.0, preferred_max_bytes=10, size_of=len)
    assert c.ordered(b"x" * 6, 0) == []
    assert c.ordered(b"y" * 6, 0) == [[b"x" * 6]]  # would overflow: previous batch cut
    assert c.ordered(b"z" * 20, 0) == [[b"y" * 6], [b"z" * 20]]  # oversize goes alone
    assert c.pending == 0


@pytest.mark.parametrize(("size", "timeout"), [(0, 1.0), (1, 0.0)])
def test_rejects_bad_settings(size: int, timeout: float) -> None:
    with pytest.raises(ValueError):
        BlockCutter(size, timeout)
