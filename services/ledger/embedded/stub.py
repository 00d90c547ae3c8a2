"""The subset of Fabric's ChaincodeStub the contracts use, over the embedded world state.

``EmbeddedStub`` mirrors fabric_chaincode_python.fabric_shim.stub.ChaincodeStub method for
method (same names, same async-ness, same return types: ``b""`` for a missing key, async
iterators of the protobuf ``KV`` / ``KeyModification`` messages, a protobuf ``Timestamp``), so
the very same ContractChaincode runs here and under a Fabric peer. While the chaincode runs,
the stub records the read set (key -> version), range reads (for phantom checks) and the
write set — the simulation result that the committer validates (MVCC) and applies.

As on Fabric, reads see the committed state only, never the transaction's own writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from fabric_protos.ledger.queryresult import kv_query_result_pb2 as kv_pb
from google.protobuf.timestamp_pb2 import Timestamp

from ..errors import LedgerError
from .selector import UnsupportedQuery, matches, sort_key

Version = tuple[int, int]  # (block number, transaction number in the block)


class StateReader(Protocol):
    def get(self, key: str) -> tuple[bytes, Version] | None: ...

    def range(self, start: str, end: str) -> Iterator[tuple[str, bytes, Version]]: ...

    def history(self, key: str) -> list[tuple[str, bytes, bool, int]]:
        """(tx_id, value, is_delete, timestamp_ns), newest first."""
        ...

    def scan(self) -> Iterator[tuple[str, bytes]]: ...


class StubError(LedgerError):
    """Misuse of the stub by chaincode (empty key, bad value type)."""


@dataclass(slots=True)
class RangeRead:
    start: str
    end: str
    results: list[tuple[str, Version]] = field(default_factory=list)
    exhausted: bool = False


@dataclass(slots=True)
class RWSet:
    reads: dict[str, Version | None] = field(default_factory=dict)
    range_reads: list[RangeRead] = field(default_factory=list)
    writes: dict[str, bytes | None] = field(default_factory=dict)  # None = delete

    def to_json(self) -> dict[str, Any]:
        return {
            "reads": [[k, list(v) if v else None] for k, v in self.reads.items()],
            "range_reads": [
                {
                    "start": r.start,
                    "end": r.end,
                    "results": [[k, list(v)] for k, v in r.results],
                    "exhausted": r.exhausted,
                }
                for r in self.range_reads
            ],
            "writes": [[k, _value_json(v)] for k, v in self.writes.items()],
        }


def _value_json(value: bytes | None) -> Any:
    """A written value in the transaction body: text when it is UTF-8 (the contracts write
    JSON), ``{"hex": ...}`` otherwise, None for a delete."""
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return {"hex": value.hex()}


class _Iter:
    """Async iterator like the shim's query iterators (``async for``; ``aclose``)."""

    def __init__(self, items: Iterable[Any]) -> None:
        self._it = iter(items)

    def __aiter__(self) -> _Iter:
        return self

    async def __anext__(self) -> Any:
        try:
            return next(self._it)
        except StopIteration:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        self._it = iter(())


def _timestamp(ns: int) -> Timestamp:
    return Timestamp(seconds=ns // 1_000_000_000, nanos=ns % 1_000_000_000)


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not key:
        raise StubError("key must not be an empty string")


class EmbeddedStub:
    def __init__(
        self,
        state: StateReader,
        *,
        channel_id: str,
        tx_id: str,
        args: Sequence[str],
        msp_id: str,
        timestamp_ns: int,
        id_bytes: bytes = b"",
    ) -> None:
        self._state = state
        self.channel_id = channel_id
        self.tx_id = tx_id
        self.args = list(args)
        self.creator = {"mspid": msp_id, "idBytes": id_bytes}
        self.timestamp_ns = timestamp_ns
        self.tx_timestamp = _timestamp(timestamp_ns)
        self.rwset = RWSet()
        self._events: list[tuple[str, bytes]] = []

    # ------------------------------------------------------------------ proposal data
    def get_channel_id(self) -> str:
        return self.channel_id

    def get_txid(self) -> str:
        return self.tx_id

    get_tx_id = get_txid

    def get_tx_timestamp(self) -> Timestamp:
        return self.tx_timestamp

    def get_creator(self) -> dict[str, Any]:
        return self.creator

    def get_function_and_parameters(self) -> tuple[str, list[str]]:
        if not self.args:
            raise StubError("no function name provided in transaction payload")
        return self.args[0], self.args[1:]

    def get_args(self) -> list[bytes]:
        return [a.encode() for a in self.args]

    # ------------------------------------------------------------------ state
    async def get_state(self, key: str) -> bytes:
        _check_key(key)
        got = self._state.get(key)
        if key not in self.rwset.reads:
            self.rwset.reads[key] = got[1] if got else None
        return got[0] if got else b""

    async def put_state(self, key: str, value: bytes | str) -> None:
        _check_key(key)
        if isinstance(value, str):
            value = value.encode()
        if not isinstance(value, bytes | bytearray):
            raise StubError("value must be bytes or str")
        self.rwset.writes[key] = bytes(value)

    async def delete_state(self, key: str) -> None:
        _check_key(key)
        self.rwset.writes[key] = None

    del_state = delete_state

    async def get_state_by_range(self, start_key: str, end_key: str) -> _Iter:
        record = RangeRead(start_key, end_key)
        self.rwset.range_reads.append(record)

        def gen() -> Iterator[kv_pb.KV]:
            for key, value, version in self._state.range(start_key, end_key):
                record.results.append((key, version))
                yield kv_pb.KV(namespace="", key=key, value=value)
            record.exhausted = True

        return _Iter(gen())

    async def get_history_for_key(self, key: str) -> _Iter:
        _check_key(key)
        mods = [
            kv_pb.KeyModification(
                tx_id=tx_id, value=value, timestamp=_timestamp(ts), is_delete=is_delete
            )
            for tx_id, value, is_delete, ts in self._state.history(key)
        ]
        return _Iter(mods)

    async def get_query_result(self, query: str) -> _Iter:
        """Rich query: a CouchDB selector subset (see selector.py) plus sort/skip/limit.
        Like Fabric, rich-query results are not re-validated at commit (no phantom check)."""
        try:
            q = json.loads(query)
        except ValueError as exc:
            raise UnsupportedQuery(f"query is not JSON: {exc}") from None
        selector = q.get("selector") if isinstance(q, dict) else None
        if not isinstance(selector, dict):
            raise UnsupportedQuery("query needs a selector object")
        hits: list[tuple[str, bytes, Any]] = []
        for key, value in self._state.scan():
            try:
                doc = json.loads(value)
            except ValueError:
                continue
            if isinstance(doc, dict) and matches(doc, selector):
                hits.append((key, value, doc))
        if q.get("sort"):
            fn, reverse = sort_key(list(q["sort"]))
            hits.sort(key=lambda h: fn(h[2]), reverse=reverse)
        skip = int(q.get("skip", 0) or 0)
        limit = q.get("limit")
        hits = hits[skip:] if limit is None else hits[skip : skip + int(limit)]
        return _Iter(kv_pb.KV(namespace="", key=k, value=v) for k, v, _ in hits)

    # ------------------------------------------------------------------ events
    def set_event(self, name: str, payload: bytes | str | None) -> None:
        if not isinstance(name, str) or not name:
            raise StubError("event name must be a non-empty string")
        if isinstance(payload, str):
            payload = payload.encode()
        self._events.append((name, payload or b""))

    def get_events(self) -> list[tuple[str, bytes]]:
        return list(self._events)
