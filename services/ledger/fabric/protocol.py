"""Pure construction and parsing of the Fabric messages a Gateway client exchanges.

No I/O here: nonce and timestamp are passed in, so every function is deterministic and the
byte layout can be checked by round-trips through the official protobufs.

Layout of a proposal (what a peer expects from a client):

    SignedProposal{proposal_bytes, signature}
      Proposal{header, payload}
        Header{channel_header, signature_header}
          ChannelHeader{type=ENDORSER_TRANSACTION, channel_id, tx_id, timestamp,
                        extension=ChaincodeHeaderExtension{chaincode_id.name}}
          SignatureHeader{creator=SerializedIdentity, nonce}
        ChaincodeProposalPayload{input=ChaincodeInvocationSpec{chaincode_spec{
            chaincode_id.name, input.args=[function, *args]}}, transient_map}

The transaction id is ``hex(sha256(nonce + creator))``: the peer recomputes and checks it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2
from fabric_protos.peer import (
    chaincode_pb2,
    proposal_pb2,
    proposal_response_pb2,
    transaction_pb2,
)
from google.protobuf import timestamp_pb2
from google.protobuf.message import DecodeError

from services.ledger.fabric.errors import ProtocolError

NONCE_LENGTH = 24


def transaction_id(nonce: bytes, creator: bytes) -> str:
    """Fabric's transaction id: lowercase hex of SHA-256 over the nonce then the creator."""
    return hashlib.sha256(nonce + creator).hexdigest()


def validation_code_name(code: int) -> str:
    """``TxValidationCode`` number -> its name (``0`` -> ``"VALID"``)."""
    try:
        return str(transaction_pb2.TxValidationCode.Name(code))
    except ValueError:
        return f"UNKNOWN_{code}"


@dataclass(frozen=True, slots=True)
class BuiltProposal:
    tx_id: str
    proposal_bytes: bytes  # serialized peer.Proposal, the bytes to sign


@dataclass(frozen=True, slots=True)
class ProposalInfo:
    """What a proposal says, decoded (used by tests and by diagnostics)."""

    channel: str
    tx_id: str
    chaincode: str
    args: list[bytes]  # function name first
    creator: bytes
    nonce: bytes
    timestamp_ns: int
    transient: dict[str, bytes]


def build_proposal(
    *,
    channel: str,
    chaincode: str,
    function: str,
    args: Sequence[bytes],
    creator: bytes,
    nonce: bytes,
    timestamp_ns: int,
    transient: Mapping[str, bytes] | None = None,
) -> BuiltProposal:
    """Serialize an endorser-transaction proposal invoking ``function(*args)``."""
    if not nonce:
        raise ValueError("the nonce must not be empty")
    tx_id = transaction_id(nonce, creator)
    ts = timestamp_pb2.Timestamp(
        seconds=timestamp_ns // 1_000_000_000, nanos=timestamp_ns % 1_000_000_000
    )
    extension = proposal_pb2.ChaincodeHeaderExtension(
        chaincode_id=chaincode_pb2.ChaincodeID(name=chaincode)
    )
    channel_header = common_pb2.ChannelHeader(
        type=common_pb2.ENDORSER_TRANSACTION,
        channel_id=channel,
        tx_id=tx_id,
        timestamp=ts,
        epoch=0,
        extension=extension.SerializeToString(),
    )
    signature_header = common_pb2.SignatureHeader(creator=creator, nonce=nonce)
    header = common_pb2.Header(
        channel_header=channel_header.SerializeToString(),
        signature_header=signature_header.SerializeToString(),
    )
    spec = chaincode_pb2.ChaincodeInvocationSpec(
        chaincode_spec=chaincode_pb2.ChaincodeSpec(
            chaincode_id=chaincode_pb2.ChaincodeID(name=chaincode),
            input=chaincode_pb2.ChaincodeInput(args=[function.encode(), *args]),
        )
    )
    payload = proposal_pb2.ChaincodeProposalPayload(
        input=spec.SerializeToString(), TransientMap=dict(transient or {})
    )
    proposal = proposal_pb2.Proposal(
        header=header.SerializeToString(), payload=payload.SerializeToString()
    )
    return BuiltProposal(tx_id=tx_id, proposal_bytes=proposal.SerializeToString())


