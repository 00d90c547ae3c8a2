"""FRMPayload encryption with the AppSKey (pure).

The same AES-CTR-like key stream encrypts and decrypts (LoRaWAN 1.1 section 4.3.3); uplinks use
the full 32-bit FCntUp with Dir=0, application downlinks the reserved FCntDown (AFCntDown in
1.1, NFCntDown in 1.0.x) with Dir=1.
"""

from __future__ import annotations

from services.lorawan.crypto import encrypt_frm_payload
from services.lorawan.types import AES128Key, DevAddr

from ..errors import InvalidDownlink

MAX_F_PORT = 223  # 224 is the LoRaWAN test port, 225..255 RFU


def decrypt_uplink(
    app_s_key: AES128Key, dev_addr: DevAddr, f_cnt: int, f_port: int | None, frm_payload: bytes
) -> bytes:
    """The plain application payload of an uplink (``f_cnt`` the full 32-bit FCntUp).

    No FPort, or FPort 0 (MAC commands, encrypted with the network key, not the AppSKey):
    there is no application payload, ``b""``.
    """
    if f_port is None or f_port == 0 or not frm_payload:
        return b""
    return encrypt_frm_payload(app_s_key, dev_addr, f_cnt, True, frm_payload)


def encrypt_downlink(
    app_s_key: AES128Key, dev_addr: DevAddr, f_cnt_down: int, f_port: int, data: bytes
) -> bytes:
    """The AppSKey-encrypted FRMPayload of an application downlink sent with ``f_cnt_down``."""
    if not 1 <= f_port <= MAX_F_PORT:
        raise InvalidDownlink(f"f_port must be 1..{MAX_F_PORT}, got {f_port}")
    return encrypt_frm_payload(app_s_key, dev_addr, f_cnt_down, False, data)
