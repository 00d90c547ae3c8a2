"""Session-key derivation (OTAA) agrees with lora-packet: 1.0.x, 1.1 and the 1.1 JS keys."""

from __future__ import annotations

import pytest
from hypothesis import given

from services.lorawan.keys import (
    derive_js_enc_key,
    derive_js_int_key,
    derive_session_keys_10,
    derive_session_keys_11,
)
from services.lorawan.types import EUI64, AES128Key, NetID
from tests.interop.lorapacket import LoraPacket
from tests.interop.strategies import INTEROP, dev_nonces, euis, join_nonces, keys, net_ids

pytestmark = pytest.mark.interop

# Table: edge values of the nonces and identifiers (byte-order mistakes show up here first).
EDGES = [
    ("00" * 16, 0, "000000", 0),
    ("ff" * 16, 0xFFFFFF, "ffffff", 0xFFFF),
    ("2b7e151628aed2a6abf7158809cf4f3c", 0x010203, "000013", 0x0102),
    ("000102030405060708090a0b0c0d0e0f", 0xABCDEF, "c00013", 0xBEEF),
]


def _check_10(lp: LoraPacket, key: bytes, join_nonce: int, net_id: bytes, dev_nonce: int) -> None:
    ours = derive_session_keys_10(AES128Key(key), join_nonce, NetID(net_id), dev_nonce)
    theirs = lp.session_keys_10(key, join_nonce, net_id, dev_nonce)
    assert ours.nwk_s_key.value == theirs["nwk_s_key"]
    assert ours.app_s_key.value == theirs["app_s_key"]
    # 1.0.x: the three 1.1 network keys are all the NwkSKey
    assert ours.f_nwk_s_int_key == ours.s_nwk_s_int_key == ours.nwk_s_enc_key


@pytest.mark.parametrize(("key", "join_nonce", "net_id", "dev_nonce"), EDGES)
def test_session_keys_10_table(
    lora_packet: LoraPacket, key: str, join_nonce: int, net_id: str, dev_nonce: int
) -> None:
    _check_10(lora_packet, bytes.fromhex(key), join_nonce, bytes.fromhex(net_id), dev_nonce)


@INTEROP
@given(key=keys, join_nonce=join_nonces, net_id=net_ids, dev_nonce=dev_nonces)
def test_session_keys_10(
    lora_packet: LoraPacket, key: bytes, join_nonce: int, net_id: bytes, dev_nonce: int
) -> None:
    _check_10(lora_packet, key, join_nonce, net_id, dev_nonce)


def _check_11(
    lp: LoraPacket, app_key: bytes, nwk_key: bytes, join_nonce: int, join_eui: bytes, dev_nonce: int
) -> None:
    ours = derive_session_keys_11(
        AES128Key(nwk_key), AES128Key(app_key), join_nonce, EUI64(join_eui), dev_nonce
    )
    theirs = lp.session_keys_11(app_key, nwk_key, join_nonce, join_eui, dev_nonce)
    assert ours.f_nwk_s_int_key.value == theirs["f_nwk_s_int_key"]
    assert ours.s_nwk_s_int_key.value == theirs["s_nwk_s_int_key"]
    assert ours.nwk_s_enc_key.value == theirs["nwk_s_enc_key"]
    assert ours.app_s_key.value == theirs["app_s_key"]


@pytest.mark.parametrize(("key", "join_nonce", "net_id", "dev_nonce"), EDGES)
def test_session_keys_11_table(
    lora_packet: LoraPacket, key: str, join_nonce: int, net_id: str, dev_nonce: int
) -> None:
    nwk_key = bytes.fromhex(key)
    app_key = bytes(reversed(nwk_key))
    join_eui = bytes.fromhex(net_id * 2 + "a1b2")
    _check_11(lora_packet, app_key, nwk_key, join_nonce, join_eui, dev_nonce)


@INTEROP
@given(app_key=keys, nwk_key=keys, join_nonce=join_nonces, join_eui=euis, dev_nonce=dev_nonces)
def test_session_keys_11(
    lora_packet: LoraPacket,
    app_key: bytes,
    nwk_key: bytes,
    join_nonce: int,
    join_eui: bytes,
    dev_nonce: int,
) -> None:
    _check_11(lora_packet, app_key, nwk_key, join_nonce, join_eui, dev_nonce)


@INTEROP
@given(nwk_key=keys, dev_eui=euis)
def test_js_keys(lora_packet: LoraPacket, nwk_key: bytes, dev_eui: bytes) -> None:
    theirs = lora_packet.js_keys(nwk_key, dev_eui)
    assert derive_js_int_key(AES128Key(nwk_key), EUI64(dev_eui)).value == theirs["js_int_key"]
    assert derive_js_enc_key(AES128Key(nwk_key), EUI64(dev_eui)).value == theirs["js_enc_key"]