def _parse(message_cls: type, data: bytes, what: str):  # type: ignore[no-untyped-def]
    msg = message_cls()
    try:
        msg.ParseFromString(data)
    except DecodeError as exc:
        raise ProtocolError(f"cannot decode {what}: {exc}") from exc
    return msg


def parse_proposal(proposal_bytes: bytes) -> ProposalInfo:
    """Decode a serialized proposal back into its parts."""
    proposal = _parse(proposal_pb2.Proposal, proposal_bytes, "Proposal")
    header = _parse(common_pb2.Header, proposal.header, "Header")
    ch = _parse(common_pb2.ChannelHeader, header.channel_header, "ChannelHeader")
    sh = _parse(common_pb2.SignatureHeader, header.signature_header, "SignatureHeader")
    payload = _parse(proposal_pb2.ChaincodeProposalPayload, proposal.payload, "payload")
    spec = _parse(chaincode_pb2.ChaincodeInvocationSpec, payload.input, "invocation spec")
    ts = ch.timestamp
    return ProposalInfo(
        channel=ch.channel_id,
        tx_id=ch.tx_id,
        chaincode=spec.chaincode_spec.chaincode_id.name,
        args=list(spec.chaincode_spec.input.args),
        creator=sh.creator,
        nonce=sh.nonce,
        timestamp_ns=ts.seconds * 1_000_000_000 + ts.nanos,
        transient=dict(payload.TransientMap),
    )


@dataclass(frozen=True, slots=True)
class PreparedInfo:
    channel: str
    tx_id: str
    result: bytes  # the chaincode response payload the endorsers agreed on


def parse_prepared_transaction(envelope: common_pb2.Envelope) -> PreparedInfo:
    """Channel, tx id and chaincode result of the envelope the Gateway returns from Endorse."""
    payload = _parse(common_pb2.Payload, envelope.payload, "envelope payload")
    ch = _parse(common_pb2.ChannelHeader, payload.header.channel_header, "ChannelHeader")
    tx = _parse(transaction_pb2.Transaction, payload.data, "Transaction")
    for action in tx.actions:
        cap = _parse(transaction_pb2.ChaincodeActionPayload, action.payload, "action payload")
        prp = _parse(
            proposal_response_pb2.ProposalResponsePayload,
            cap.action.proposal_response_payload,
            "proposal response payload",
        )
        cc_action = _parse(proposal_pb2.ChaincodeAction, prp.extension, "chaincode action")
        return PreparedInfo(
            channel=ch.channel_id, tx_id=ch.tx_id, result=cc_action.response.payload
        )
    raise ProtocolError("the prepared transaction has no chaincode action")


def commit_status_request(channel: str, tx_id: str, creator: bytes) -> bytes:
    return gateway_pb2.CommitStatusRequest(
        channel_id=channel, transaction_id=tx_id, identity=creator
    ).SerializeToString()


def chaincode_events_request(
    channel: str,
    chaincode: str,
    creator: bytes,
    *,
    start_block: int | None = None,
    after_tx_id: str = "",
) -> bytes:
    """A ``ChaincodeEventsRequest``: from ``start_block`` if given, else from the next block."""
    from fabric_protos.orderer import ab_pb2

    if start_block is None:
        start = ab_pb2.SeekPosition(newest=ab_pb2.SeekNewest())
    else:
        start = ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=start_block))
    return gateway_pb2.ChaincodeEventsRequest(
        channel_id=channel,
        chaincode_id=chaincode,
        identity=creator,
        start_position=start,
        after_transaction_id=after_tx_id,
    ).SerializeToString()
