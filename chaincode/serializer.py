"""The contracts' transaction serializer: the shim's JSONSerializer with a fast path for the
schema checks that cannot fail.

The shim validates every argument and return value with a jsonschema validator
(``{"properties": {name: schema}}`` over ``{name: value}``): about 30 us per argument, most of
the chaincode's cost per transaction. Every HyperLoRa contract function takes and returns
plain strings/integers whose schema is a bare ``{"type": ...}``; for those the check is
decided here by the value's Python type, with JSON-schema semantics (``integer`` accepts
``int`` but not ``bool``, ``number`` accepts ``int``/``float`` but not ``bool``). Any other
schema, or a value of another type, goes to the shim's validator unchanged, so what is
accepted and refused is the same.
"""

from __future__ import annotations

from typing import Any

from fabric_chaincode_python.fabric_contract_api.serializer.json_transaction_serializer import (
    JSONSerializer,
)

_TYPE_OK: dict[str, Any] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
}


def simple_type(compiled_schema: Any, prop_name: str) -> str | None:
    """The JSON type of a compiled ``{"properties": {prop_name: {"type": T}}}`` schema whose
    only constraint is that type; None for anything else."""
    root = getattr(compiled_schema, "schema", None)
    if not isinstance(root, dict) or set(root) - {"components", "properties"}:
        return None
    props = root.get("properties")
    if not isinstance(props, dict) or set(props) != {prop_name}:
        return None
    schema = props[prop_name]
    if not isinstance(schema, dict) or set(schema) != {"type"}:
        return None
    kind = schema["type"]
    return kind if isinstance(kind, str) and kind in _TYPE_OK else None


class ContractSerializer(JSONSerializer):
    """JSONSerializer whose trivially-decidable schema checks skip jsonschema."""

    def __init__(self) -> None:
        super().__init__()
        self._simple: dict[tuple[int, str], str | None] = {}
        self._keep: list[Any] = []  # keeps the cached schemas alive (their ids stay unique)

    def _validate_against_schema(
        self, prop_name: str, typ: Any, string_value: str, obj: Any, compiled_schema: Any
    ) -> Exception | None:
        key = (id(compiled_schema), prop_name)
        if key not in self._simple:
            self._simple[key] = simple_type(compiled_schema, prop_name)
            self._keep.append(compiled_schema)
        kind = self._simple[key]
        if kind is not None and _TYPE_OK[kind](obj):
            return None
        return super()._validate_against_schema(  # type: ignore[no-any-return]
            prop_name, typ, string_value, obj, compiled_schema
        )
