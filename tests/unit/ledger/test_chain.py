"""Hash chain of the embedded ledger (pure)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ledger.embedded import chain


def build(n_blocks: int, txs_per_block: int = 2) -> list[chain.StoredBlock]:
    blocks = []
    prev = chain.GENESIS_PREVIOUS_HASH
    for number in range(n_blocks):
        txs = [(f'{{"tx":"{number}-{i}"}}', "VALID") for i in range(txs_per_block)]
        header = chain.BlockHeader(
            number,
            prev,
            chain.data_hash([chain.tx_hash(b, c) for b, c in txs]),
            1000 + number,
            len(txs),
        )
        blocks.append(chain.StoredBlock(header, header.hash(), txs))
        prev = header.hash()
    return blocks


def test_intact_chain_verifies() -> None:
    assert chain.verify_blocks(build(5)) is None
    assert chain.verify_blocks([]) is None


@settings(max_examples=200)
@given(n=st.integers(2, 8), data=st.data())
def test_any_tampered_tx_is_found_at_its_block(n: int, data: st.DataObject) -> None:
    blocks = build(n)
    target = data.draw(st.integers(0, n - 1))
    what = data.draw(st.sampled_from(["body", "code"]))
    b = blocks[target]
    body, code = b.txs[0]
    tampered = (body + " ", code) if what == "body" else (body, "MVCC_READ_CONFLICT")
    blocks[target] = chain.StoredBlock(b.header, b.hash, [tampered, *b.txs[1:]])
    brk = chain.verify_blocks(blocks)
    assert brk is not None and brk.block_number == target
    assert "data_hash" in brk.reason


def test_rewritten_block_breaks_the_next_link() -> None:
    blocks = build(4)
    b = blocks[1]
    txs = [('{"tx":"forged"}', "VALID")]
    header = chain.BlockHeader(
        1, b.header.previous_hash, chain.data_hash([chain.tx_hash(*txs[0])]), 0, 1
    )
    blocks[1] = chain.StoredBlock(header, header.hash(), txs)  # self-consistent forgery
    brk = chain.verify_blocks(blocks)
    assert brk == chain.ChainBreak(2, "previous_hash does not match the previous block")


def test_missing_block_and_wrong_stored_hash() -> None:
    blocks = build(4)
    assert chain.verify_blocks([blocks[0], blocks[2]]) == chain.ChainBreak(
        1, "missing block (found 2 next)"
    )
    b = blocks[3]
    blocks[3] = chain.StoredBlock(b.header, "f" * 64, b.txs)
    assert chain.verify_blocks(blocks) == chain.ChainBreak(
        3, "block hash does not match the header"
    )


def _json_module(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


@pytest.mark.parametrize(
    "value",
    [
        {"b": 1, "a": [1, None, True, False, "x"], "c": {"z": -3, "x": 123456789012345678}},
        {"text": 'caf\u00e9 \U0001f600 "q" \\ \n\t', "k\u00fc": "\u00fc"},
        {"controls": "\x00\x1f\x7f\x80\u2028"},
        {"big": 2**70, "neg": -(2**64)},  # beyond orjson: the json module writes it
        [],
        {},
        "plain",
    ],
)
def test_canonical_is_the_json_modules_text_for_values_without_floats(value: object) -> None:
    assert chain.canonical(value) == _json_module(value)


def test_canonical_with_floats_is_deterministic_ascii_json_that_reads_back() -> None:
    value = {"y": 1e-7, "x": [0.1, 2.5, -0.0, 1e16], "s": "\u00e9"}
    text = chain.canonical(value)
    assert text == chain.canonical(json.loads(text))
    assert text.isascii() and json.loads(text) == value
    assert text.startswith('{"s":"\\u00e9","x":[0.1,2.5,')


_JSON_NO_FLOATS = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_JSON_NO_FLOATS)
def test_canonical_matches_the_json_module_on_any_float_free_value(value: object) -> None:
    assert chain.canonical(value) == _json_module(value)
