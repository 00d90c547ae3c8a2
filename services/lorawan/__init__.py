"""HyperLoRa's pure LoRaWAN protocol library (standard library + ``cryptography`` only).

Frames (:class:`PhyPayload` and its parts), MICs and encryption, session keys, frame counters and
identifiers for LoRaWAN 1.0.x and 1.1. MAC commands live in ``services.lorawan.maccommand`` and
regional parameters in ``services.lorawan.region`` (import them from there).

The public names below are imported on first use (PEP 562 module ``__getattr__``), so
``import services.lorawan.airtime`` (the simulator's only need) does not load the crypto and
the frame codecs. ``from services.lorawan import PhyPayload`` works as before.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ..lazy import submodule

if TYPE_CHECKING:
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

_WHERE: dict[str, str] = {
    "AES128Key": "types",
    "CFList": "join",
    "DLSettings": "join",
    "DevAddr": "types",
    "DevNonceReused": "errors",
    "EUI64": "types",
    "EncryptedJoinAcceptPayload": "join",
    "FCtrl": "fhdr",
    "FHDR": "fhdr",
    "FrameCounterReplay": "errors",
    "InvalidKey": "errors",
    "InvalidParameter": "errors",
    "JOIN_REQUEST_TYPE": "phy_payload",
    "JoinAcceptPayload": "join",
    "JoinRequestPayload": "join",
    "LoRaWANError": "errors",
    "MACPayload": "data",
    "MHDR": "mhdr",
    "MType": "mhdr",
    "MacVersion": "version",
    "Major": "mhdr",
    "MalformedPacket": "errors",
    "MicMismatch": "errors",
    "MissingKey": "errors",
    "NetID": "types",
    "Payload": "phy_payload",
    "PhyPayload": "phy_payload",
    "ProprietaryPayload": "phy_payload",
    "RejoinRequestPayload": "rejoin",
    "SessionKeys": "keys",
    "UnknownMacCommand": "errors",
    "UnknownMessageType": "errors",
    "UnsupportedRegion": "errors",
    "aes128_decrypt": "crypto",
    "aes128_encrypt": "crypto",
    "aes128_encrypt_block": "crypto",
    "aes_cmac": "crypto",
    "compute_downlink_data_mic": "crypto",
    "compute_mic": "crypto",
    "compute_uplink_data_mic": "crypto",
    "derive_js_enc_key": "keys",
    "derive_js_int_key": "keys",
    "derive_session_keys_10": "keys",
    "derive_session_keys_11": "keys",
    "encrypt_f_opts": "crypto",
    "encrypt_frm_payload": "crypto",
    "full_f_cnt": "fcnt",
}

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


def __getattr__(name: str) -> Any:
    """Import a public name (or a submodule: ``services.lorawan.crypto``) on first use."""
    module = _WHERE.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
        globals()[name] = value
        return value
    return submodule(__name__, name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
