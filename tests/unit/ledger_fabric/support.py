"""Test support: throwaway MSP identities and TLS material, and an in-process fake of the
peer's Gateway service that checks what a real peer checks of a client (signatures by the
creator's certificate, tx id = sha256(nonce + creator), channel and chaincode names)."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fabric_protos.common import common_pb2, ledger_pb2
from fabric_protos.gateway import gateway_pb2, gateway_pb2_grpc
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import (
    chaincode_event_pb2,
    proposal_pb2,
    proposal_response_pb2,
    transaction_pb2,
)
from google.protobuf import any_pb2

from services.ledger.fabric import protocol

# --------------------------------------------------------------------------- certificates


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_cert(
    cn: str,
    key: ec.EllipticCurvePrivateKey,
    issuer_key: ec.EllipticCurvePrivateKey | None = None,
    issuer_cn: str | None = None,
    *,
    ca: bool = False,
    ip_san: str | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(issuer_cn or cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ip_san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(ip_san)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
    return builder.sign(issuer_key or key, hashes.SHA256())


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_msp(root: Path, cn: str = "User1@operator.hyperlora.local") -> Path:
    """A cryptogen-shaped MSP folder (signcerts/<cn>-cert.pem, keystore/priv_sk)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = make_cert(cn, key)
    (root / "signcerts").mkdir(parents=True)
    (root / "keystore").mkdir()
    (root / "signcerts" / f"{cn}-cert.pem").write_bytes(pem(cert))
    (root / "keystore" / "priv_sk").write_bytes(key_pem(key))
    return root


@dataclass
class TlsMaterial:
    ca_pem: bytes
    server_cert_pem: bytes
    server_key_pem: bytes


