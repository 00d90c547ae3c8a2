"""PHYPayload: MHDR | payload | MIC, for every LoRaWAN message type, with MICs and encryption.

The API mirrors itself: ``from_bytes``/``to_bytes``, ``set_``/``validate_*_mic``,
``encrypt_``/``decrypt_*``. ``validate_*`` methods return a bool (callers raise
:class:`~services.lorawan.errors.MicMismatch` where they need to).

Data-frame MICs and encryption use ``fhdr.f_cnt`` as the full 32-bit counter: after decoding, set
it from :func:`services.lorawan.fcnt.full_f_cnt` before validating or decrypting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .crypto import (
    KeyLike,
    aes128_decrypt,
    aes128_encrypt,
    aes_cmac,
    compute_downlink_data_mic,
    compute_uplink_data_mic,
    encrypt_f_opts,
    encrypt_frm_payload,
)
from .data import MACPayload
from .errors import InvalidParameter, MalformedPacket, MissingKey
from .fhdr import parse_mac_commands
from .join import EncryptedJoinAcceptPayload, JoinAcceptPayload, JoinRequestPayload
from .mhdr import MHDR, MType
from .rejoin import RejoinRequestPayload
from .types import EUI64
from .version import MacVersion

__all__ = ["JOIN_REQUEST_TYPE", "Payload", "PhyPayload", "ProprietaryPayload"]

#: JoinReqType of the 1.1 join-accept MIC for an answer to a join-request (rejoins use 0, 1, 2).
JOIN_REQUEST_TYPE = 0xFF


@dataclass(frozen=True, slots=True)
class ProprietaryPayload:
    """Everything after the MHDR of a proprietary frame (format and MIC are vendor-defined)."""

    data: bytes = b""

    def to_bytes(self) -> bytes:
        return self.data

    def to_dict(self) -> dict[str, object]:
        return {"data": self.data.hex()}


Payload = (
    MACPayload
    | JoinRequestPayload
    | JoinAcceptPayload
    | EncryptedJoinAcceptPayload
    | RejoinRequestPayload
    | ProprietaryPayload
)

_DATA_TYPES = (
    MType.UNCONFIRMED_DATA_UP,
    MType.UNCONFIRMED_DATA_DOWN,
    MType.CONFIRMED_DATA_UP,
    MType.CONFIRMED_DATA_DOWN,
)
_UPLINK_DATA = (MType.UNCONFIRMED_DATA_UP, MType.CONFIRMED_DATA_UP)


def _need(key: KeyLike | None, name: str) -> KeyLike:
    if key is None:
        raise MissingKey(f"{name} is required")
    return key


@dataclass(slots=True)
class PhyPayload:
    """One LoRaWAN frame. ``mic`` is None only for proprietary frames."""

    mhdr: MHDR
    payload: Payload
    mic: bytes | None = None
    # The received bytes of a decoded data frame and a snapshot of the fields they encode: while
    # the fields are unchanged, MICs are computed over the received bytes without re-encoding.
    _wire: bytes | None = field(default=None, init=False, repr=False, compare=False)
    _snap: tuple[object, ...] | None = field(default=None, init=False, repr=False, compare=False)

    # ------------------------------------------------------------------ codec

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> PhyPayload:
        """Decode a frame. Raises only :class:`~services.lorawan.errors.LoRaWANError`s."""
        try:
            raw = bytes(data)
        except TypeError as exc:
            raise MalformedPacket("PHYPayload: bytes expected") from exc
        if not raw:
            raise MalformedPacket("PHYPayload: empty")
        try:
            return cls._decode(raw)
        except (IndexError, ValueError, TypeError, OverflowError) as exc:  # defensive net
            raise MalformedPacket(f"PHYPayload: {exc}") from exc

    @classmethod
    def _decode(cls, raw: bytes) -> PhyPayload:
        mhdr = MHDR.from_byte(raw[0])
        m_type = mhdr.m_type
        if m_type is MType.PROPRIETARY:
            return cls(mhdr, ProprietaryPayload(raw[1:]), None)
        if len(raw) < 5:
            raise MalformedPacket("PHYPayload: at least 5 bytes required")
        body = raw[1:-4]
        mic = raw[-4:]
        payload: Payload
        if m_type in _DATA_TYPES:
            payload = MACPayload.from_bytes(body, m_type in _UPLINK_DATA)
        elif m_type is MType.JOIN_REQUEST:
            payload = JoinRequestPayload.from_bytes(body)
        elif m_type is MType.JOIN_ACCEPT:
            if len(body) not in (12, 28):
                raise MalformedPacket(f"join-accept: 16 or 32 encrypted bytes, got {len(body) + 4}")
            payload = EncryptedJoinAcceptPayload(body)
        else:
            payload = RejoinRequestPayload.from_bytes(body)
        phy = cls(mhdr, payload, mic)
        if isinstance(payload, MACPayload):
            phy._wire = raw[:-4]
            phy._snap = phy._snapshot(payload)
        return phy

    def to_bytes(self) -> bytes:
        """Encode the frame (the exact inverse of :meth:`from_bytes`)."""
        body = self._payload_bytes()
        if self.mhdr.m_type is MType.PROPRIETARY:
            return self.mhdr.to_bytes() + body + (self.mic or b"")
        if self.mic is None or len(self.mic) != 4:
            raise InvalidParameter("PHYPayload: the 4-byte MIC is not set")
        return self.mhdr.to_bytes() + body + self.mic

    def _payload_bytes(self) -> bytes:
        p = self.payload
        if isinstance(p, MACPayload):
            return p.to_bytes(self.mhdr.m_type.is_uplink)
        return p.to_bytes()

    def _snapshot(self, p: MACPayload) -> tuple[object, ...]:
        f = p.fhdr
        return (
            self.mhdr,
            p.frm_payload,
            f.f_opts,
            f.dev_addr,
            f.f_ctrl,
            f.f_cnt & 0xFFFF,
            p.f_port,
            p,
            f,
        )

    def _mic_msg(self) -> bytes:
        """MHDR | payload, the bytes a MIC covers (the received ones while fields are unchanged)."""
        wire = self._wire
        if wire is not None:
            p = self.payload
            if isinstance(p, MACPayload) and self._snap == self._snapshot(p):
                return wire
            self._wire = self._snap = None
        return self.mhdr.to_bytes() + self._payload_bytes()

    @property
    def uplink(self) -> bool:
        return self.mhdr.m_type.is_uplink

    def to_dict(self) -> dict[str, Any]:
        """Every field as JSON-able values (hex strings for bytes, EUIs and keys)."""
        p = self.payload
        kind = {
            MACPayload: "mac_payload",
            JoinRequestPayload: "join_request",
            JoinAcceptPayload: "join_accept",
            EncryptedJoinAcceptPayload: "join_accept_encrypted",
            RejoinRequestPayload: "rejoin_request",
            ProprietaryPayload: "proprietary",
        }[type(p)]
        body = p.to_dict(self.uplink) if isinstance(p, MACPayload) else p.to_dict()
        return {
            "mhdr": self.mhdr.to_dict(),
            "payload_type": kind,
            "payload": body,
            "mic": None if self.mic is None else self.mic.hex(),
        }

    # ------------------------------------------------------------- accessors

    def mac_payload(self) -> MACPayload:
        """The MACPayload of a data frame; InvalidParameter for other message types."""
        p = self.payload
        if not isinstance(p, MACPayload):
            raise InvalidParameter(f"{self.mhdr.m_type.label} frame has no MACPayload")
        return p

    def mac_commands(self) -> list[Any]:
        """The MAC commands of a data frame: FPort-0 FRMPayload (decrypted) or FOpts (1.1:
        decrypted). Needs ``services.lorawan.maccommand``."""
        p = self.mac_payload()
        data = p.frm_payload if p.f_port == 0 else p.fhdr.f_opts
        return parse_mac_commands(data, self.uplink)

    # ------------------------------------------------------------- data MICs

    def _uplink_mic(
        self,
        mac_version: MacVersion | str,
        conf_f_cnt: int,
        tx_dr: int,
        tx_ch: int,
        f_nwk_s_int_key: KeyLike | None,
        s_nwk_s_int_key: KeyLike | None,
    ) -> bytes:
        p = self.mac_payload()
        if not self.uplink:
            raise InvalidParameter("uplink MIC on a downlink frame")
        version = MacVersion.parse(mac_version)
        fkey = _need(f_nwk_s_int_key, "f_nwk_s_int_key")
        fhdr = p.fhdr
        if not version.is_11:
            return compute_uplink_data_mic(self._mic_msg(), fhdr.dev_addr, fhdr.f_cnt, fkey)
        return compute_uplink_data_mic(
            self._mic_msg(),
            fhdr.dev_addr,
            fhdr.f_cnt,
            fkey,
            lorawan_11=True,
            s_nwk_s_int_key=_need(s_nwk_s_int_key, "s_nwk_s_int_key"),
            conf_f_cnt=conf_f_cnt if fhdr.f_ctrl.ack else 0,
            tx_dr=tx_dr,
            tx_ch=tx_ch,
        )

    def set_uplink_data_mic(
        self,
        mac_version: MacVersion | str,
        conf_f_cnt: int,
        tx_dr: int,
        tx_ch: int,
        f_nwk_s_int_key: KeyLike | None,
        s_nwk_s_int_key: KeyLike | None = None,
    ) -> None:
        """Set the uplink MIC. 1.0.x: pass the NwkSKey as ``f_nwk_s_int_key``. 1.1: ConfFCnt
        (used only when the ACK bit is set), TxDr and TxCh enter B1."""
        self.mic = self._uplink_mic(
            mac_version, conf_f_cnt, tx_dr, tx_ch, f_nwk_s_int_key, s_nwk_s_int_key
        )

    def validate_uplink_data_mic(
        self,
        mac_version: MacVersion | str,
        conf_f_cnt: int,
        tx_dr: int,
        tx_ch: int,
        f_nwk_s_int_key: KeyLike | None,
        s_nwk_s_int_key: KeyLike | None = None,
    ) -> bool:
        return self.mic == self._uplink_mic(
            mac_version, conf_f_cnt, tx_dr, tx_ch, f_nwk_s_int_key, s_nwk_s_int_key
        )

    def validate_uplink_data_mic_f(self, f_nwk_s_int_key: KeyLike) -> bool:
        """LoRaWAN 1.1: check only the cmacF half (bytes 2..3) of the MIC with FNwkSIntKey."""
        p = self.mac_payload()
        full = compute_uplink_data_mic(
            self._mic_msg(), p.fhdr.dev_addr, p.fhdr.f_cnt, f_nwk_s_int_key
        )
        return self.mic is not None and self.mic[2:] == full[:2]

    def _downlink_mic(
        self, mac_version: MacVersion | str, conf_f_cnt: int, s_nwk_s_int_key: KeyLike | None
    ) -> bytes:
        p = self.mac_payload()
        if self.uplink:
            raise InvalidParameter("downlink MIC on an uplink frame")
        version = MacVersion.parse(mac_version)
        key = _need(s_nwk_s_int_key, "s_nwk_s_int_key")
        conf = conf_f_cnt if version.is_11 and p.fhdr.f_ctrl.ack else 0
        return compute_downlink_data_mic(self._mic_msg(), p.fhdr.dev_addr, p.fhdr.f_cnt, key, conf)

    def set_downlink_data_mic(
        self, mac_version: MacVersion | str, conf_f_cnt: int, s_nwk_s_int_key: KeyLike | None
    ) -> None:
        """Set the downlink MIC (1.0.x: NwkSKey; 1.1: SNwkSIntKey, ConfFCnt when ACK is set)."""
        self.mic = self._downlink_mic(mac_version, conf_f_cnt, s_nwk_s_int_key)

    def validate_downlink_data_mic(
        self, mac_version: MacVersion | str, conf_f_cnt: int, s_nwk_s_int_key: KeyLike | None
    ) -> bool:
        return self.mic == self._downlink_mic(mac_version, conf_f_cnt, s_nwk_s_int_key)

    # ------------------------------------------------------ join / rejoin MICs

    def _plain_mic(self, key: KeyLike | None, expected: type[object]) -> bytes:
        if not isinstance(self.payload, expected):
            raise InvalidParameter(f"{self.mhdr.m_type.label}: wrong payload for this MIC")
        return aes_cmac(_need(key, "key"), self._mic_msg())[:4]

    def set_join_request_mic(self, key: KeyLike | None) -> None:
        """MIC = cmac(NwkKey (1.1) or AppKey (1.0), MHDR | JoinEUI | DevEUI | DevNonce)."""
        self.mic = self._plain_mic(key, JoinRequestPayload)

    def validate_join_request_mic(self, key: KeyLike | None) -> bool:
        return self.mic == self._plain_mic(key, JoinRequestPayload)

    def set_rejoin_request_mic(self, key: KeyLike | None) -> None:
        """MIC = cmac(key, MHDR | payload): SNwkSIntKey for types 0/2, JSIntKey for type 1."""
        self.mic = self._plain_mic(key, RejoinRequestPayload)

    def validate_rejoin_request_mic(self, key: KeyLike | None) -> bool:
        return self.mic == self._plain_mic(key, RejoinRequestPayload)

    def _join_accept_mic(
        self,
        key: KeyLike | None,
        join_req_type: int,
        join_eui: EUI64 | None,
        dev_nonce: int | None,
        opt_neg: bool,
    ) -> bytes:
        p = self.payload
        if isinstance(p, EncryptedJoinAcceptPayload):
            raise InvalidParameter("join-accept: decrypt the payload before its MIC")
        if not isinstance(p, JoinAcceptPayload):
            raise InvalidParameter(f"{self.mhdr.m_type.label}: not a join-accept")
        k = _need(key, "key")
        msg = self._mic_msg()
        if opt_neg or p.dl_settings.opt_neg:
            if join_eui is None or dev_nonce is None:
                raise MissingKey("1.1 join-accept MIC needs join_eui and dev_nonce")
            if not 0 <= join_req_type <= 0xFF or not 0 <= dev_nonce <= 0xFFFF:
                raise InvalidParameter("join_req_type or dev_nonce out of range")
            msg = bytes((join_req_type,)) + join_eui.to_le() + dev_nonce.to_bytes(2, "little") + msg
        return aes_cmac(k, msg)[:4]

    def set_join_accept_mic(
        self,
        key: KeyLike | None,
        join_req_type: int = JOIN_REQUEST_TYPE,
        join_eui: EUI64 | None = None,
        dev_nonce: int | None = None,
        opt_neg: bool = False,
    ) -> None:
        """1.0: cmac(NwkKey/AppKey, MHDR | payload). 1.1 (``opt_neg`` or the OptNeg bit of
        DLSettings): cmac(JSIntKey, JoinReqType | JoinEUI | DevNonce | MHDR | payload)."""
        self.mic = self._join_accept_mic(key, join_req_type, join_eui, dev_nonce, opt_neg)

    def validate_join_accept_mic(
        self,
        key: KeyLike | None,
        join_req_type: int = JOIN_REQUEST_TYPE,
        join_eui: EUI64 | None = None,
        dev_nonce: int | None = None,
        opt_neg: bool = False,
    ) -> bool:
        return self.mic == self._join_accept_mic(key, join_req_type, join_eui, dev_nonce, opt_neg)

    # ------------------------------------------------------------- encryption

    def encrypt_join_accept_payload(self, key: KeyLike | None) -> None:
        """Encrypt (with the AES *decrypt* operation) payload and MIC; set the MIC first.
        Key: NwkKey (AppKey in 1.0) for a join-request answer, JSEncKey for a rejoin answer."""
        p = self.payload
        if not isinstance(p, JoinAcceptPayload):
            raise InvalidParameter("encrypt_join_accept_payload: plain join-accept expected")
        if self.mic is None:
            raise InvalidParameter("join-accept: set the MIC before encrypting")
        ct = aes128_decrypt(_need(key, "key"), p.to_bytes() + self.mic)
        self.payload = EncryptedJoinAcceptPayload(ct[:-4])
        self.mic = ct[-4:]

    def decrypt_join_accept_payload(self, key: KeyLike | None) -> None:
        """Decrypt (AES encrypt operation) a received join-accept and decode its fields."""
        p = self.payload
        if not isinstance(p, EncryptedJoinAcceptPayload) or self.mic is None:
            raise InvalidParameter("decrypt_join_accept_payload: encrypted join-accept expected")
        pt = aes128_encrypt(_need(key, "key"), p.data + self.mic)
        self.payload = JoinAcceptPayload.from_bytes(pt[:-4])
        self.mic = pt[-4:]

    def encrypt_frm_payload(self, key: KeyLike | None) -> None:
        """Encrypt the FRMPayload in place (AppSKey; FPort 0: NwkSKey / NwkSEncKey)."""
        p = self.mac_payload()
        if p.frm_payload:
            fhdr = p.fhdr
            p.frm_payload = encrypt_frm_payload(
                _need(key, "key"), fhdr.dev_addr, fhdr.f_cnt, self.uplink, p.frm_payload
            )

    decrypt_frm_payload = encrypt_frm_payload

    def encrypt_f_opts(self, nwk_s_enc_key: KeyLike | None) -> None:
        """LoRaWAN 1.1: encrypt FOpts in place with NwkSEncKey (downlinks with FPort > 0 use
        the AFCntDown A block)."""
        p = self.mac_payload()
        if p.fhdr.f_opts:
            uplink = self.uplink
            a_down = not uplink and p.f_port is not None and p.f_port > 0
            p.fhdr.f_opts = encrypt_f_opts(
                _need(nwk_s_enc_key, "nwk_s_enc_key"),
                p.fhdr.dev_addr,
                p.fhdr.f_cnt,
                uplink,
                p.fhdr.f_opts,
                a_down,
            )

    decrypt_f_opts = encrypt_f_opts
