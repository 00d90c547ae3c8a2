"""AES-128 primitives and the LoRaWAN MIC / encryption building blocks (1.0.x and 1.1).

Everything here works on plain ``bytes`` keys (16 bytes). Ciphers are cached per key in a small
LRU, so the hot path (MIC check plus FRMPayload decryption of one uplink) creates no cipher
objects: an ECB encryptor is stateless between ``update`` calls and a keyed CMAC is ``copy()``-ed.

Byte layouts follow the LoRaWAN 1.1 specification (section 4.4 and 4.3.3) and its errata:

* B0 (uplink)   ``0x49 | 4x00 | Dir=0 | DevAddr | FCntUp | 0x00 | len(msg)``
* B1 (1.1 up)   ``0x49 | ConfFCnt | TxDr | TxCh | Dir=0 | DevAddr | FCntUp | 0x00 | len(msg)``
* B0 (downlink) ``0x49 | ConfFCnt | 2x00 | Dir=1 | DevAddr | FCntDown | 0x00 | len(msg)``
* Ai (FRMPayload) ``0x01 | 4x00 | Dir | DevAddr | FCnt | 0x00 | i`` (i from 1)
* A (FOpts, 1.1 errata) ``0x01 | 3x00 | 0x01 (FCntUp/NFCntDown) or 0x02 (AFCntDown) | Dir |
  DevAddr | FCnt | 0x00 | 0x01``

All multi-byte integers and the DevAddr are little-endian, as on the air.
"""

from __future__ import annotations

import struct
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC

from .errors import InvalidKey, InvalidParameter
from .types import AES128Key, DevAddr

__all__ = [
    "KeyLike",
    "aes128_decrypt",
    "aes128_encrypt",
    "aes128_encrypt_block",
    "aes_cmac",
    "compute_downlink_data_mic",
    "compute_mic",
    "compute_uplink_data_mic",
    "encrypt_f_opts",
    "encrypt_frm_payload",
    "key_bytes",
]


KeyLike = AES128Key | bytes | bytearray


def key_bytes(key: KeyLike) -> bytes:
    """The 16 raw bytes of a key given as :class:`AES128Key` or bytes; InvalidKey otherwise."""
    if isinstance(key, AES128Key):
        return key.value
    if isinstance(key, bytes | bytearray) and len(key) == 16:
        return bytes(key)
    raise InvalidKey("AES-128 key: expected 16 bytes")


@lru_cache(maxsize=4096)
def _ciphers(key: bytes) -> tuple[Any, Any, CMAC]:
    """(ECB encryptor, ECB decryptor, keyed CMAC prototype) for one key."""
    if len(key) != 16:
        raise InvalidKey("AES-128 key: expected 16 bytes")
    algo = algorithms.AES(key)
    cipher = Cipher(algo, modes.ECB())
    return cipher.encryptor(), cipher.decryptor(), CMAC(algo)


def aes128_encrypt(key: KeyLike, data: bytes) -> bytes:
    """AES-128 ECB encryption of ``data`` (a multiple of 16 bytes)."""
    if len(data) % 16:
        raise InvalidParameter("AES-128 ECB: data must be a multiple of 16 bytes")
    out: bytes = _ciphers(key_bytes(key))[0].update(data)
    return out


def aes128_decrypt(key: KeyLike, data: bytes) -> bytes:
    """AES-128 ECB decryption of ``data`` (a multiple of 16 bytes)."""
    if len(data) % 16:
        raise InvalidParameter("AES-128 ECB: data must be a multiple of 16 bytes")
    out: bytes = _ciphers(key_bytes(key))[1].update(data)
    return out


def aes128_encrypt_block(key: KeyLike, block: bytes) -> bytes:
    """AES-128 encryption of exactly one 16-byte block."""
    if len(block) != 16:
        raise InvalidParameter("AES-128 block: expected 16 bytes")
    out: bytes = _ciphers(key_bytes(key))[0].update(block)
    return out


def aes_cmac(key: KeyLike, msg: bytes) -> bytes:
    """AES-CMAC (RFC 4493) of ``msg`` under ``key``: 16 bytes."""
    mac = _ciphers(key_bytes(key))[2].copy()
    mac.update(msg)
    return mac.finalize()


def compute_mic(key: KeyLike, msg: bytes) -> bytes:
    """The 4-byte LoRaWAN MIC: the first 4 bytes of AES-CMAC(key, msg)."""
    return aes_cmac(key, msg)[:4]


_BLOCK = struct.Struct("<5sB4sIBB")  # head, Dir, DevAddr (air order), FCnt, 0x00, last byte
_B0_UP_HEAD = b"\x49\x00\x00\x00\x00"
_A_HEAD = b"\x01\x00\x00\x00\x00"


