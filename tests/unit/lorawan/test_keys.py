"""Session keys (1.0.x and 1.1) and the 1.1 join-server keys, against published vectors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from services.lorawan.errors import InvalidParameter
from services.lorawan.keys import (
    derive_js_enc_key,
    derive_js_int_key,
    derive_session_keys_10,
    derive_session_keys_11,
)
from services.lorawan.types import EUI64, AES128Key, NetID

CASES = json.loads(
    (Path(__file__).parents[2] / "vectors" / "lorawan_session_keys.json").read_text()
)["cases"]


def _int(h: str) -> int:
    return int(h, 16)


@pytest.mark.parametrize("case", [c for c in CASES if c["version"] == "1.0"])
def test_session_keys_10(case: dict[str, str]) -> None:
    keys = derive_session_keys_10(
        AES128Key.from_hex(case["nwk_key"]),
        _int(case["join_nonce"]),
        NetID.from_hex(case["net_id"]),
        _int(case["dev_nonce"]),
    )
    assert str(keys.nwk_s_key).lower() == case["nwk_s_key"]
    assert keys.f_nwk_s_int_key == keys.s_nwk_s_int_key == keys.nwk_s_enc_key
    assert str(keys.app_s_key).lower() == case["app_s_key"]


@pytest.mark.parametrize("case", [c for c in CASES if c["version"] == "1.1"])
def test_session_keys_11(case: dict[str, str]) -> None:
    keys = derive_session_keys_11(
        AES128Key.from_hex(case["nwk_key"]),
        AES128Key.from_hex(case["app_key"]),
        _int(case["join_nonce"]),
        EUI64.from_hex(case["join_eui"]),
        _int(case["dev_nonce"]),
    )
    for name in ("app_s_key", "f_nwk_s_int_key", "s_nwk_s_int_key", "nwk_s_enc_key"):
        assert str(getattr(keys, name)).lower() == case[name], name
    assert set(keys.to_dict()) == {
        "app_s_key",
        "f_nwk_s_int_key",
        "s_nwk_s_int_key",
        "nwk_s_enc_key",
    }


def _aes(key: bytes, block: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


@pytest.mark.parametrize(("fn", "typ"), [(derive_js_int_key, 0x06), (derive_js_enc_key, 0x05)])
def test_js_keys(fn: object, typ: int) -> None:
    nwk_key = AES128Key.from_hex("01020304050607080102030405060708")
    dev_eui = EUI64.from_hex("0102030405060708")
    block = bytes([typ, 8, 7, 6, 5, 4, 3, 2, 1]) + bytes(7)
    assert fn(nwk_key, dev_eui).value == _aes(nwk_key.value, block)  # type: ignore[operator]


def test_js_keys_differ() -> None:
    nwk_key = AES128Key.from_hex("00" * 16)
    dev_eui = EUI64.from_hex("0000000000000001")
    assert derive_js_int_key(nwk_key, dev_eui) != derive_js_enc_key(nwk_key, dev_eui)


@pytest.mark.parametrize(
    ("join_nonce", "dev_nonce"), [(-1, 0), (1 << 24, 0), (0, 1 << 16), (0, -1)]
)
def test_out_of_range_nonces(join_nonce: int, dev_nonce: int) -> None:
    with pytest.raises(InvalidParameter):
        derive_session_keys_10(AES128Key(bytes(16)), join_nonce, NetID(bytes(3)), dev_nonce)


JS_CASES = json.loads(
    (Path(__file__).parents[2] / "vectors" / "lorawan_session_keys.json").read_text()
)["js_keys"]


@pytest.mark.parametrize("case", JS_CASES)
def test_js_keys_published(case: dict[str, str]) -> None:
    nwk_key = AES128Key.from_hex(case["nwk_key"])
    dev_eui = EUI64.from_hex(case["dev_eui"])
    assert str(derive_js_int_key(nwk_key, dev_eui)).lower() == case["js_int_key"]
    assert str(derive_js_enc_key(nwk_key, dev_eui)).lower() == case["js_enc_key"]
