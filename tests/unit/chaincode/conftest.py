"""Harness: the real ContractChaincode over the embedded stub, one transaction per block.

``Peer.call`` endorses (runs the chaincode against the committed state, recording the
read/write set) and, for a successful transaction with writes, commits it through the
ChannelStore (MVCC validation, hash chain) — the same path the embedded ledger takes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chaincode.contracts import new_chaincode
from services.ledger.embedded.store import ChannelStore, PendingTx
from services.ledger.embedded.stub import EmbeddedStub

OPERATOR = "OperatorMSP"
ZONE_A = "ZoneAMSP"
T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z in ns


@dataclass
class Result:
    status: int
    payload: bytes
    message: str
    stub: EmbeddedStub
    code: str | None = None  # validation code when committed

    @property
    def ok(self) -> bool:
        return self.status < 400

    def json(self) -> Any:
        return json.loads(self.payload)


_CC: list[Any] = []


def _shared_chaincode() -> Any:
    """One ContractChaincode for all tests (building its metadata takes ~0.2 s); contracts
    are stateless, so sharing it is what a chaincode server does too."""
    if not _CC:
        _CC.append(new_chaincode())
    return _CC[0]


class Peer:
    def __init__(self, path: Path, cc: Any = None) -> None:
        self.store = ChannelStore(path)
        self.cc = cc or _shared_chaincode()
        self.clock_ns = T0
        self._n = 0

    def next_tx_id(self) -> str:
        self._n += 1
        return f"tx{self._n:06d}"

    async def endorse(
        self,
        fn: str,
        *args: Any,
        msp: str = OPERATOR,
        ts_ns: int | None = None,
        tx_id: str | None = None,
    ) -> Result:
        stub = EmbeddedStub(
            self.store,
            channel_id="test",
            tx_id=tx_id or self.next_tx_id(),
            args=[fn, *(str(a) for a in args)],
            msp_id=msp,
            timestamp_ns=self.clock_ns if ts_ns is None else ts_ns,
        )
        response = await self.cc.invoke(stub)
        return Result(response.status, bytes(response.payload), response.message, stub)

    def commit(self, *results: Result) -> list[str]:
        txs = [
            PendingTx(
                r.stub.tx_id,
                {"tx_id": r.stub.tx_id, "args": r.stub.args, "rwset": r.stub.rwset.to_json()},
                r.stub.rwset,
                r.stub.timestamp_ns,
            )
            for r in results
        ]
        _, codes = self.store.commit_block(txs, self.clock_ns)
        for r, c in zip(results, codes, strict=True):
            r.code = c
        return codes

    async def call(self, fn: str, *args: Any, **kw: Any) -> Result:
        result = await self.endorse(fn, *args, **kw)
        if result.ok and result.stub.rwset.writes:
            self.commit(result)
        self.clock_ns += 1_000_000_000
        return result

    async def init(
        self, contract: str, writers: list[str], admins: list[str] | None = None
    ) -> Result:
        cfg = json.dumps({"writers": writers, "admins": admins or [OPERATOR]})
        return await self.call(f"{contract}:init_ledger", cfg)


@pytest.fixture
def peer(tmp_path: Path) -> Peer:
    p = Peer(tmp_path / "test.ledger.sqlite")
    yield p
    p.store.close()


def uplink(
    f_cnt: int = 1, dev_eui: str = "0102030405060708", payload: str = "cafe", **extra: Any
) -> dict[str, Any]:
    body = {
        "dev_eui": dev_eui,
        "f_cnt": f_cnt,
        "received_at": "2026-01-01T00:00:00+00:00",
        "gateways": ["AABBCCDDEEFF0011"],
        "payload": payload,
        "origin_zone": "zone-a",
        "stored_zone": "zone-a",
    }
    body.update(extra)
    return body


def create_args(kind: str, key: str, idem: str, body: dict[str, Any]) -> list[str]:
    return [kind, key, idem, json.dumps(body)]
