"""Session-key derivation for LoRaWAN 1.0.x and 1.1 (OTAA), and the 1.1 join-server keys.

* 1.0.x: ``NwkSKey = aes128(AppKey, 0x01 | JoinNonce | NetID | DevNonce | pad16)``,
  ``AppSKey`` the same with 0x02. (In 1.0.x the root key is called AppKey; here ``nwk_key``.)
* 1.1: ``FNwkSIntKey`` 0x01, ``SNwkSIntKey`` 0x03, ``NwkSEncKey`` 0x04 with NwkKey, and
  ``AppSKey`` 0x02 with AppKey, over ``JoinNonce | JoinEUI | DevNonce | pad16``.
* ``JSEncKey = aes128(NwkKey, 0x05 | DevEUI | pad16)``, ``JSIntKey`` the same with 0x06.

JoinNonce (3 bytes), NetID (3), JoinEUI/DevEUI (8) and DevNonce (2) are little-endian.
"""

from __future__ import annotations

from dataclasses import dataclass

from .crypto import aes128_encrypt_block
from .errors import InvalidParameter
from .types import EUI64, AES128Key, NetID

__all__ = [
    "SessionKeys",
    "derive_js_enc_key",
    "derive_js_int_key",
    "derive_session_keys_10",
    "derive_session_keys_11",
]


@dataclass(frozen=True, slots=True)
class SessionKeys:
    """The session keys of one device session. For 1.0.x the three network keys are the NwkSKey."""

    f_nwk_s_int_key: AES128Key
    s_nwk_s_int_key: AES128Key
    nwk_s_enc_key: AES128Key
    app_s_key: AES128Key

    @property
    def nwk_s_key(self) -> AES128Key:
        """The LoRaWAN 1.0.x NwkSKey (the FNwkSIntKey of a 1.1 session)."""
        return self.f_nwk_s_int_key

    def to_dict(self) -> dict[str, str]:
        return {
            "f_nwk_s_int_key": str(self.f_nwk_s_int_key),
            "s_nwk_s_int_key": str(self.s_nwk_s_int_key),
            "nwk_s_enc_key": str(self.nwk_s_enc_key),
            "app_s_key": str(self.app_s_key),
        }


def _check(join_nonce: int, dev_nonce: int) -> None:
    if not 0 <= join_nonce <= 0xFFFFFF:
        raise InvalidParameter(f"join_nonce {join_nonce} does not fit 24 bits")
    if not 0 <= dev_nonce <= 0xFFFF:
        raise InvalidParameter(f"dev_nonce {dev_nonce} does not fit 16 bits")


def _derive(key: AES128Key, typ: int, body: bytes) -> AES128Key:
    block = bytes((typ,)) + body
    return AES128Key(aes128_encrypt_block(key.value, block + bytes(16 - len(block))))


def derive_session_keys_10(
    nwk_key: AES128Key, join_nonce: int, net_id: NetID, dev_nonce: int
) -> SessionKeys:
    """LoRaWAN 1.0.x session keys from the root key (AppKey), JoinNonce, NetID and DevNonce."""
    _check(join_nonce, dev_nonce)
    body = join_nonce.to_bytes(3, "little") + net_id.to_le() + dev_nonce.to_bytes(2, "little")
    nwk_s_key = _derive(nwk_key, 0x01, body)
    return SessionKeys(nwk_s_key, nwk_s_key, nwk_s_key, _derive(nwk_key, 0x02, body))


def derive_session_keys_11(
    nwk_key: AES128Key, app_key: AES128Key, join_nonce: int, join_eui: EUI64, dev_nonce: int
) -> SessionKeys:
    """LoRaWAN 1.1 session keys (OptNeg set): network keys from NwkKey, AppSKey from AppKey."""
    _check(join_nonce, dev_nonce)
    body = join_nonce.to_bytes(3, "little") + join_eui.to_le() + dev_nonce.to_bytes(2, "little")
    return SessionKeys(
        f_nwk_s_int_key=_derive(nwk_key, 0x01, body),
        s_nwk_s_int_key=_derive(nwk_key, 0x03, body),
        nwk_s_enc_key=_derive(nwk_key, 0x04, body),
        app_s_key=_derive(app_key, 0x02, body),
    )


def derive_js_int_key(nwk_key: AES128Key, dev_eui: EUI64) -> AES128Key:
    """JSIntKey (LoRaWAN 1.1): MIC key of rejoin-request type 1 and OptNeg join-accepts."""
    return _derive(nwk_key, 0x06, dev_eui.to_le())


def derive_js_enc_key(nwk_key: AES128Key, dev_eui: EUI64) -> AES128Key:
    """JSEncKey (LoRaWAN 1.1): encrypts join-accepts answering rejoin-requests."""
    return _derive(nwk_key, 0x05, dev_eui.to_le())
