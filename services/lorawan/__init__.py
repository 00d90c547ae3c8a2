"""HyperLoRa's pure LoRaWAN protocol library (standard library + ``cryptography`` only).

Frames (:class:`PhyPayload` and its parts), MICs and encryption, session keys, frame counters and
identifiers for LoRaWAN 1.0.x and 1.1. MAC commands live in ``services.lorawan.maccommand`` and
regional parameters in ``services.lorawan.region`` (import them from there).
"""

from __future__ import annotations

from .crypto import (
    aes128_decrypt,
    aes128_encrypt,
    aes128_encrypt_block,
    aes_cmac,
    compute_downlink_data_mic,
    compute_mic,
    compute_uplink_data_mic,
    encrypt_f_opts,
    encrypt_frm_payload,
)
from .data import MACPayload
from .errors import (
    DevNonceReused,
    FrameCounterReplay,
    InvalidKey,
    InvalidParameter,
    LoRaWANError,
    MalformedPacket,
    MicMismatch,
    MissingKey,
    UnknownMacCommand,
    UnknownMessageType,
    UnsupportedRegion,
)
from .fcnt import full_f_cnt
from .fhdr import FHDR, FCtrl
from .join import (
    CFList,
    DLSettings,
    EncryptedJoinAcceptPayload,
    JoinAcceptPayload,
    JoinRequestPayload,
)
from .keys import (
    SessionKeys,
    derive_js_enc_key,
    derive_js_int_key,
    derive_session_keys_10,
    derive_session_keys_11,
)
from .mhdr import MHDR, Major, MType
from .phy_payload import JOIN_REQUEST_TYPE, Payload, PhyPayload, ProprietaryPayload
from .rejoin import RejoinRequestPayload
from .types import EUI64, AES128Key, DevAddr, NetID
from .version import MacVersion

__all__ = [
    "EUI64",
    "FHDR",
    "JOIN_REQUEST_TYPE",
    "MHDR",
    "AES128Key",
    "CFList",
    "DLSettings",
    "DevAddr",
    "DevNonceReused",
    "EncryptedJoinAcceptPayload",
    "FCtrl",
    "FrameCounterReplay",
    "InvalidKey",
    "InvalidParameter",
    "JoinAcceptPayload",
    "JoinRequestPayload",
    "LoRaWANError",
    "MACPayload",
    "MType",
    "MacVersion",
    "Major",
    "MalformedPacket",
    "MicMismatch",
    "MissingKey",
    "NetID",
    "Payload",
    "PhyPayload",
    "ProprietaryPayload",
    "RejoinRequestPayload",
    "SessionKeys",
    "UnknownMacCommand",
    "UnknownMessageType",
    "UnsupportedRegion",
    "aes128_decrypt",
    "aes128_encrypt",
    "aes128_encrypt_block",
    "aes_cmac",
    "compute_downlink_data_mic",
    "compute_mic",
    "compute_uplink_data_mic",
    "derive_js_enc_key",
    "derive_js_int_key",
    "derive_session_keys_10",
    "derive_session_keys_11",
    "encrypt_f_opts",
    "encrypt_frm_payload",
    "full_f_cnt",
]
