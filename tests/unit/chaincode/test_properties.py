"""Property: any interleaving of creates, retries and conflicting reuses, cut into blocks of
any size, stores each idempotency key's content exactly once, and the chain verifies."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from .conftest import OPERATOR, Peer, create_args, uplink

DEV = "0102030405060708"

# an op: (f_cnt, payload variant); the idempotency key is derived from f_cnt, so a repeated
# f_cnt with the same variant is a retry and with another variant a conflicting reuse
ops = st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["aa", "bb"])), max_size=25)


async def _run(path: Path, steps: list[tuple[int, str]], block: int) -> None:
    peer = Peer(path)
    try:
        await peer.init("application", [OPERATOR])
        first: dict[int, str] = {}  # f_cnt -> payload of the first committed create
        pending = []
        for f_cnt, payload in steps:
            args = create_args(
                "uplink", f"{DEV}/{f_cnt}", f"up:{f_cnt}", uplink(f_cnt, payload=payload)
            )
            r = await peer.endorse("application:create", *args)
            if f_cnt in first:  # committed earlier: retry answers exists, reuse conflicts
                expect_ok = first[f_cnt] == payload
                assert r.ok is expect_ok, r.message
                assert r.ok or r.message.startswith("IdempotencyConflict")
                assert not r.stub.rwset.writes
            if r.ok and r.stub.rwset.writes:
                pending.append((r, f_cnt, payload))
            if len(pending) >= block:
                peer.commit(*(p[0] for p in pending))
                for res, fc, pl in pending:
                    if res.code == "VALID":
                        assert fc not in first
                        first[fc] = pl
                pending.clear()
        if pending:
            peer.commit(*(p[0] for p in pending))
            for res, fc, pl in pending:
                if res.code == "VALID":
                    first[fc] = pl
        for f_cnt, payload in first.items():
            hist = json.loads(
                (await peer.endorse("application:history", "uplink", f"{DEV}/{f_cnt}")).payload
            )
            assert len(hist) == 1
            assert hist[0]["record"]["payload"]["payload"] == payload
        assert peer.store.verify() is None
    finally:
        peer.store.close()


@settings(max_examples=150, deadline=None)
@given(steps=ops, block=st.integers(1, 6))
def test_exactly_once_per_idempotency_key(steps: list[tuple[int, str]], block: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        asyncio.run(_run(Path(d) / "p.ledger.sqlite", steps, block))
