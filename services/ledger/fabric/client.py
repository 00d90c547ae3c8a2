"""An asyncio Fabric Gateway client (gRPC, the peer's ``gateway.Gateway`` service).

Flow of a transaction: build and sign a proposal -> ``Endorse`` (the Gateway collects
endorsements and returns the prepared envelope) -> sign the envelope -> ``Submit`` (the
Gateway forwards it to the orderer) -> ``CommitStatus`` (waits until the block that holds the
transaction is committed on the peer; returns the validation code and the block number).
``Evaluate`` runs a query on one peer, ``ChaincodeEvents`` streams a chaincode's events.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2, gateway_pb2_grpc
from fabric_protos.peer import proposal_pb2

from services.ledger.errors import (
    CommitTimeout,
    LedgerError,
    chaincode_error_from_message,
)
from services.ledger.fabric import protocol
from services.ledger.fabric.errors import GatewayCallError, GatewayUnavailable
from services.ledger.fabric.identity import SigningIdentity
from services.ledger.fabric.status_details import chaincode_message, error_details

log = logging.getLogger(__name__)
T = TypeVar("T")

TRANSIENT_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED})


@dataclass(frozen=True, slots=True)
class GatewayEndpoint:
    """Where a peer's Gateway listens. ``tls_ca_pem`` None means plaintext (tests only)."""

    address: str  # "127.0.0.1:7051"
    tls_ca_pem: bytes | None = None
    server_name: str | None = None  # TLS name to check when it differs from the address


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-call deadlines in seconds."""

    evaluate: float = 10.0
    endorse: float = 30.0
    submit: float = 10.0
    commit_status: float = 60.0
    connect: float = 10.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries of calls that failed with a transient gRPC status (UNAVAILABLE...)."""

    attempts: int = 4
    backoff_s: float = 0.2
    max_backoff_s: float = 2.0


@dataclass(frozen=True, slots=True)
class Prepared:
    """An endorsed transaction, ready to be signed and submitted."""

    channel: str
    tx_id: str
    envelope: common_pb2.Envelope
    result: bytes


@dataclass(frozen=True, slots=True)
class CommitStatus:
    tx_id: str
    code: int
    status: str  # TxValidationCode name, "VALID" on success
    block_number: int

    @property
    def ok(self) -> bool:
        return self.status == "VALID"


@dataclass(frozen=True, slots=True)
class SubmitOutcome:
    tx_id: str
    result: bytes
    commit: CommitStatus
    submit_to_commit_s: float = field(default=0.0, compare=False)


@dataclass(frozen=True, slots=True)
class ChaincodeEvent:
    block_number: int
    tx_id: str
    chaincode: str
    event_name: str
    payload: bytes


