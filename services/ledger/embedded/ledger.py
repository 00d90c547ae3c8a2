"""EmbeddedLedger: the Ledger interface in one process.

Per channel: a ChannelStore (SQLite file ``<data_dir>/ledger/<channel>.ledger.sqlite``), a
BlockCutter and a timer task. ``submit`` endorses the transaction by running the real
ContractChaincode (chaincode/) against an EmbeddedStub over the committed state, hands the
endorsed transaction to the channel's cutter, and waits for its block to commit. Blocks are
cut at ``batch_size`` transactions or ``batch_timeout_s`` after the first pending one, then
validated (MVCC), applied and hash-chained by the store in the channel's committer thread
(one block at a time, in cut order), so the event loop only endorses; the submitters'
futures are resolved back on the loop. ``tick()`` and ``stop()`` commit before returning.

A channel is created on first use. Block 0 is its genesis: one ``<contract>:init_ledger``
transaction per contract with the MSP ids the channel policy allows to write — the
embedded equivalent of a channel's config block plus the chaincode's init transaction.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import itertools
import json
import logging
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaincode.contracts import CONTRACTS, ContractChaincode, new_chaincode

from .. import metrics
from ..base import (
    VALID,
    CommitResult,
    Ledger,
    LedgerStatus,
    RecordResult,
    RecordWrite,
    submit_records_in_one_transaction,
)
from ..errors import (
    ChaincodeError,
    DuplicateTxId,
    LedgerError,
    LedgerUnavailable,
    UnknownChannel,
    chaincode_error_from_message,
)
from .cutter import BlockCutter
from .store import ChannelStore, PendingTx, channel_path, list_channels
from .stub import EmbeddedStub

log = logging.getLogger("hyperlora.ledger.embedded")

DEVICE_CHANNEL = "device-ledger"
NETWORK_CHANNEL = "network-ledger"
APP_CHANNEL_PREFIX = "app-"
_CHANNEL_NAME = re.compile(r"^[a-z][a-z0-9.-]{0,248}$")  # Fabric channel name rule


@dataclass(frozen=True, slots=True)
class ContractAccess:
    writers: tuple[str, ...]
    admins: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ChannelPolicy:
    """Who may write which contract on one channel (set in its genesis block)."""

    contracts: Mapping[str, ContractAccess]


def zone_msp(zone: str) -> str:
    """Default MSP id of a zone's organisation: ``zone-a`` -> ``ZoneAMSP``."""
    return "".join(p.capitalize() for p in re.split(r"[^A-Za-z0-9]+", zone) if p) + "MSP"


def default_policy(
    operator_msp: str = "OperatorMSP",
    zone_msps: Mapping[str, str] | None = None,
) -> Callable[[str], ChannelPolicy]:
    """device/network ledgers: the operator and every zone org write; ``app-<zone>``: the
    operator and that zone's org. Admin everywhere: the operator."""
    zones = dict(zone_msps or {})

    def msp_of(zone: str) -> str:
        return zones.get(zone) or zone_msp(zone)

    def policy(channel: str) -> ChannelPolicy:
        admins = (operator_msp,)
        if channel.startswith(APP_CHANNEL_PREFIX):
            app = ContractAccess((operator_msp, msp_of(channel[len(APP_CHANNEL_PREFIX) :])), admins)
            return ChannelPolicy({"application": app})
        shared = ContractAccess(tuple(dict.fromkeys([operator_msp, *zones.values()])), admins)
        if channel == DEVICE_CHANNEL:
            return ChannelPolicy({"device": shared})
        if channel == NETWORK_CHANNEL:
            return ChannelPolicy({"network": shared})
        return ChannelPolicy({name: shared for name in CONTRACTS})

    return policy


@dataclass(slots=True)
class _Envelope:
    tx: PendingTx
    payload: bytes
    future: asyncio.Future[CommitResult]


