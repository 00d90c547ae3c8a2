"""The CouchDB selector subset of the embedded world state."""

from __future__ import annotations

import pytest

from services.ledger.embedded.selector import UnsupportedQuery, matches, sort_key

DOC = {"kind": "uplink", "created_at": "2026-01-01T00:00:02Z", "payload": {"f_cnt": 5, "gw": ["a"]}}

CASES = [
    ({"kind": "uplink"}, True),
    ({"kind": "join"}, False),
    ({"payload.f_cnt": 5}, True),
    ({"payload": {"f_cnt": 5}}, True),
    ({"payload.f_cnt": "5"}, False),  # types must match
    ({"payload.f_cnt": {"$gt": 4, "$lte": 5}}, True),
    ({"payload.f_cnt": {"$lt": 5}}, False),
    ({"created_at": {"$gte": "2026-01-01T00:00:02", "$lt": "2026-01-01T00:00:03"}}, True),
    ({"payload.f_cnt": {"$in": [1, 5]}}, True),
    ({"payload.f_cnt": {"$nin": [1, 5]}}, False),
    ({"missing": {"$exists": False}}, True),
    ({"payload.f_cnt": {"$exists": True}}, True),
    ({"kind": {"$ne": "join"}}, True),
    ({"$or": [{"kind": "join"}, {"payload.f_cnt": 5}]}, True),
    ({"$and": [{"kind": "uplink"}, {"payload.f_cnt": 6}]}, False),
    ({"$nor": [{"kind": "join"}]}, True),
    ({"kind": {"$not": {"$eq": "uplink"}}}, False),
    ({"payload.f_cnt": {"$gt": "a"}}, False),
]


@pytest.mark.parametrize(("selector", "expected"), CASES)
def test_matches(selector: dict[str, object], expected: bool) -> None:
    assert matches(DOC, selector) is expected


@pytest.mark.parametrize(
    "selector",
    [{"kind": {"$regex": "u.*"}}, {"$text": "x"}, {"$or": {"kind": "x"}}],
)
def test_unsupported_operators_raise(selector: dict[str, object]) -> None:
    with pytest.raises(UnsupportedQuery):
        matches(DOC, selector)


def test_sort() -> None:
    docs = [{"a": 2}, {"a": 1}, {}]
    key, reverse = sort_key([{"a": "desc"}])
    assert sorted(docs, key=key, reverse=reverse) == [{"a": 2}, {"a": 1}, {}]
    with pytest.raises(UnsupportedQuery):
        sort_key(["a", {"b": "desc"}])