class GatewayClient:
    """One connection to one peer's Gateway, signing as one identity."""

    def __init__(
        self,
        endpoint: GatewayEndpoint,
        identity: SigningIdentity,
        *,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        nonce_source: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.endpoint = endpoint
        self.identity = identity
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self._clock_ns = clock_ns
        self._nonce = nonce_source
        self._creator = identity.creator
        self._channel: grpc.aio.Channel | None = None
        self._stub: gateway_pb2_grpc.GatewayStub | None = None

    # -- connection -------------------------------------------------------------------------
    async def connect(self) -> None:
        if self._channel is not None:
            return
        options: list[tuple[str, Any]] = [
            ("grpc.keepalive_time_ms", 60_000),
            ("grpc.max_receive_message_length", 100 * 1024 * 1024),
        ]
        ep = self.endpoint
        if ep.tls_ca_pem is None:
            channel = grpc.aio.insecure_channel(ep.address, options=options)
        else:
            if ep.server_name:
                options.append(("grpc.ssl_target_name_override", ep.server_name))
            creds = grpc.ssl_channel_credentials(root_certificates=ep.tls_ca_pem)
            channel = grpc.aio.secure_channel(ep.address, creds, options=options)
        try:
            await asyncio.wait_for(channel.channel_ready(), self.timeouts.connect)
        except TimeoutError as exc:
            await channel.close()
            raise GatewayUnavailable(f"gateway {ep.address} not reachable") from exc
        self._channel = channel
        self._stub = gateway_pb2_grpc.GatewayStub(channel)  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
        self._channel = None
        self._stub = None

    async def __aenter__(self) -> GatewayClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def stub(self) -> gateway_pb2_grpc.GatewayStub:
        if self._stub is None:
            raise GatewayUnavailable("gateway client is not connected")
        return self._stub

    # -- proposals --------------------------------------------------------------------------
    def new_signed_proposal(
        self,
        channel: str,
        chaincode: str,
        function: str,
        args: Sequence[bytes | str],
        transient: Mapping[str, bytes] | None = None,
    ) -> tuple[str, proposal_pb2.SignedProposal]:
        built = protocol.build_proposal(
            channel=channel,
            chaincode=chaincode,
            function=function,
            args=[a.encode() if isinstance(a, str) else a for a in args],
            creator=self._creator,
            nonce=self._nonce(protocol.NONCE_LENGTH),
            timestamp_ns=self._clock_ns(),
            transient=transient,
        )
        signed = proposal_pb2.SignedProposal(
            proposal_bytes=built.proposal_bytes,
            signature=self.identity.sign(built.proposal_bytes),
        )
        return built.tx_id, signed

    async def evaluate(
        self,
        channel: str,
        chaincode: str,
        function: str,
        args: Sequence[bytes | str] = (),
        *,
        transient: Mapping[str, bytes] | None = None,
        target_orgs: Sequence[str] = (),
    ) -> bytes:
        tx_id, signed = self.new_signed_proposal(channel, chaincode, function, args, transient)
        request = gateway_pb2.EvaluateRequest(
            transaction_id=tx_id,
            channel_id=channel,
            proposed_transaction=signed,
            target_organizations=list(target_orgs),
        )
        response = await self._call(
            "Evaluate",
            function,
            lambda: self.stub.Evaluate(request, timeout=self.timeouts.evaluate),
        )
        return bytes(response.result.payload)

    async def endorse(
        self,
        channel: str,
        chaincode: str,
        function: str,
        args: Sequence[bytes | str] = (),
        *,
        transient: Mapping[str, bytes] | None = None,
        endorsing_orgs: Sequence[str] = (),
    ) -> Prepared:
        tx_id, signed = self.new_signed_proposal(channel, chaincode, function, args, transient)
        request = gateway_pb2.EndorseRequest(
            transaction_id=tx_id,
            channel_id=channel,
            proposed_transaction=signed,
            endorsing_organizations=list(endorsing_orgs),
        )
        response = await self._call(
            "Endorse", function, lambda: self.stub.Endorse(request, timeout=self.timeouts.endorse)
        )
        envelope = response.prepared_transaction
        info = protocol.parse_prepared_transaction(envelope)
        return Prepared(channel=channel, tx_id=tx_id, envelope=envelope, result=info.result)

    async def submit_prepared(self, prepared: Prepared) -> None:
        """Sign the endorsed envelope and hand it to the orderer through the Gateway."""
        envelope = common_pb2.Envelope(
            payload=prepared.envelope.payload,
            signature=self.identity.sign(prepared.envelope.payload),
        )
        request = gateway_pb2.SubmitRequest(
            transaction_id=prepared.tx_id,
            channel_id=prepared.channel,
            prepared_transaction=envelope,
        )
        await self._call(
            "Submit", "", lambda: self.stub.Submit(request, timeout=self.timeouts.submit)
        )

    async def commit_status(
        self, channel: str, tx_id: str, *, timeout: float | None = None
    ) -> CommitStatus:
        """Wait for the transaction's block to commit on the peer; its validation code."""
        raw = protocol.commit_status_request(channel, tx_id, self._creator)
        request = gateway_pb2.SignedCommitStatusRequest(
            request=raw, signature=self.identity.sign(raw)
        )
        deadline = timeout if timeout is not None else self.timeouts.commit_status
        try:
            response = await self._call(
                "CommitStatus", "", lambda: self.stub.CommitStatus(request, timeout=deadline)
            )
        except GatewayCallError as exc:
            if exc.code == grpc.StatusCode.DEADLINE_EXCEEDED.name:
                raise CommitTimeout(f"no commit status for {tx_id} within {deadline}s") from exc
            raise
        return CommitStatus(
            tx_id=tx_id,
            code=int(response.result),
            status=protocol.validation_code_name(int(response.result)),
            block_number=int(response.block_number),
        )

    async def submit(
        self,
        channel: str,
        chaincode: str,
        function: str,
        args: Sequence[bytes | str] = (),
        *,
        transient: Mapping[str, bytes] | None = None,
        endorsing_orgs: Sequence[str] = (),
    ) -> SubmitOutcome:
        """Endorse, submit and wait for the commit. An invalid commit is returned, not raised."""
        prepared = await self.endorse(
            channel, chaincode, function, args, transient=transient, endorsing_orgs=endorsing_orgs
        )
        t0 = time.perf_counter()
        await self.submit_prepared(prepared)
        status = await self.commit_status(channel, prepared.tx_id)
        return SubmitOutcome(
            tx_id=prepared.tx_id,
            result=prepared.result,
            commit=status,
            submit_to_commit_s=time.perf_counter() - t0,
        )

    async def chaincode_events(
        self,
        channel: str,
        chaincode: str,
        *,
        start_block: int | None = None,
        after_tx_id: str = "",
    ) -> AsyncIterator[ChaincodeEvent]:
        """Stream a chaincode's events (from ``start_block``, else from the next block)."""
        raw = protocol.chaincode_events_request(
            channel, chaincode, self._creator, start_block=start_block, after_tx_id=after_tx_id
        )
        request = gateway_pb2.SignedChaincodeEventsRequest(
            request=raw, signature=self.identity.sign(raw)
        )
        call = self.stub.ChaincodeEvents(request)
        try:
            async for response in call:
                for ev in response.events:
                    yield ChaincodeEvent(
                        block_number=int(response.block_number),
                        tx_id=ev.tx_id,
                        chaincode=ev.chaincode_id,
                        event_name=ev.event_name,
                        payload=bytes(ev.payload),
                    )
        except grpc.aio.AioRpcError as exc:
            raise self._map_error("ChaincodeEvents", "", exc) from exc
        finally:
            call.cancel()

    # -- error handling and retries ---------------------------------------------------------
    async def _call(self, method: str, function: str, make_call: Callable[[], Awaitable[T]]) -> T:
        delay = self.retry.backoff_s
        for attempt in range(1, self.retry.attempts + 1):
            try:
                return await make_call()
            except grpc.aio.AioRpcError as exc:
                if exc.code() in TRANSIENT_CODES and attempt < self.retry.attempts:
                    log.warning(
                        "fabric gateway %s: %s (attempt %d/%d), retrying in %.1fs",
                        method,
                        exc.code().name,
                        attempt,
                        self.retry.attempts,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.retry.max_backoff_s)
                    continue
                raise self._map_error(method, function, exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _map_error(self, method: str, function: str, exc: grpc.aio.AioRpcError) -> LedgerError:
        code = exc.code()
        details = exc.details() or ""
        if code in TRANSIENT_CODES:
            return GatewayUnavailable(f"{method} on {self.endpoint.address}: {details}")
        found = error_details(exc.trailing_metadata())  # type: ignore[arg-type]
        if method in ("Endorse", "Evaluate"):
            # the peer reports a chaincode's own error as "chaincode response <status>, <msg>"
            for d in found:
                if "chaincode response " in d.message:
                    return chaincode_error_from_message(chaincode_message(d.message), function)
        if found:
            details = (
                f"{details} ["
                + "; ".join(f"{d.msp_id}@{d.address}: {d.message}" for d in found)
                + "]"
            )
        return GatewayCallError(method, code.name, details)