@dataclass(slots=True)
class _Channel:
    name: str
    store: ChannelStore
    cutter: BlockCutter[_Envelope]
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    in_flight: set[str] = field(default_factory=set)
    task: asyncio.Task[None] | None = None
    committed_txs: int = 0
    # blocks are validated, written and hashed in this channel's own worker thread, one at a
    # time in cut order, so the event loop only endorses; last_commit: the newest block's job
    committer: concurrent.futures.ThreadPoolExecutor | None = None
    last_commit: asyncio.Future[tuple[int, list[str]]] | None = None


_TX_SEED = os.urandom(24)
_TX_COUNTER = itertools.count()


def new_tx_id(msp_id: str) -> str:
    """Like Fabric's ``sha256(nonce + creator)``; the nonce is a per-process random seed plus
    a counter (unique without a system call per transaction)."""
    nonce = _TX_SEED + os.getpid().to_bytes(4, "big") + next(_TX_COUNTER).to_bytes(8, "big")
    return hashlib.sha256(nonce + msp_id.encode()).hexdigest()


class EmbeddedLedger(Ledger):
    def __init__(
        self,
        data_dir: str | Path,
        *,
        batch_size: int = 10,
        batch_timeout_s: float = 0.25,
        msp_id: str = "OperatorMSP",
        policy: Callable[[str], ChannelPolicy] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock_ns: Callable[[], int] = time.time_ns,
        auto_cut: bool = True,
        synchronous: str = "NORMAL",
        chaincode: ContractChaincode | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.batch_size = batch_size
        self.batch_timeout_s = batch_timeout_s
        self.msp_id = msp_id
        self._policy = policy or default_policy(msp_id)
        self._clock = clock
        self._wall_ns = wall_clock_ns
        self._auto_cut = auto_cut
        self._synchronous = synchronous
        self._cc = chaincode or new_chaincode()
        self._channels: dict[str, _Channel] = {}
        self._running = False

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._running = True
        for name in list_channels(self.data_dir):
            await self._channel(name)

    async def stop(self) -> None:
        """Cut and commit what is pending, stop the timers, close the stores."""
        self._running = False
        for ch in self._channels.values():
            if ch.task is not None:
                ch.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ch.task
            if ch.cutter.pending:
                self._commit_now(ch, ch.cutter.cut())
            if ch.committer is not None:
                ch.committer.shutdown(wait=True)
            if ch.last_commit is not None:  # let the blocks' results reach their submitters
                with contextlib.suppress(Exception):
                    await ch.last_commit
            ch.store.close()
        self._channels.clear()

    @property
    def running(self) -> bool:
        return self._running

    def _require_running(self) -> None:
        if not self._running:
            raise LedgerUnavailable("embedded ledger is not running")

    # ------------------------------------------------------------------ channels
    def channel_names(self) -> list[str]:
        return sorted(set(self._channels) | set(list_channels(self.data_dir)))

    async def _channel(self, name: str) -> _Channel:
        ch = self._channels.get(name) or self._open(name)
        if ch.store.height == 0:
            await self._genesis(ch)
        if self._auto_cut and self._running and ch.task is None:
            ch.task = asyncio.get_running_loop().create_task(self._timer(ch))
        return ch

    def _open(self, name: str) -> _Channel:
        if not _CHANNEL_NAME.match(name):
            raise UnknownChannel(f"invalid channel name {name!r}")
        store = ChannelStore(channel_path(self.data_dir, name), synchronous=self._synchronous)
        ch = _Channel(name, store, BlockCutter(self.batch_size, self.batch_timeout_s))
        ch.committer = concurrent.futures.ThreadPoolExecutor(1, f"ledger-{name}")
        self._channels[name] = ch
        return ch

    async def _genesis(self, ch: _Channel) -> None:
        policy = self._policy(ch.name)
        txs: list[PendingTx] = []
        now = self._wall_ns()
        for contract, access in sorted(policy.contracts.items()):
            config = json.dumps({"writers": list(access.writers), "admins": list(access.admins)})
            args = [f"{contract}:init_ledger", config]
            stub = EmbeddedStub(
                ch.store,
                channel_id=ch.name,
                tx_id=f"genesis-{ch.name}-{contract}",
                args=args,
                msp_id=self.msp_id,
                timestamp_ns=now,
            )
            response = await self._cc.invoke(stub)
            if response.status >= 400:
                raise LedgerError(f"genesis of {ch.name} failed: {response.message}")
            txs.append(PendingTx(stub.tx_id, self._body(stub, args), stub.rwset, now))
        ch.store.commit_block(txs, now)
        log.info("channel %s created with %d contract(s)", ch.name, len(txs))

    def _body(self, stub: EmbeddedStub, args: Sequence[str]) -> dict[str, Any]:
        return {
            "tx_id": stub.tx_id,
            "channel": stub.channel_id,
            "function": args[0],
            "args": list(args[1:]),
            "creator_msp": stub.creator["mspid"],
            "timestamp_ns": stub.timestamp_ns,
            "rwset": stub.rwset.to_json(),
            "events": [[n, p.hex()] for n, p in stub.get_events()],
        }

    # ------------------------------------------------------------------ endorsement
    async def _endorse(
        self, ch: _Channel, contract_fn: str, args: Sequence[str], tx_id: str
    ) -> tuple[EmbeddedStub, bytes]:
        call = [contract_fn, *args]
        stub = EmbeddedStub(
            ch.store,
            channel_id=ch.name,
            tx_id=tx_id,
            args=call,
            msp_id=self.msp_id,
            timestamp_ns=self._wall_ns(),
        )
        response = await self._cc.invoke(stub)
        if response.status >= 400:
            raise chaincode_error_from_message(response.message, contract_fn)
        return stub, bytes(response.payload)

    async def submit(
        self,
        channel: str,
        contract_fn: str,
        args: Sequence[str],
        *,
        tx_id: str | None = None,
    ) -> CommitResult:
        self._require_running()
        ch = await self._channel(channel)
        if not tx_id:
            tx_id = new_tx_id(self.msp_id)  # fresh: no need to look it up
        elif tx_id in ch.in_flight or ch.store.tx_status(tx_id) is not None:
            raise DuplicateTxId(f"transaction {tx_id} already submitted on {channel}")
        stub, payload = await self._endorse(ch, contract_fn, args, tx_id)
        if not stub.rwset.writes:
            # read-only: nothing to order (Fabric's Gateway would still order it; a read-only
            # transaction has no effect on the state, so answer at once)
            return CommitResult(tx_id, ch.store.height - 1, VALID, payload)
        future: asyncio.Future[CommitResult] = asyncio.get_running_loop().create_future()
        env = _Envelope(
            PendingTx(tx_id, self._body(stub, [contract_fn, *args]), stub.rwset, stub.timestamp_ns),
            payload,
            future,
        )
        ch.in_flight.add(tx_id)
        deadline = ch.cutter.deadline
        for batch in ch.cutter.ordered(env, self._clock()):
            self._commit(ch, batch)
        if ch.cutter.deadline != deadline:  # the timer waits for an older deadline (or none)
            ch.wake.set()
        try:
            return await future
        finally:
            ch.in_flight.discard(tx_id)

    async def submit_records(
        self, channel: str, contract: str, records: Sequence[RecordWrite]
    ) -> list[RecordResult | BaseException]:
        """One ``<contract>:create_batch`` transaction for all the records."""
        return await submit_records_in_one_transaction(self, channel, contract, records)

    def _commit(self, ch: _Channel, batch: list[_Envelope]) -> None:
        """Hand a cut batch to the channel's committer thread; its submitters' futures are
        resolved on the event loop when the block is written."""
        if not batch:
            return
        assert ch.committer is not None
        job = ch.committer.submit(ch.store.commit_block, [e.tx for e in batch], self._wall_ns())
        done = asyncio.wrap_future(job)
        done.add_done_callback(lambda f: self._finish(ch, batch, f))
        ch.last_commit = done

    def _commit_now(self, ch: _Channel, batch: list[_Envelope]) -> None:
        """Commit a batch before returning (after the blocks already handed over)."""
        if not batch:
            return
        assert ch.committer is not None
        job = ch.committer.submit(ch.store.commit_block, [e.tx for e in batch], self._wall_ns())
        concurrent.futures.wait([job])
        self._finish(ch, batch, job)

    def _finish(
        self,
        ch: _Channel,
        batch: list[_Envelope],
        job: asyncio.Future[tuple[int, list[str]]]
        | concurrent.futures.Future[tuple[int, list[str]]],
    ) -> None:
        exc: BaseException | None = (
            LedgerUnavailable("block commit cancelled") if job.cancelled() else job.exception()
        )
        if exc is not None:  # the block store failed: every tx of the batch fails
            log.error("block commit failed", exc_info=exc, extra={"channel": ch.name})
            for env in batch:
                if not env.future.done():
                    env.future.set_exception(LedgerUnavailable(f"block commit failed: {exc}"))
            return
        number, codes = job.result()
        ch.committed_txs += len(batch)
        metrics.BLOCKS.labels(ch.name).inc()
        metrics.BLOCK_TXS.labels(ch.name).observe(len(batch))
        for code in set(codes):
            metrics.TX_STATUS.labels(ch.name, code).inc(codes.count(code))
        for env, code in zip(batch, codes, strict=True):
            if not env.future.done():
                env.future.set_result(CommitResult(env.tx.tx_id, number, code, env.payload))

    async def _settled(self, ch: _Channel) -> None:
        """Wait until the blocks handed to the committer are written."""
        if ch.last_commit is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(ch.last_commit)

    async def _timer(self, ch: _Channel) -> None:
        while True:
            deadline = ch.cutter.deadline
            if deadline is None:
                await ch.wake.wait()
                ch.wake.clear()
                continue
            delay = deadline - self._clock()
            if delay > 0:
                ch.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ch.wake.wait(), delay)
                continue
            self._commit(ch, ch.cutter.cut())

    def tick(self) -> int:
        """Cut every channel whose batch timed out at ``clock()`` (for ``auto_cut=False``
        and tests with an injected clock); returns how many blocks were cut."""
        cut = 0
        now = self._clock()
        for ch in self._channels.values():
            if ch.cutter.due(now):
                self._commit_now(ch, ch.cutter.cut())
                cut += 1
        return cut

    # ------------------------------------------------------------------ queries
    async def evaluate(self, channel: str, contract_fn: str, args: Sequence[str]) -> bytes:
        self._require_running()
        ch = await self._existing(channel)
        _, payload = await self._endorse(ch, contract_fn, args, new_tx_id(self.msp_id))
        return payload

    async def _existing(self, channel: str) -> _Channel:
        if channel not in self._channels and channel not in list_channels(self.data_dir):
            raise UnknownChannel(f"no channel {channel!r}")
        return await self._channel(channel)

    async def height(self, channel: str) -> int:
        self._require_running()
        ch = await self._existing(channel)
        await self._settled(ch)
        return ch.store.height

    def store(self, channel: str) -> ChannelStore:
        """The open store of a channel (opened without genesis if it is only on disk)."""
        ch = self._channels.get(channel)
        if ch is None:
            if channel not in list_channels(self.data_dir):
                raise UnknownChannel(f"no channel {channel!r}")
            ch = self._open(channel)
        return ch.store

    def verify_chain(self, channel: str) -> int | None:
        """Number of the first broken block of ``channel``, or None when the chain verifies."""
        brk = self.store(channel).verify()
        return None if brk is None else brk.block_number

    async def status(self) -> LedgerStatus:
        channels = {
            name: {
                "height": ch.store.height,
                "pending": ch.cutter.pending,
                "committed_txs": ch.committed_txs,
            }
            for name, ch in sorted(self._channels.items())
        }
        return LedgerStatus("embedded", self._running, channels)


__all__ = [
    "APP_CHANNEL_PREFIX",
    "DEVICE_CHANNEL",
    "NETWORK_CHANNEL",
    "ChaincodeError",
    "ChannelPolicy",
    "ContractAccess",
    "EmbeddedLedger",
    "default_policy",
    "zone_msp",
]