def make_tls() -> TlsMaterial:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = make_cert("tlsca.test", ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = make_cert("peer0.test", key, ca_key, "tlsca.test", ip_san="127.0.0.1")
    return TlsMaterial(pem(ca), pem(cert), key_pem(key))


# --------------------------------------------------------------------------- signatures


def verify(creator: bytes, message: bytes, signature: bytes) -> None:
    """Raise unless ``signature`` is a low-S ECDSA P-256/SHA-256 signature by the creator."""
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    from services.ledger.fabric.identity import P256_HALF_N

    sid = identities_pb2.SerializedIdentity()
    sid.ParseFromString(creator)
    cert = x509.load_pem_x509_certificate(sid.id_bytes)
    public = cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    _, s = decode_dss_signature(signature)
    if s > P256_HALF_N:
        raise ValueError("high-S signature")


def rpc_status_bytes(code: int, message: str, details: list[gateway_pb2.ErrorDetail]) -> bytes:
    """A google.rpc.Status, wire-encoded by hand (as the Gateway sends it)."""

    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            b = n & 0x7F
            n >>= 7
            out.append(b | (0x80 if n else 0))
            if not n:
                return bytes(out)

    def ld(field_no: int, data: bytes) -> bytes:
        return varint(field_no << 3 | 2) + varint(len(data)) + data

    out = varint(1 << 3) + varint(code) + ld(2, message.encode())
    for d in details:
        a = any_pb2.Any(
            type_url="type.googleapis.com/gateway.ErrorDetail", value=d.SerializeToString()
        )
        out += ld(3, a.SerializeToString())
    return out


# --------------------------------------------------------------------------- fake Gateway


@dataclass
class FakeLedgerState:
    """A key-value chaincode "kv" (functions kv:put, kv:get, kv:fail) per channel."""

    channels: tuple[str, ...] = ("device-ledger", "app-zone-a")
    state: dict[tuple[str, str], bytes] = field(default_factory=dict)
    heights: dict[str, int] = field(default_factory=dict)
    pending: dict[str, tuple[str, int, list[tuple[str, str]]]] = field(default_factory=dict)
    committed: dict[str, tuple[int, int]] = field(default_factory=dict)  # tx -> (code, block)
    events: list[tuple[str, int, str, str, bytes]] = field(default_factory=list)
    unavailable_before_submit: int = 0
    calls: list[str] = field(default_factory=list)


class FakeGateway(gateway_pb2_grpc.GatewayServicer):
    def __init__(self, ledger: FakeLedgerState) -> None:
        self.ledger = ledger

    async def _check_proposal(self, signed: proposal_pb2.SignedProposal, context):  # type: ignore[no-untyped-def]
        info = protocol.parse_proposal(signed.proposal_bytes)
        try:
            verify(info.creator, signed.proposal_bytes, signed.signature)
        except Exception as exc:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"bad signature: {exc}")
        if info.tx_id != hashlib.sha256(info.nonce + info.creator).hexdigest():
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "tx id mismatch")
        if info.channel not in self.ledger.channels:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"channel {info.channel} not found")
        return info

    async def _run(self, info: protocol.ProposalInfo, context, evaluate: bool = False):  # type: ignore[no-untyped-def]
        fn = info.args[0].decode()
        args = [a.decode() for a in info.args[1:]]
        if info.chaincode == "qscc" and fn == "GetChainInfo":
            h = self.ledger.heights.get(args[0], 1)
            return ledger_pb2.BlockchainInfo(height=h).SerializeToString(), []
        if fn == "kv:get":
            return self.ledger.state.get((info.channel, args[0]), b""), []
        if fn == "kv:put":
            return b'{"status":"created"}', [(args[0], args[1])]
        if fn == "kv:denied":  # a peer-side refusal (ACL), not a chaincode error
            detail = gateway_pb2.ErrorDetail(
                address="127.0.0.1:7081", msp_id="ZoneAMSP", message="access denied: creator org"
            )
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                "access denied",
                trailing_metadata=(
                    ("grpc-status-details-bin", rpc_status_bytes(9, "denied", [detail])),
                ),
            )
        detail = gateway_pb2.ErrorDetail(
            address="127.0.0.1:7081",
            msp_id="ZoneAMSP",
            message="chaincode response 500, InvalidInput: payload must be an object",
        )
        # as the peer's Gateway does: Evaluate -> UNKNOWN, Endorse -> ABORTED, with details
        await context.abort(
            grpc.StatusCode.UNKNOWN if evaluate else grpc.StatusCode.ABORTED,
            "failed to endorse transaction, see attached details for more info",
            trailing_metadata=(
                ("grpc-status-details-bin", rpc_status_bytes(10, "failed", [detail])),
            ),
        )

    async def Evaluate(self, request, context):  # type: ignore[no-untyped-def]
        self.ledger.calls.append("Evaluate")
        info = await self._check_proposal(request.proposed_transaction, context)
        payload, _ = await self._run(info, context, evaluate=True)
        return gateway_pb2.EvaluateResponse(
            result=proposal_response_pb2.Response(status=200, payload=payload)
        )

    async def Endorse(self, request, context):  # type: ignore[no-untyped-def]
        self.ledger.calls.append("Endorse")
        info = await self._check_proposal(request.proposed_transaction, context)
        payload, writes = await self._run(info, context)
        self.ledger.pending[info.tx_id] = (info.channel, 0, writes)
        action = proposal_pb2.ChaincodeAction(
            response=proposal_response_pb2.Response(status=200, payload=payload)
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
        ch = common_pb2.ChannelHeader(
            type=common_pb2.ENDORSER_TRANSACTION, channel_id=info.channel, tx_id=info.tx_id
        )
        sh = common_pb2.SignatureHeader(creator=info.creator, nonce=info.nonce)
        payload_msg = common_pb2.Payload(
            header=common_pb2.Header(
                channel_header=ch.SerializeToString(), signature_header=sh.SerializeToString()
            ),
            data=tx.SerializeToString(),
        )
        return gateway_pb2.EndorseResponse(
            prepared_transaction=common_pb2.Envelope(payload=payload_msg.SerializeToString())
        )

    async def Submit(self, request, context):  # type: ignore[no-untyped-def]
        self.ledger.calls.append("Submit")
        if self.ledger.unavailable_before_submit > 0:
            self.ledger.unavailable_before_submit -= 1
            await context.abort(grpc.StatusCode.UNAVAILABLE, "orderer not reachable")
        env = request.prepared_transaction
        payload = common_pb2.Payload()
        payload.ParseFromString(env.payload)
        sh = common_pb2.SignatureHeader()
        sh.ParseFromString(payload.header.signature_header)
        try:
            verify(sh.creator, env.payload, env.signature)
        except Exception as exc:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"bad envelope signature: {exc}")
        channel, _, writes = self.ledger.pending.pop(request.transaction_id)
        block = self.ledger.heights.get(channel, 1)
        self.ledger.heights[channel] = block + 1
        for k, v in writes:
            self.ledger.state[(channel, k)] = v.encode()
            self.ledger.events.append(
                (channel, block, request.transaction_id, "record.created", k.encode())
            )
        self.ledger.committed[request.transaction_id] = (transaction_pb2.VALID, block)
        return gateway_pb2.SubmitResponse()

    async def CommitStatus(self, request, context):  # type: ignore[no-untyped-def]
        self.ledger.calls.append("CommitStatus")
        req = gateway_pb2.CommitStatusRequest()
        req.ParseFromString(request.request)
        try:
            verify(req.identity, request.request, request.signature)
        except Exception as exc:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"bad signature: {exc}")
        code, block = self.ledger.committed[req.transaction_id]
        return gateway_pb2.CommitStatusResponse(result=code, block_number=block)

    async def ChaincodeEvents(self, request, context):  # type: ignore[no-untyped-def]
        req = gateway_pb2.ChaincodeEventsRequest()
        req.ParseFromString(request.request)
        verify(req.identity, request.request, request.signature)
        start = (
            req.start_position.specified.number if req.start_position.HasField("specified") else 0
        )
        for channel, block, tx_id, name, payload in self.ledger.events:
            if channel == req.channel_id and block >= start:
                yield gateway_pb2.ChaincodeEventsResponse(
                    block_number=block,
                    events=[
                        chaincode_event_pb2.ChaincodeEvent(
                            chaincode_id=req.chaincode_id,
                            tx_id=tx_id,
                            event_name=name,
                            payload=payload,
                        )
                    ],
                )


async def start_fake_gateway(
    ledger: FakeLedgerState, tls: TlsMaterial | None = None
) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server()
    gateway_pb2_grpc.add_GatewayServicer_to_server(FakeGateway(ledger), server)
    if tls is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        creds = grpc.ssl_server_credentials([(tls.server_key_pem, tls.server_cert_pem)])
        port = server.add_secure_port("127.0.0.1:0", creds)
    await server.start()
    return server, f"127.0.0.1:{port}"
