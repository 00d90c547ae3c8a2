"""The shared part of every HyperLoRa contract: configuration, access control, idempotent
create, reads, history, range and rich queries, and the readable event log.

World-state layout (one namespace per chaincode and channel):

* ``rec:<kind>:<key>``      the record document (canonical JSON);
* ``idem:<idempotency_key>`` ``{"state_key", "content_sha256", "tx_id"}``;
* ``cfg:<contract>``         ``{"writers": [...MSP ids], "admins": [...]}`` set by init_ledger;
* ``evt:<tx time ns, 20 digits>:<tx_id>`` one event per committed write (see below).

Determinism: the only clock is the transaction timestamp from the proposal
(``stub.get_tx_timestamp()``); nothing random; documents are canonical JSON. Reads never see
the transaction's own writes (Fabric semantics), so each function reads before it writes.

Events: fabric-chaincode-python 2.5.4 drops ``stub.set_event`` (the handler never copies the
event into the COMPLETED message), so clients cannot rely on chaincode events. Every write
therefore also stores an event document under ``evt:`` (unique per transaction, so concurrent
transactions never conflict on it) readable with ``events_since``; ``set_event`` is still
called so the event flows once the shim forwards it. The ledger writer itself does not need
events: it derives confirmations from the commit status (validation code + block number).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from fabric_chaincode_python.fabric_contract_api.contractapi import (
    Contract,
    TransactionContext,
)

from .errors import (
    AccessDenied,
    IdempotencyConflict,
    InvalidInput,
    KeyExists,
    NotFound,
    NotInitialised,
)
from .validation import (
    canonical_json,
    json_string,
    key_text,
    parse_json_object,
    sha256_hex,
)

REC = "rec:"
IDEM = "idem:"
CFG = "cfg:"
EVT = "evt:"
ANY_MSP = "*"
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10000
MAX_BATCH = 1000  # records per create_batch transaction
# refusals of one record; create_batch reports them per record instead of failing the batch
REFUSALS = (InvalidInput, KeyExists, IdempotencyConflict)

# (key, payload) -> normalised (key, payload); raises InvalidInput
Validator = Callable[[str, dict[str, Any]], tuple[str, dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class KindRule:
    validate: Validator
    mutable: bool  # may a later create (another idempotency key) replace the record?


def record_state_key(kind: str, key: str) -> str:
    return f"{REC}{kind}:{key}"


def prefix_end(prefix: str) -> str:
    """Exclusive end key of a prefix range (Fabric range ends are exclusive)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def tx_time(ctx: TransactionContext) -> tuple[str, int]:
    """The transaction timestamp as (ISO-8601 UTC with microseconds and 'Z', nanoseconds)."""
    ts = ctx.get_stub().get_tx_timestamp()
    if ts is None:
        raise InvalidInput("transaction has no timestamp")
    seconds, nanos = int(ts.seconds), int(ts.nanos)
    base = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{nanos // 1000:06d}Z", seconds * 1_000_000_000 + nanos


def _limit(limit: int) -> int:
    if limit <= 0:
        return DEFAULT_LIMIT
    return min(limit, MAX_LIMIT)


def _doc(raw: bytes | None) -> Any:
    return json.loads(raw) if raw else None


_WRITERS: dict[str, frozenset[str]] = {}  # config text -> its writers (parsed once)


def _writers(config: str) -> frozenset[str]:
    writers = _WRITERS.get(config)
    if writers is None:
        if len(_WRITERS) > 256:
            _WRITERS.clear()
        writers = _WRITERS[config] = frozenset(json.loads(config)["writers"])
    return writers


class Writes:
    """The state as one transaction sees it while it runs: the committed state (through the
    stub, which records the reads for MVCC) overlaid with the transaction's own writes so far.
    Fabric's reads never see a transaction's own writes; a batch of records needs them (two
    records of one batch may touch one key)."""

    __slots__ = ("_staged", "_stub")

    def __init__(self, stub: Any) -> None:
        self._stub = stub
        self._staged: dict[str, bytes] = {}

    async def get(self, key: str) -> bytes:
        staged = self._staged.get(key)
        if staged is not None:
            return staged
        return bytes(await self._stub.get_state(key) or b"")

    async def put(self, key: str, value: bytes) -> None:
        self._staged[key] = value
        await self._stub.put_state(key, value)


@dataclass(frozen=True, slots=True)
class _Stored:
    status: str  # "created" | "exists"
    key: str  # normalised record key
    tx_id: str  # the transaction that stored the record
    response: str  # what ``create`` answers
    superseded: bool = False


_BATCH_FIELDS = "kind, key, idempotency_key, payload"


def _batch_item(item: Any, i: int) -> tuple[str, str, str, str | dict[str, Any]]:
    if not isinstance(item, dict):
        raise InvalidInput(f"records[{i}] must be an object")
    try:
        kind, key, idem, payload = (
            item["kind"],
            item["key"],
            item["idempotency_key"],
            item["payload"],
        )
    except KeyError:
        raise InvalidInput(f"records[{i}] needs exactly the fields {_BATCH_FIELDS}") from None
    if len(item) != 4:
        raise InvalidInput(f"records[{i}] needs exactly the fields {_BATCH_FIELDS}")
    if not isinstance(kind, str):
        raise InvalidInput(f"records[{i}].kind must be a string")
    if not isinstance(payload, str | dict):
        raise InvalidInput(f"records[{i}].payload must be an object or its JSON text")
    return kind, key, idem, payload


class LedgerContract(Contract):
    """Base class; subclasses set ``Name`` and ``KINDS`` and may add functions.

    Public methods are chaincode functions (called as ``<Name>:<method>``); helpers start with
    an underscore so the contract API does not register them.
    """

    KINDS: ClassVar[Mapping[str, KindRule]] = {}
    EVALUATE: ClassVar[tuple[str, ...]] = (
        "read",
        "history",
        "range_query",
        "query",
        "by_time",
        "events_since",
        "get_config",
    )

    def get_evaluate_transactions(self) -> list[str]:
        return list(self.EVALUATE)

    # ------------------------------------------------------------------ configuration

    async def init_ledger(self, ctx: TransactionContext, config: str) -> str:
        """Set the MSP ids allowed to write (``writers``) and to reconfigure (``admins``).

        The first call on a channel is accepted from anyone (on Fabric, deploy with
        ``--init-required`` so the admin's init transaction is that first call); later calls
        only from an admin MSP.
        """
        cfg = parse_json_object(config, "config")
        out: dict[str, list[str]] = {}
        for field in ("writers", "admins"):
            ids = cfg.get(field)
            if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
                raise InvalidInput(f"config.{field} must be a list of MSP ids")
            out[field] = sorted(set(ids))
        extra = set(cfg) - {"writers", "admins"}
        if extra:
            raise InvalidInput(f"config: unknown field(s) {', '.join(sorted(extra))}")
        stub = ctx.get_stub()
        current = _doc(await stub.get_state(CFG + self.Name))
        msp = ctx.get_client_identity().get_mspid()
        if current is not None and msp not in current["admins"]:
            raise AccessDenied(f"MSP {msp!r} may not reconfigure contract {self.Name}")
        await stub.put_state(CFG + self.Name, canonical_json(out).encode())
        return canonical_json(out)

    async def get_config(self, ctx: TransactionContext) -> str:
        raw = await ctx.get_stub().get_state(CFG + self.Name)
        if not raw:
            raise NotInitialised(f"contract {self.Name} has no configuration on this channel")
        return bytes(raw).decode()

    async def _require_writer(self, ctx: TransactionContext) -> str:
        writers = _writers(await self.get_config(ctx))
        msp = ctx.get_client_identity().get_mspid()
        if msp not in writers and ANY_MSP not in writers:
            raise AccessDenied(f"MSP {msp!r} may not write to the {self.Name} ledger")
        return msp

    # ------------------------------------------------------------------ writes

    def _rule(self, kind: str) -> KindRule:
        rule = self.KINDS.get(kind)
        if rule is None:
            known = ", ".join(sorted(self.KINDS))
            raise InvalidInput(f"unknown kind {kind!r} for contract {self.Name} ({known})")
        return rule

    async def create(
        self, ctx: TransactionContext, kind: str, key: str, idempotency_key: str, payload: str
    ) -> str:
        """Store a record once per idempotency key.

        Same idempotency key and same content: returns the stored record (status "exists")
        and writes nothing. Same key, other content: IdempotencyConflict. An immutable kind
        whose key is taken under another idempotency key: KeyExists.
        """
        msp = await self._require_writer(ctx)
        now = tx_time(ctx)
        stored = await self._store(
            ctx, Writes(ctx.get_stub()), msp, now[0], kind, key, idempotency_key, payload
        )
        if stored.status == "created":
            event = {"kind": kind, "key": stored.key, "tx_id": stored.tx_id}
            await self._emit(ctx, "record.created", now[1], event)
        return stored.response

    async def create_batch(self, ctx: TransactionContext, records: str) -> str:
        """Store many records in one transaction, each exactly as ``create`` would.

        ``records`` is a JSON array (at most MAX_BATCH) of ``{"kind", "key",
        "idempotency_key", "payload"}`` (``payload``: an object, or its JSON text). Every
        record keeps its own state key and idempotency entry, so reads, history, verification
        and retries are those of single creates; a later record of the batch sees what an
        earlier one wrote (two joins with one DevNonce: the second is refused). Returns a JSON
        array with one outcome per record, in order: ``{"status": "created" | "exists",
        "kind", "key", "tx_id"}`` (for "exists": the transaction that stored the record, plus
        ``"superseded": true`` when a later write replaced it) or ``{"status": "refused",
        "code", "error"}`` for a record refused for good (invalid input, key exists,
        idempotency conflict): one bad record does not sink the others. Access checks apply
        to the whole transaction. One event per transaction (Fabric keeps one):
        ``records.created`` listing ``[kind, key]`` of the created records.
        """
        msp = await self._require_writer(ctx)
        try:
            items = json.loads(records)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"records is not valid JSON: {exc}") from None
        if not isinstance(items, list):
            raise InvalidInput("records must be a JSON array")
        if len(items) > MAX_BATCH:
            raise InvalidInput(f"records holds {len(items)} records, at most {MAX_BATCH}")
        created_at, ts_ns = tx_time(ctx)
        writes = Writes(ctx.get_stub())
        out: list[str] = []  # each outcome's canonical JSON
        created: list[list[str]] = []
        for i, item in enumerate(items):
            try:
                kind, key, idem, payload = _batch_item(item, i)
                stored = await self._store(ctx, writes, msp, created_at, kind, key, idem, payload)
            except REFUSALS as exc:
                refused = {"status": "refused", "code": exc.code, "error": str(exc)}
                out.append(canonical_json(refused))
                continue
            if stored.status == "created":
                created.append([kind, stored.key])
                out.append(f'{{"key":{json_string(stored.key)},"status":"created"}}')
                continue
            outcome: dict[str, Any] = {"status": "exists", "key": stored.key}
            outcome["tx_id"] = stored.tx_id
            if stored.superseded:
                outcome["superseded"] = True
            out.append(canonical_json(outcome))
        if created:
            event = {"records": created, "tx_id": ctx.get_stub().get_txid()}
            await self._emit(ctx, "records.created", ts_ns, event)
        return "[" + ",".join(out) + "]"

    async def _store(
        self,
        ctx: TransactionContext,
        writes: Writes,
        msp: str,
        created_at: str,
        kind: str,
        key: str,
        idempotency_key: str,
        payload: str | dict[str, Any],
    ) -> _Stored:
        """The checks and writes of one record (``create`` and ``create_batch``); raises a
        ContractError before writing anything when the record is refused."""
        rule = self._rule(kind)
        key = key_text(key, "key")
        idem = key_text(idempotency_key, "idempotency_key")
        fields = payload if isinstance(payload, dict) else parse_json_object(payload, "payload")
        key, body = rule.validate(key, fields)
        # canonical JSON of {"kind", "key", "payload"} and of the record document, built around
        # the body's canonical text (encoded once; byte for byte canonical_json of the dicts)
        body_json = canonical_json(body)
        kind_json, key_json = json_string(kind), json_string(key)
        content_doc = f'{{"key":{key_json},"kind":{kind_json},"payload":{body_json}}}'
        content = sha256_hex(content_doc.encode())
        state_key = record_state_key(kind, key)

        entry = _doc(await writes.get(IDEM + idem))
        if entry is not None:
            if entry["content_sha256"] != content:
                raise IdempotencyConflict(
                    f"idempotency key {idem!r} was used for other content (tx {entry['tx_id']})"
                )
            current = _doc(await writes.get(entry["state_key"]))
            if current is not None and current.get("idempotency_key") == idem:
                response = canonical_json({"status": "exists", "record": current})
                return _Stored("exists", key, str(current["tx_id"]), response)
            response = canonical_json({"status": "exists", "superseded": True, **entry})
            return _Stored("exists", key, str(entry["tx_id"]), response, superseded=True)

        previous = _doc(await writes.get(state_key))
        if previous is not None and not rule.mutable:
            raise KeyExists(f"{kind} record {key!r} already exists (tx {previous['tx_id']})")
        await self._before_write(ctx, writes, kind, key, body)

        tx_id = ctx.get_stub().get_txid()
        tx_json, state_key_json = json_string(tx_id), json_string(state_key)
        # canonical_json of the record document (keys in sorted order; see test_canonical)
        doc_json = (
            f'{{"content_sha256":"{content}","contract":{json_string(self.Name)},'
            f'"created_at":{json_string(created_at)},"doc_type":"record",'
            f'"idempotency_key":{json_string(idem)},"key":{key_json},"kind":{kind_json},'
            f'"msp_id":{json_string(msp)},"payload":{body_json},"tx_id":{tx_json}}}'
        )
        await writes.put(state_key, doc_json.encode())
        idem_json = (
            f'{{"content_sha256":"{content}","state_key":{state_key_json},"tx_id":{tx_json}}}'
        )
        await writes.put(IDEM + idem, idem_json.encode())
        # == canonical_json({"status": "created", "record": doc}) without encoding doc twice
        return _Stored("created", key, tx_id, f'{{"record":{doc_json},"status":"created"}}')

    async def _before_write(
        self,
        ctx: TransactionContext,
        writes: Writes,
        kind: str,
        key: str,
        body: dict[str, Any],
    ) -> None:
        """Hook for kind-specific extra checks and index writes (e.g. DevNonce); read and
        write through ``writes`` so that a batch sees its own earlier records."""

    async def _emit(
        self, ctx: TransactionContext, name: str, ts_ns: int, data: dict[str, Any]
    ) -> None:
        stub = ctx.get_stub()
        event = canonical_json({"name": name, "contract": self.Name, "at_ns": ts_ns, **data})
        await stub.put_state(f"{EVT}{ts_ns:020d}:{stub.get_txid()}", event.encode())
        set_event = getattr(stub, "set_event", None)
        if set_event is not None:
            set_event(name, event.encode())

    # ------------------------------------------------------------------ reads

    async def read(self, ctx: TransactionContext, kind: str, key: str) -> str:
        self._rule(kind)
        raw = await ctx.get_stub().get_state(record_state_key(kind, key))
        if not raw:
            raise NotFound(f"no {kind} record {key!r}")
        return bytes(raw).decode()

    async def history(self, ctx: TransactionContext, kind: str, key: str) -> str:
        """Every write of a record, newest first (as Fabric returns it)."""
        self._rule(kind)
        it = await ctx.get_stub().get_history_for_key(record_state_key(kind, key))
        out = []
        async for km in it:
            seconds, nanos = int(km.timestamp.seconds), int(km.timestamp.nanos)
            at = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
            out.append(
                {
                    "tx_id": km.tx_id,
                    "timestamp": f"{at}.{nanos // 1000:06d}Z",
                    "is_delete": bool(km.is_delete),
                    "record": None if km.is_delete else _doc(km.value),
                }
            )
        return canonical_json(out)

    async def _range(
        self, ctx: TransactionContext, start: str, end: str, limit: int
    ) -> list[dict[str, Any]]:
        it = await ctx.get_stub().get_state_by_range(start, end)
        out: list[dict[str, Any]] = []
        async for kv in it:
            out.append(json.loads(kv.value))
            if len(out) >= limit:
                break
        return out

    async def range_query(
        self, ctx: TransactionContext, kind: str, start_key: str, end_key: str, limit: int
    ) -> str:
        """Records of ``kind`` with start_key <= key < end_key (empty end: to the last key)."""
        self._rule(kind)
        prefix = f"{REC}{kind}:"
        end = prefix + end_key if end_key else prefix_end(prefix)
        return canonical_json(await self._range(ctx, prefix + start_key, end, _limit(limit)))

    async def query(self, ctx: TransactionContext, query: str, limit: int) -> str:
        """A rich (CouchDB selector) query. Needs a state database that supports it: the
        embedded ledger (a selector subset) or CouchDB; LevelDB peers refuse it."""
        q = parse_json_object(query, "query")
        if not isinstance(q.get("selector"), dict):
            raise InvalidInput("query.selector must be an object")
        it = await ctx.get_stub().get_query_result(canonical_json(q))
        out: list[dict[str, Any]] = []
        lim = _limit(limit)
        async for kv in it:
            out.append(json.loads(kv.value))
            if len(out) >= lim:
                break
        return canonical_json(out)

    async def by_time(
        self, ctx: TransactionContext, kind: str, start: str, end: str, limit: int
    ) -> str:
        """Records of ``kind`` created (ledger time) in [start, end), oldest first (rich
        query; the ISO strings compare in time order)."""
        self._rule(kind)
        selector = {
            "doc_type": "record",
            "contract": self.Name,
            "kind": kind,
            "created_at": {"$gte": start, "$lt": end},
        }
        docs = json.loads(await self.query(ctx, canonical_json({"selector": selector}), limit))
        docs.sort(key=lambda d: (d["created_at"], d["key"]))
        return canonical_json(docs)

    async def events_since(self, ctx: TransactionContext, since_ns: int, limit: int) -> str:
        """Events of writes whose transaction time is >= since_ns, oldest first."""
        start = f"{EVT}{max(0, since_ns):020d}"
        docs = await self._range(ctx, start, prefix_end(EVT), _limit(limit))
        return canonical_json(docs)
