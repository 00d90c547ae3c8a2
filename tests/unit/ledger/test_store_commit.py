"""ChannelStore.commit_block: validation inside one block (prefetched versions plus the
block's own earlier writes), batched writes, and the read connection's committed view."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from services.ledger.base import DUPLICATE_TXID, MVCC_READ_CONFLICT, PHANTOM_READ_CONFLICT, VALID
from services.ledger.embedded.store import ChannelStore, PendingTx
from services.ledger.embedded.stub import RangeRead, RWSet, Version


def tx(
    tx_id: str,
    *,
    reads: dict[str, Version | None] | None = None,
    writes: dict[str, bytes | None] | None = None,
    ranges: list[RangeRead] | None = None,
) -> PendingTx:
    rw = RWSet(dict(reads or {}), list(ranges or []), dict(writes or {}))
    return PendingTx(tx_id, {"tx_id": tx_id, "rwset": rw.to_json()}, rw, 1_000)


@pytest.fixture
def store(tmp_path: Path) -> ChannelStore:
    s = ChannelStore(tmp_path / "c.ledger.sqlite")
    s.commit_block([tx("g", writes={"a": b"1", "b": b"2"})], 1)  # block 0: a, b at (0, 0)
    yield s
    s.close()


# (transactions of block 1, expected codes)
CASES = [
    ([tx("t1", reads={"a": (0, 0)}, writes={"a": b"x"})], [VALID]),
    ([tx("t1", reads={"a": (0, 1)})], [MVCC_READ_CONFLICT]),
    ([tx("t1", reads={"z": None}, writes={"z": b"new"})], [VALID]),
    ([tx("t1", reads={"a": None})], [MVCC_READ_CONFLICT]),  # a exists
    # read-after-write inside the block: the second tx read the committed version
    (
        [
            tx("t1", reads={"a": (0, 0)}, writes={"a": b"x"}),
            tx("t2", reads={"a": (0, 0)}, writes={"a": b"y"}),
        ],
        [VALID, MVCC_READ_CONFLICT],
    ),
    # an invalid tx's writes are not applied: the next one still sees version (0, 0)
    (
        [
            tx("t1", reads={"a": (9, 9)}, writes={"a": b"x"}),
            tx("t2", reads={"a": (0, 0)}, writes={"a": b"y"}),
        ],
        [MVCC_READ_CONFLICT, VALID],
    ),
    # a delete earlier in the block: the key is absent for the next tx
    (
        [tx("t1", writes={"b": None}), tx("t2", reads={"b": None}, writes={"b": b"again"})],
        [VALID, VALID],
    ),
    # phantom: a key written earlier in the block appears in a later tx's range
    (
        [
            tx("t1", writes={"a2": b"x"}),
            tx("t2", ranges=[RangeRead("a", "b", [("a", (0, 0))], exhausted=True)]),
        ],
        [VALID, PHANTOM_READ_CONFLICT],
    ),
    ([tx("t1", ranges=[RangeRead("a", "b", [("a", (0, 0))], exhausted=True)])], [VALID]),
    # duplicate tx_id within the block and against a stored one
    ([tx("t1"), tx("t1")], [VALID, DUPLICATE_TXID]),
    ([tx("g")], [DUPLICATE_TXID]),
]


@pytest.mark.parametrize(("txs", "codes"), CASES)
def test_block_validation(store: ChannelStore, txs: list[PendingTx], codes: list[str]) -> None:
    number, got = store.commit_block(txs, 2)
    assert (number, got) == (1, codes)
    assert store.verify() is None


def test_final_state_and_history_after_a_block(store: ChannelStore) -> None:
    store.commit_block(
        [
            tx("t1", writes={"a": b"x", "c": b"c1"}),
            tx("t2", reads={"q": (5, 5)}, writes={"a": b"lost"}),  # MVCC conflict
            tx("t3", writes={"c": b"c2", "b": None}),
        ],
        2,
    )
    assert store.get("a") == (b"x", (1, 0))
    assert store.get("c") == (b"c2", (1, 2))
    assert store.get("b") is None
    assert [h[:3] for h in store.history("c")] == [("t3", b"c2", False), ("t1", b"c1", False)]
    assert [h[:3] for h in store.history("b")] == [("t3", b"", True), ("g", b"2", False)]
    assert store.tx_status("t2") == (1, MVCC_READ_CONFLICT)


def test_many_keys_in_one_block(store: ChannelStore) -> None:
    # more read keys and tx ids than one "IN (...)" query takes
    txs = [tx(f"t{i}", reads={f"k{i}": None}, writes={f"k{i}": b"v"}) for i in range(1200)]
    _, codes = store.commit_block(txs, 2)
    assert codes == [VALID] * 1200
    _, codes = store.commit_block([tx("x", reads={"k1199": (1, 1199)}), tx("t5")], 3)
    assert codes == [VALID, DUPLICATE_TXID]


def test_reads_from_another_thread_see_only_committed_blocks(store: ChannelStore) -> None:
    """commit_block runs in a worker thread; the event loop's reads use the read connection,
    which never sees a block half-written."""
    store.execute("BEGIN IMMEDIATE")
    store.execute("UPDATE state SET value = ? WHERE key = 'a'", (b"uncommitted",))
    seen: list[object] = []
    t = threading.Thread(target=lambda: seen.append(store.get("a")))
    t.start()
    t.join(5)
    store.execute("ROLLBACK")
    assert seen == [(b"1", (0, 0))]


def test_cached_reads_follow_commits(store: ChannelStore) -> None:
    assert store.get("a") == (b"1", (0, 0))  # now cached
    assert store.get("a") == (b"1", (0, 0))
    store.commit_block([tx("t1", writes={"a": b"x"})], 2)
    assert store.get("a") == (b"x", (1, 0))
    store.commit_block([tx("t2", writes={"a": None})], 3)
    assert store.get("a") is None
    assert store.get("b") == (b"2", (0, 0))
    store.execute("UPDATE state SET value = ? WHERE key = 'b'", (b"raw",))
    assert store.get("b") == (b"raw", (0, 0))
