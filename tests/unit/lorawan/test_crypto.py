"""AES-CMAC (RFC 4493), AES blocks, B0/B1/A-block MICs and FRMPayload/FOpts encryption."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from services.lorawan import crypto
from services.lorawan.errors import InvalidKey, InvalidParameter
from services.lorawan.types import AES128Key, DevAddr

VECTORS = Path(__file__).parents[2] / "vectors"
RFC = json.loads((VECTORS / "cmac_rfc4493.json").read_text())


@pytest.mark.parametrize("case", RFC["cases"], ids=lambda c: c["name"])
def test_aes_cmac_rfc4493(case: dict[str, str]) -> None:
    key = bytes.fromhex(RFC["key"])
    assert crypto.aes_cmac(key, bytes.fromhex(case["message"])).hex() == case["cmac"]
    # the AES128Key form gives the same answer, and the cached CMAC is not consumed
    assert crypto.aes_cmac(AES128Key(key), bytes.fromhex(case["message"])).hex() == case["cmac"]


def test_aes_block_rfc4493() -> None:
    key = bytes.fromhex(RFC["key"])
    assert crypto.aes128_encrypt_block(key, bytes(16)).hex() == RFC["aes_128_of_zero"]
    assert crypto.aes128_decrypt(key, bytes.fromhex(RFC["aes_128_of_zero"])) == bytes(16)


def test_compute_mic_is_cmac_prefix() -> None:
    key = bytes.fromhex(RFC["key"])
    msg = bytes.fromhex(RFC["cases"][1]["message"])
    assert crypto.compute_mic(key, msg).hex() == RFC["cases"][1]["cmac"][:8]


@pytest.mark.parametrize("bad", [b"", bytes(15), bytes(17), "00" * 16])
def test_bad_keys_raise_invalid_key(bad: object) -> None:
    with pytest.raises(InvalidKey):
        crypto.aes_cmac(bad, b"x")  # type: ignore[arg-type]


def test_ecb_length_checked() -> None:
    with pytest.raises(InvalidParameter):
        crypto.aes128_encrypt(bytes(16), bytes(15))
    with pytest.raises(InvalidParameter):
        crypto.aes128_encrypt_block(bytes(16), bytes(32))


def _ecb(key: bytes, block: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def test_frm_payload_lora_packet_vector() -> None:
    # anthonykirby/lora-packet __tests__/decrypt_test.ts: "40F17DBE4900020001954378762B11FF0D"
    data = bytes.fromhex("95437876")
    key = bytes.fromhex("ec925802ae430ca77fd3dd73cb2cc588")
    out = crypto.encrypt_frm_payload(key, DevAddr.from_hex("49BE7DF1"), 2, True, data)
    assert out == b"test"


def test_frm_payload_a_blocks_layout() -> None:
    key = bytes(range(16))
    dev_addr = DevAddr.from_hex("01020304")
    data = bytes(40)  # zero plaintext: the output is the key stream itself
    out = crypto.encrypt_frm_payload(key, dev_addr, 0x01020304, False, data)
    expected = b""
    for i in (1, 2, 3):
        a = bytes([1, 0, 0, 0, 0, 1, 4, 3, 2, 1, 4, 3, 2, 1, 0, i])
        expected += _ecb(key, a)
    assert out == expected[:40]
    assert crypto.encrypt_frm_payload(key, dev_addr, 1, True, b"") == b""


@settings(max_examples=200)
@given(
    data=st.binary(max_size=242),
    f_cnt=st.integers(0, 0xFFFFFFFF),
    uplink=st.booleans(),
    addr=st.integers(0, 0xFFFFFFFF),
)
def test_frm_payload_involution(data: bytes, f_cnt: int, uplink: bool, addr: int) -> None:
    key = bytes(range(16, 32))
    dev_addr = DevAddr.from_int(addr)
    enc = crypto.encrypt_frm_payload(key, dev_addr, f_cnt, uplink, data)
    assert len(enc) == len(data)
    assert crypto.encrypt_frm_payload(key, dev_addr, f_cnt, uplink, enc) == data


@pytest.mark.parametrize(
    ("uplink", "a_f_cnt_down", "byte4", "dir_byte"),
    [(True, False, 1, 0), (True, True, 1, 0), (False, False, 1, 1), (False, True, 2, 1)],
)
def test_f_opts_a_block(uplink: bool, a_f_cnt_down: bool, byte4: int, dir_byte: int) -> None:
    key = bytes(range(16))
    dev_addr = DevAddr.from_hex("01020304")
    out = crypto.encrypt_f_opts(key, dev_addr, 7, uplink, bytes(15), a_f_cnt_down)
    a = bytes([1, 0, 0, 0, byte4, dir_byte, 4, 3, 2, 1, 7, 0, 0, 0, 0, 1])
    assert out == _ecb(key, a)[:15]


def test_f_opts_chirpstack_vector() -> None:
    # chirpstack lrwn phy_payload.rs doc example (also lora-packet fopts_test.ts): LinkCheckAns
    # 02 07 01 on a 1.1 downlink with FPort 1 (AFCntDown) encrypts to 22 ac 0a.
    key = AES128Key.from_hex("01010101010101010101010101010200")
    out = crypto.encrypt_f_opts(key, DevAddr.from_hex("01020304"), 0, False, b"\x02\x07\x01", True)
    assert out.hex() == "22ac0a"


def test_f_opts_too_long() -> None:
    with pytest.raises(InvalidParameter):
        crypto.encrypt_f_opts(bytes(16), DevAddr.from_int(1), 0, True, bytes(16))


def test_uplink_mic_lora_packet_vector() -> None:
    # lora-packet __tests__/mic_test.ts: 40F17DBE4900020001954378762B11FF0D, MIC 2b11ff0d
    frame = bytes.fromhex("40F17DBE4900020001954378762B11FF0D")
    key = bytes.fromhex("44024241ed4ce9a68c6a8bc055233fd3")
    mic = crypto.compute_uplink_data_mic(frame[:-4], DevAddr.from_hex("49BE7DF1"), 2, key)
    assert mic == frame[-4:]


def test_uplink_mic_11_layout() -> None:
    fkey, skey = bytes(range(16)), bytes(range(1, 17))
    dev_addr = DevAddr.from_hex("01020304")
    msg = bytes(20)
    mic = crypto.compute_uplink_data_mic(
        msg,
        dev_addr,
        5,
        fkey,
        lorawan_11=True,
        s_nwk_s_int_key=skey,
        conf_f_cnt=0x1234,
        tx_dr=3,
        tx_ch=2,
    )
    b0 = bytes([0x49, 0, 0, 0, 0, 0, 4, 3, 2, 1, 5, 0, 0, 0, 0, 20])
    b1 = bytes([0x49, 0x34, 0x12, 3, 2, 0, 4, 3, 2, 1, 5, 0, 0, 0, 0, 20])
    assert mic == crypto.aes_cmac(skey, b1 + msg)[:2] + crypto.aes_cmac(fkey, b0 + msg)[:2]


def test_downlink_mic_layout() -> None:
    key = bytes(range(16))
    dev_addr = DevAddr.from_hex("01020304")
    msg = bytes(13)
    mic = crypto.compute_downlink_data_mic(msg, dev_addr, 0x10009, key, conf_f_cnt=0xABCD)
    b0 = bytes([0x49, 0xCD, 0xAB, 0, 0, 1, 4, 3, 2, 1, 9, 0, 1, 0, 0, 13])
    assert mic == crypto.aes_cmac(key, b0 + msg)[:4]
