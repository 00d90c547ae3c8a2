from __future__ import annotations

import hashlib

import pytest
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2
from fabric_protos.orderer import ab_pb2
from fabric_protos.peer import (
    proposal_pb2,
    proposal_response_pb2,
    transaction_pb2,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ledger.fabric import protocol
from services.ledger.fabric.errors import ProtocolError

# Known answer: sha256(bytes(range(24)) + b"creator"), computed with coreutils sha256sum.
NONCE = bytes(range(24))
CREATOR = b"creator"
TX_ID = "151635d156b87fcdd972bf6d45d83eb75864e6b9caff423a784c5c4e58051968"


def test_transaction_id_is_sha256_of_nonce_then_creator() -> None:
    assert protocol.transaction_id(NONCE, CREATOR) == TX_ID
    assert protocol.transaction_id(NONCE, CREATOR) != protocol.transaction_id(CREATOR, NONCE)


def _build(**kw):  # type: ignore[no-untyped-def]
    args = dict(
        channel="app-zone-a",
        chaincode="hyperlora",
        function="application:create",
        args=[b"uplink", b"k1"],
        creator=CREATOR,
        nonce=NONCE,
        timestamp_ns=1_700_000_000_123_456_789,
    )
    args.update(kw)
    return protocol.build_proposal(**args)


def test_proposal_layout_through_the_protobufs() -> None:
    built = _build(transient={"secret": b"x"})
    proposal = proposal_pb2.Proposal()
    proposal.ParseFromString(built.proposal_bytes)
    header = common_pb2.Header()
    header.ParseFromString(proposal.header)
    ch = common_pb2.ChannelHeader()
    ch.ParseFromString(header.channel_header)
    assert ch.type == common_pb2.ENDORSER_TRANSACTION
    assert ch.channel_id == "app-zone-a"
    assert ch.tx_id == built.tx_id == hashlib.sha256(NONCE + CREATOR).hexdigest()
    assert ch.epoch == 0
    assert (ch.timestamp.seconds, ch.timestamp.nanos) == (1_700_000_000, 123_456_789)
    ext = proposal_pb2.ChaincodeHeaderExtension()
    ext.ParseFromString(ch.extension)
    assert ext.chaincode_id.name == "hyperlora"
    sh = common_pb2.SignatureHeader()
    sh.ParseFromString(header.signature_header)
    assert (sh.creator, sh.nonce) == (CREATOR, NONCE)
    info = protocol.parse_proposal(built.proposal_bytes)
    assert info.args == [b"application:create", b"uplink", b"k1"]
    assert info.chaincode == "hyperlora"
    assert info.transient == {"secret": b"x"}
    assert info.timestamp_ns == 1_700_000_000_123_456_789


@settings(max_examples=200)
@given(
    channel=st.from_regex(r"[a-z][a-z0-9.-]{0,40}", fullmatch=True),
    function=st.text(min_size=1, max_size=30),
    args=st.lists(st.binary(max_size=64), max_size=6),
    nonce=st.binary(min_size=1, max_size=32),
    creator=st.binary(max_size=200),
    ts=st.integers(min_value=0, max_value=2**62),
)
def test_proposal_round_trip(channel, function, args, nonce, creator, ts) -> None:  # type: ignore[no-untyped-def]
    built = protocol.build_proposal(
        channel=channel,
        chaincode="cc",
        function=function,
        args=args,
        creator=creator,
        nonce=nonce,
        timestamp_ns=ts,
    )
    info = protocol.parse_proposal(built.proposal_bytes)
    assert info.channel == channel
    assert info.args == [function.encode(), *args]
    assert (info.creator, info.nonce, info.timestamp_ns) == (creator, nonce, ts)
    assert info.tx_id == built.tx_id == protocol.transaction_id(nonce, creator)


def test_empty_nonce_refused() -> None:
    with pytest.raises(ValueError):
        _build(nonce=b"")


def _envelope(
    result: bytes, channel: str = "device-ledger", tx_id: str = "t1"
) -> common_pb2.Envelope:
    action = proposal_pb2.ChaincodeAction(
        response=proposal_response_pb2.Response(status=200, payload=result)
    )
    prp = proposal_response_pb2.ProposalResponsePayload(extension=action.SerializeToString())
    cap = transaction_pb2.ChaincodeActionPayload(
        action=transaction_pb2.ChaincodeEndorsedAction(
            proposal_response_payload=prp.SerializeToString()
        )
    )
    tx = transaction_pb2.Transaction(
        actions=[transaction_pb2.TransactionAction(payload=cap.SerializeToString())]
    )
    ch = common_pb2.ChannelHeader(channel_id=channel, tx_id=tx_id)
    payload = common_pb2.Payload(
        header=common_pb2.Header(channel_header=ch.SerializeToString()),
        data=tx.SerializeToString(),
    )
    return common_pb2.Envelope(payload=payload.SerializeToString())


def test_parse_prepared_transaction() -> None:
    info = protocol.parse_prepared_transaction(_envelope(b'{"ok":1}'))
    assert (info.channel, info.tx_id, info.result) == ("device-ledger", "t1", b'{"ok":1}')


def test_parse_prepared_transaction_errors() -> None:
    with pytest.raises(ProtocolError):
        protocol.parse_prepared_transaction(common_pb2.Envelope(payload=b"\xff\xff\xff"))
    empty = common_pb2.Payload(data=transaction_pb2.Transaction().SerializeToString())
    with pytest.raises(ProtocolError, match="no chaincode action"):
        protocol.parse_prepared_transaction(common_pb2.Envelope(payload=empty.SerializeToString()))


def test_commit_status_request() -> None:
    raw = protocol.commit_status_request("app-zone-b", "abc", CREATOR)
    req = gateway_pb2.CommitStatusRequest()
    req.ParseFromString(raw)
    assert (req.channel_id, req.transaction_id, req.identity) == ("app-zone-b", "abc", CREATOR)


@pytest.mark.parametrize(
    ("start", "after", "which"),
    [(None, "", "newest"), (7, "", "specified"), (0, "tx9", "specified")],
)
def test_chaincode_events_request(start, after, which) -> None:  # type: ignore[no-untyped-def]
    raw = protocol.chaincode_events_request(
        "network-ledger", "hyperlora", CREATOR, start_block=start, after_tx_id=after
    )
    req = gateway_pb2.ChaincodeEventsRequest()
    req.ParseFromString(raw)
    assert (req.channel_id, req.chaincode_id, req.identity) == (
        "network-ledger",
        "hyperlora",
        CREATOR,
    )
    assert req.start_position.WhichOneof("Type") == which
    if start is not None:
        assert req.start_position.specified.number == start
    assert req.after_transaction_id == after
    assert isinstance(req.start_position, ab_pb2.SeekPosition)


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (0, "VALID"),
        (11, "MVCC_READ_CONFLICT"),
        (12, "PHANTOM_READ_CONFLICT"),
        (2, "BAD_PAYLOAD"),
        (9999, "UNKNOWN_9999"),
    ],
)
def test_validation_code_names(code: int, name: str) -> None:
    assert protocol.validation_code_name(code) == name
