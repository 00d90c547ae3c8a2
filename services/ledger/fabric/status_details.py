"""Decode the Gateway's error details (``gateway.ErrorDetail``) from a gRPC error.

The Gateway attaches a ``google.rpc.Status`` in the ``grpc-status-details-bin`` trailer whose
``details`` hold one ``ErrorDetail`` (peer address, MSP id, message) per failing endorser. The
``google.rpc`` protobufs are not a dependency here, so the three-field Status message is read
with a minimal wire-format decoder.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from fabric_protos.gateway import gateway_pb2
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError

STATUS_DETAILS_KEY = "grpc-status-details-bin"


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    address: str
    msp_id: str
    message: str


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, pos


def _status_detail_anys(status_bytes: bytes) -> list[bytes]:
    """The ``details`` (field 3) of a serialized google.rpc.Status."""
    out: list[bytes] = []
    pos = 0
    while pos < len(status_bytes):
        key, pos = _varint(status_bytes, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, pos = _varint(status_bytes, pos)
        elif wire == 2:
            length, pos = _varint(status_bytes, pos)
            if pos + length > len(status_bytes):
                raise ValueError("truncated field")
            if field == 3:
                out.append(status_bytes[pos : pos + length])
            pos += length
        elif wire == 5:
            pos += 4
        elif wire == 1:
            pos += 8
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return out


def error_details(trailing: Iterable[tuple[str, str | bytes]] | None) -> list[ErrorDetail]:
    """Every ``ErrorDetail`` found in a call's trailing metadata (empty when none)."""
    found: list[ErrorDetail] = []
    for key, value in trailing or ():
        if key != STATUS_DETAILS_KEY or not isinstance(value, bytes):
            continue
        try:
            anys = _status_detail_anys(value)
        except ValueError:
            continue
        for raw in anys:
            any_msg = any_pb2.Any()
            detail = gateway_pb2.ErrorDetail()
            try:
                any_msg.ParseFromString(raw)
                if not any_msg.type_url.endswith("gateway.ErrorDetail"):
                    continue
                detail.ParseFromString(any_msg.value)
            except DecodeError:
                continue
            found.append(ErrorDetail(detail.address, detail.msp_id, detail.message))
    return found


def chaincode_message(message: str) -> str:
    """Strip the peer's ``"chaincode response 500, "`` prefix from an endorsement error."""
    marker = "chaincode response "
    idx = message.find(marker)
    if idx >= 0:
        rest = message[idx + len(marker) :]
        _, sep, tail = rest.partition(", ")
        if sep:
            return tail
    return message
