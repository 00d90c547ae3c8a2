from __future__ import annotations

import pytest
from fabric_protos.gateway import gateway_pb2

from services.ledger.fabric.status_details import (
    STATUS_DETAILS_KEY,
    chaincode_message,
    error_details,
)
from tests.unit.ledger_fabric.support import rpc_status_bytes


def test_error_details_from_trailer() -> None:
    details = [
        gateway_pb2.ErrorDetail(address="127.0.0.1:7081", msp_id="ZoneAMSP", message="boom"),
        gateway_pb2.ErrorDetail(address="127.0.0.1:7181", msp_id="ZoneBMSP", message="bang"),
    ]
    trailer = [("other", "x"), (STATUS_DETAILS_KEY, rpc_status_bytes(10, "aborted", details))]
    found = error_details(trailer)
    assert [(d.address, d.msp_id, d.message) for d in found] == [
        ("127.0.0.1:7081", "ZoneAMSP", "boom"),
        ("127.0.0.1:7181", "ZoneBMSP", "bang"),
    ]


@pytest.mark.parametrize("trailer", [None, [], [(STATUS_DETAILS_KEY, b"\xff")], [("k", b"v")]])
def test_error_details_absent_or_garbage(trailer) -> None:  # type: ignore[no-untyped-def]
    assert error_details(trailer) == []


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("chaincode response 500, InvalidInput: bad", "InvalidInput: bad"),
        ("rpc error: chaincode response 500, NotFound: k", "NotFound: k"),
        ("no marker here", "no marker here"),
        ("chaincode response 500", "chaincode response 500"),
    ],
)
def test_chaincode_message(message: str, expected: str) -> None:
    assert chaincode_message(message) == expected
