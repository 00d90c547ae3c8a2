"""ContractSerializer: same accept/refuse decisions as the shim's JSONSerializer, without
jsonschema for bare ``{"type": ...}`` schemas."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from fabric_chaincode_python.fabric_contract_api.serializer.json_transaction_serializer import (
    JSONSerializer,
)

from chaincode.contracts import new_chaincode
from chaincode.serializer import ContractSerializer, simple_type


def compiled(schema: dict[str, Any], name: str = "p") -> Any:
    return jsonschema.Draft202012Validator({"components": {}, "properties": {name: schema}})


SCHEMAS = [
    {"type": "string"},
    {"type": "integer"},
    {"type": "number"},
    {"type": "boolean"},
    {"type": "string", "maxLength": 3},  # not bare: goes to jsonschema
    {"type": "array", "items": {"type": "string"}},
]
VALUES = ["abc", "abcdef", "", 0, 7, -1, 1.5, True, False, None, ["x"], {"a": 1}]


@pytest.mark.parametrize("schema", SCHEMAS)
@pytest.mark.parametrize("value", VALUES)
def test_same_decision_as_the_shim(schema: dict[str, Any], value: Any) -> None:
    c = compiled(schema)
    fast = ContractSerializer()._validate_against_schema("p", type(value), "", value, c)
    slow = JSONSerializer()._validate_against_schema("p", type(value), "", value, c)
    assert (fast is None) == (slow is None)


@pytest.mark.parametrize(
    ("schema", "name", "expected"),
    [
        ({"type": "string"}, "p", "string"),
        ({"type": "integer"}, "p", "integer"),
        ({"type": "string"}, "other", None),
        ({"type": "string", "format": "date-time"}, "p", None),
        ({"type": ["string", "null"]}, "p", None),
        ({"$ref": "#/components/schemas/X"}, "p", None),
    ],
)
def test_simple_type(schema: dict[str, Any], name: str, expected: str | None) -> None:
    assert simple_type(compiled(schema), name) == expected


def test_the_chaincode_uses_it_and_every_create_argument_takes_the_fast_path() -> None:
    cc = new_chaincode()
    assert isinstance(cc.TransactionSerializer, ContractSerializer)
    creates = 0
    for name, contract in cc._metadata.contracts.items():
        if name.startswith("org.hyperledger"):
            continue
        for tx in contract.transactions:
            if tx.name == "create":
                assert all(simple_type(p.compiled_schema, p.name) for p in tx.parameters)
                creates += 1
    assert creates == 3  # device, network, application
