"""A subset of CouchDB's Mango selectors, evaluated over JSON documents (pure).

Supported: implicit equality (``{"a": 1}``), dotted field paths (``"payload.dev_eui"``),
``$eq $ne $gt $gte $lt $lte $in $nin $exists``, and ``$and $or $nor $not``. Comparisons
only match values of the same JSON type (numbers with numbers, strings with strings).
Anything else raises UnsupportedQuery rather than silently matching nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..errors import LedgerError


class UnsupportedQuery(LedgerError):
    pass


_MISSING = object()


def _field(doc: Any, path: str) -> Any:
    cur = doc
    for part in path.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return _MISSING
        cur = cur[part]
    return cur


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    return type(v).__name__


def _cmp(op: str, value: Any, arg: Any) -> bool:
    if value is _MISSING or _kind(value) != _kind(arg) or _kind(arg) not in ("number", "str"):
        return False
    if op == "$gt":
        return bool(value > arg)
    if op == "$gte":
        return bool(value >= arg)
    if op == "$lt":
        return bool(value < arg)
    return bool(value <= arg)


def _eq(value: Any, arg: Any) -> bool:
    return value is not _MISSING and _kind(value) == _kind(arg) and bool(value == arg)


def _op(op: str, value: Any, arg: Any) -> bool:
    if op == "$eq":
        return _eq(value, arg)
    if op == "$ne":
        return not _eq(value, arg)
    if op in ("$gt", "$gte", "$lt", "$lte"):
        return _cmp(op, value, arg)
    if op in ("$in", "$nin"):
        if not isinstance(arg, list):
            raise UnsupportedQuery(f"{op} needs a list")
        found = any(_eq(value, a) for a in arg)
        return found if op == "$in" else not found
    if op == "$exists":
        return (value is not _MISSING) == bool(arg)
    if op == "$not":
        return not _condition(value, arg)
    raise UnsupportedQuery(f"operator {op} is not supported by the embedded ledger")


def _condition(value: Any, cond: Any) -> bool:
    if isinstance(cond, Mapping) and cond and all(str(k).startswith("$") for k in cond):
        return all(_op(op, value, arg) for op, arg in cond.items())
    if isinstance(cond, Mapping):
        # a nested object of field conditions: {"payload": {"dev_eui": "..."}}
        return isinstance(value, Mapping) and matches(value, cond)
    return _eq(value, cond)


def matches(doc: Any, selector: Mapping[str, Any]) -> bool:
    """Whether ``doc`` satisfies ``selector``."""
    for key, cond in selector.items():
        if key == "$and":
            if not isinstance(cond, list):
                raise UnsupportedQuery("$and needs a list")
            if not all(matches(doc, c) for c in cond):
                return False
        elif key == "$or":
            if not isinstance(cond, list):
                raise UnsupportedQuery("$or needs a list")
            if not any(matches(doc, c) for c in cond):
                return False
        elif key == "$nor":
            if not isinstance(cond, list):
                raise UnsupportedQuery("$nor needs a list")
            if any(matches(doc, c) for c in cond):
                return False
        elif key == "$not":
            if matches(doc, cond):
                return False
        elif key.startswith("$"):
            raise UnsupportedQuery(f"operator {key} is not supported at the top level")
        elif not _condition(_field(doc, key), cond):
            return False
    return True


def sort_key(fields: list[Any]) -> tuple[Callable[[Any], tuple[Any, ...]], bool]:
    """Key function for a CouchDB ``sort`` list (``["a", {"b": "desc"}]``, one direction)."""
    specs: list[tuple[str, bool]] = []
    for f in fields:
        if isinstance(f, str):
            specs.append((f, False))
        elif isinstance(f, Mapping) and len(f) == 1:
            ((name, direction),) = f.items()
            specs.append((name, direction == "desc"))
        else:
            raise UnsupportedQuery(f"bad sort field {f!r}")
    if len({d for _, d in specs}) > 1:
        raise UnsupportedQuery("mixed sort directions are not supported")

    def key(doc: Any) -> tuple[Any, ...]:
        out = []
        for name, _ in specs:
            v = _field(doc, name)
            out.append((0, "", 0) if v is _MISSING else (1, _kind(v), v))
        return tuple(out)

    return key, bool(specs and specs[0][1])
