"""``FabricLedger.submit_records`` over the Gateway protocol: one ``application:create_batch``
transaction per call, endorsed by the real chaincode (an in-process fake peer runs the
contracts on the embedded stub and commits through a ChannelStore), one outcome per record."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from fabric_protos.gateway import gateway_pb2, gateway_pb2_grpc
from fabric_protos.peer import transaction_pb2

from chaincode.contracts import new_chaincode
from services.ledger import errors
from services.ledger.base import RecordResult, RecordWrite
from services.ledger.embedded.store import ChannelStore, PendingTx
from services.ledger.embedded.stub import EmbeddedStub
from services.ledger.fabric import FabricLedger, FabricLedgerConfig, RetryPolicy, protocol
from tests.unit.ledger_fabric.support import (
    FakeGateway,
    FakeLedgerState,
    rpc_status_bytes,
    write_msp,
)

from .conftest import DEV, uplink_args

CH = "app-zone-a"
T0 = 1_767_225_600_000_000_000


class ChaincodePeer(FakeGateway):
    """The fake Gateway, endorsing ``<contract>:<function>`` calls with the real chaincode
    against a ChannelStore and committing the endorsed write set at Submit."""

    def __init__(self, ledger: FakeLedgerState, store: ChannelStore) -> None:
        super().__init__(ledger)
        self.store = store
        self.cc = new_chaincode()
        self.endorsed: dict[str, EmbeddedStub] = {}
        self.functions: list[str] = []
        self.invalidate_next = False

    async def _run(self, info: protocol.ProposalInfo, context: Any, evaluate: bool = False) -> Any:
        fn = info.args[0].decode()
        if fn.startswith("kv:") or info.chaincode == "qscc":
            return await super()._run(info, context, evaluate)
        self.functions.append(fn)
        stub = EmbeddedStub(
            self.store,
            channel_id=info.channel,
            tx_id=info.tx_id,
            args=[a.decode() for a in info.args],
            msp_id="OperatorMSP",
            timestamp_ns=T0 + len(self.functions),
        )
        response = await self.cc.invoke(stub)
        if response.status >= 400:  # as a peer reports a chaincode error
            detail = gateway_pb2.ErrorDetail(
                address="127.0.0.1:7081",
                msp_id="ZoneAMSP",
                message=f"chaincode response 500, {response.message}",
            )
            await context.abort(
                grpc.StatusCode.ABORTED,
                "failed to endorse transaction, see attached details for more info",
                trailing_metadata=(
                    ("grpc-status-details-bin", rpc_status_bytes(10, "failed", [detail])),
                ),
            )
        self.endorsed[info.tx_id] = stub
        return bytes(response.payload), []

    async def Submit(self, request: Any, context: Any) -> Any:
        response = await super().Submit(request, context)
        stub = self.endorsed.pop(request.transaction_id)
        _, block = self.ledger.committed[request.transaction_id]
        if self.invalidate_next:  # as if another transaction won the MVCC race
            self.invalidate_next = False
            self.ledger.committed[request.transaction_id] = (
                transaction_pb2.MVCC_READ_CONFLICT,
                block,
            )
        else:
            tx = PendingTx(stub.tx_id, {"tx_id": stub.tx_id}, stub.rwset, stub.timestamp_ns)
            self.store.commit_block([tx], stub.timestamp_ns)
        return response


@pytest.fixture
async def fabric(tmp_path: Path) -> AsyncIterator[tuple[FabricLedger, ChaincodePeer]]:
    store = ChannelStore(tmp_path / "peer.ledger.sqlite")
    state = FakeLedgerState()
    server = grpc.aio.server()
    peer = ChaincodePeer(state, store)
    gateway_pb2_grpc.add_GatewayServicer_to_server(peer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    profile = {
        "client": {"msp_id": "OperatorMSP", "msp_dir": str(write_msp(tmp_path / "msp"))},
        "peers": {"zone-a": {"msp_id": "ZoneAMSP", "address": f"127.0.0.1:{port}"}},
        "channels": {CH: {"chaincode": "hyperlora", "gateway_zone": "zone-a"}},
    }
    path = tmp_path / "connection.json"
    path.write_text(json.dumps(profile))
    fast = RetryPolicy(attempts=2, backoff_s=0.01, max_backoff_s=0.02)
    ledger = FabricLedger(FabricLedgerConfig.from_profile(path, retry=fast))
    await ledger.start()
    init = json.dumps({"writers": ["OperatorMSP"], "admins": ["OperatorMSP"]})
    assert (await ledger.submit(CH, "application:init_ledger", [init])).ok
    try:
        yield ledger, peer
    finally:
        await ledger.stop()
        await server.stop(None)
        store.close()


def rec(f_cnt: int, idem: str | None = None, payload: str = "cafe") -> RecordWrite:
    return RecordWrite(*uplink_args(f_cnt, idem, payload))


async def test_one_transaction_and_an_outcome_per_record(
    fabric: tuple[FabricLedger, ChaincodePeer],
) -> None:
    ledger, peer = fabric
    first = await ledger.submit_records(CH, "application", [rec(1), rec(2)])
    assert all(isinstance(r, RecordResult) and r.status == "created" for r in first)
    assert len({r.tx_id for r in first}) == 1  # type: ignore[union-attr]
    results = await ledger.submit_records(
        CH, "application", [rec(1), rec(2, payload="beef"), rec(3)]
    )
    exists, conflict, created = results
    assert isinstance(exists, RecordResult) and exists.status == "exists"
    assert exists.tx_id == first[0].tx_id  # type: ignore[union-attr]
    assert isinstance(conflict, errors.IdempotencyConflict)
    assert isinstance(created, RecordResult) and created.status == "created"
    assert peer.functions == ["application:init_ledger"] + ["application:create_batch"] * 2
    doc = json.loads(await ledger.evaluate(CH, "application:read", ["uplink", f"{DEV}/3"]))
    assert doc["tx_id"] == created.tx_id


async def test_an_invalidated_batch_is_reported_for_every_record(
    fabric: tuple[FabricLedger, ChaincodePeer],
) -> None:
    ledger, peer = fabric
    peer.invalidate_next = True
    results = await ledger.submit_records(CH, "application", [rec(1), rec(2)])
    assert all(isinstance(r, errors.TransactionInvalidated) for r in results)
    retry = await ledger.submit_records(CH, "application", [rec(1), rec(2)])
    assert [getattr(r, "status", None) for r in retry] == ["created", "created"]


async def test_a_batch_refused_whole_is_retried_one_record_each(
    fabric: tuple[FabricLedger, ChaincodePeer],
) -> None:
    ledger, peer = fabric
    broken = RecordWrite("uplink", f"{DEV}/5", "up:5", "{not json")
    results = await ledger.submit_records(CH, "application", [rec(4), broken])
    assert isinstance(results[0], RecordResult) and isinstance(results[1], errors.InvalidInput)
    assert peer.functions[1:] == [
        "application:create_batch",
        "application:create",
        "application:create",
    ]