def _b_block(first: bytes, direction: int, dev_addr: DevAddr, f_cnt: int, length: int) -> bytes:
    """``first`` (bytes 0..4) | Dir | DevAddr | FCnt | 0x00 | ``length`` (one byte)."""
    return _BLOCK.pack(first, direction, dev_addr.value[::-1], f_cnt & 0xFFFFFFFF, 0, length & 0xFF)


def compute_uplink_data_mic(
    msg: bytes,
    dev_addr: DevAddr,
    f_cnt: int,
    f_nwk_s_int_key: KeyLike,
    *,
    lorawan_11: bool = False,
    s_nwk_s_int_key: KeyLike | None = None,
    conf_f_cnt: int = 0,
    tx_dr: int = 0,
    tx_ch: int = 0,
) -> bytes:
    """MIC of an uplink data frame; ``msg`` = MHDR | FHDR | FPort | FRMPayload.

    1.0.x: ``cmac(NwkSKey, B0 | msg)[0:4]`` (pass the NwkSKey as ``f_nwk_s_int_key``).
    1.1: ``cmac(SNwkSIntKey, B1 | msg)[0:2] | cmac(FNwkSIntKey, B0 | msg)[0:2]``.
    """
    b0 = _b_block(_B0_UP_HEAD, 0, dev_addr, f_cnt, len(msg))
    cmac_f = aes_cmac(f_nwk_s_int_key, b0 + msg)
    if not lorawan_11:
        return cmac_f[:4]
    if s_nwk_s_int_key is None:
        s_nwk_s_int_key = f_nwk_s_int_key
    first = (
        b"\x49" + (conf_f_cnt & 0xFFFF).to_bytes(2, "little") + bytes((tx_dr & 0xFF, tx_ch & 0xFF))
    )
    b1 = _b_block(first, 0, dev_addr, f_cnt, len(msg))
    cmac_s = aes_cmac(s_nwk_s_int_key, b1 + msg)
    return cmac_s[:2] + cmac_f[:2]


def compute_downlink_data_mic(
    msg: bytes, dev_addr: DevAddr, f_cnt: int, s_nwk_s_int_key: KeyLike, conf_f_cnt: int = 0
) -> bytes:
    """MIC of a downlink data frame: ``cmac(SNwkSIntKey or NwkSKey, B0 | msg)[0:4]``.

    ``conf_f_cnt`` is 0 for LoRaWAN 1.0.x and for frames without the ACK bit.
    """
    first = b"\x49" + (conf_f_cnt & 0xFFFF).to_bytes(2, "little") + b"\x00\x00"
    b0 = _b_block(first, 1, dev_addr, f_cnt, len(msg))
    return aes_cmac(s_nwk_s_int_key, b0 + msg)[:4]


def encrypt_frm_payload(
    key: KeyLike, dev_addr: DevAddr, f_cnt: int, uplink: bool, data: bytes
) -> bytes:
    """Encrypt (or, the same operation, decrypt) a FRMPayload with the A-block key stream."""
    n = len(data)
    if n == 0:
        return b""
    prefix = _BLOCK.pack(
        _A_HEAD, 0 if uplink else 1, dev_addr.value[::-1], f_cnt & 0xFFFFFFFF, 0, 0
    )[:15]
    blocks = (n + 15) >> 4
    if blocks == 1:
        a = prefix + b"\x01"
    elif blocks == 2:
        a = prefix + b"\x01" + prefix + b"\x02"
    else:
        buf = bytearray(prefix + b"\x00") * blocks
        for i in range(blocks):
            buf[16 * i + 15] = (i + 1) & 0xFF
        a = bytes(buf)
    stream: bytes = _ciphers(key_bytes(key))[0].update(a)
    x = int.from_bytes(data, "big") ^ int.from_bytes(stream[:n], "big")
    return x.to_bytes(n, "big")


def encrypt_f_opts(
    nwk_s_enc_key: KeyLike,
    dev_addr: DevAddr,
    f_cnt: int,
    uplink: bool,
    data: bytes,
    a_f_cnt_down: bool = False,
) -> bytes:
    """Encrypt (or decrypt) LoRaWAN 1.1 FOpts with NwkSEncKey (1.1 errata A block).

    Uplinks use FCntUp; downlinks use NFCntDown (``a_f_cnt_down=False``, FPort absent or 0) or
    AFCntDown (``a_f_cnt_down=True``, FPort > 0), which sets byte 4 of A to 0x02 instead of 0x01.
    """
    n = len(data)
    if n > 15:
        raise InvalidParameter("FOpts: at most 15 bytes")
    if n == 0:
        return b""
    a = (
        b"\x01\x00\x00\x00"
        + (b"\x02" if a_f_cnt_down and not uplink else b"\x01")
        + (b"\x00" if uplink else b"\x01")
        + dev_addr.value[::-1]
        + (f_cnt & 0xFFFFFFFF).to_bytes(4, "little")
        + b"\x00\x01"
    )
    s: bytes = _ciphers(key_bytes(nwk_s_enc_key))[0].update(a)
    return bytes(d ^ k for d, k in zip(data, s, strict=False))
