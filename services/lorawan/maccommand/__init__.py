"""Every MAC command of LoRaWAN 1.0.4 and 1.1, both directions, encode and decode.

One frozen dataclass per command and direction (``CID``, ``UPLINK``, ``to_bytes``,
``payload_to_bytes``, ``from_payload``, ``from_bytes``, ``to_dict``), plus the block codec
:func:`parse_mac_commands` / :func:`encode_mac_commands` and :func:`payload_size`.
"""

from __future__ import annotations

from .adr import ADRParamSetupAns, ADRParamSetupReq, LinkADRAns, LinkADRReq
from .base import (
    FREQ_MAX_HZ,
    FREQ_STEP_HZ,
    MacCommand,
    decode_frequency,
    encode_frequency,
)
from .channel import (
    MAX_EIRP_DBM,
    DlChannelAns,
    DlChannelReq,
    NewChannelAns,
    NewChannelReq,
    TxParamSetupAns,
    TxParamSetupReq,
)
from .device_class import (
    DEVICE_CLASS_A,
    DEVICE_CLASS_C,
    BeaconFreqAns,
    BeaconFreqReq,
    BeaconTimingAns,
    BeaconTimingReq,
    DeviceModeConf,
    DeviceModeInd,
    PingSlotChannelAns,
    PingSlotChannelReq,
    PingSlotInfoAns,
    PingSlotInfoReq,
)
from .link import (
    BATTERY_EXTERNAL_POWER,
    BATTERY_UNKNOWN,
    DevStatusAns,
    DevStatusReq,
    DutyCycleAns,
    DutyCycleReq,
    LinkCheckAns,
    LinkCheckReq,
)
from .proprietary import ProprietaryMacCommand
from .registry import (
    ALL_COMMANDS,
    command_class,
    encode_mac_commands,
    mac_command_from_dict,
    parse_mac_commands,
    payload_size,
)
from .rejoin import (
    ForceRejoinReq,
    RejoinParamSetupAns,
    RejoinParamSetupReq,
    RekeyConf,
    RekeyInd,
    ResetConf,
    ResetInd,
)
from .rx import RXParamSetupAns, RXParamSetupReq, RXTimingSetupAns, RXTimingSetupReq
from .time import DeviceTimeAns, DeviceTimeReq

__all__ = [
    "ALL_COMMANDS",
    "BATTERY_EXTERNAL_POWER",
    "BATTERY_UNKNOWN",
    "DEVICE_CLASS_A",
    "DEVICE_CLASS_C",
    "FREQ_MAX_HZ",
    "FREQ_STEP_HZ",
    "MAX_EIRP_DBM",
    "ADRParamSetupAns",
    "ADRParamSetupReq",
    "BeaconFreqAns",
    "BeaconFreqReq",
    "BeaconTimingAns",
    "BeaconTimingReq",
    "DevStatusAns",
    "DevStatusReq",
    "DeviceModeConf",
    "DeviceModeInd",
    "DeviceTimeAns",
    "DeviceTimeReq",
    "DlChannelAns",
    "DlChannelReq",
    "DutyCycleAns",
    "DutyCycleReq",
    "ForceRejoinReq",
    "LinkADRAns",
    "LinkADRReq",
    "LinkCheckAns",
    "LinkCheckReq",
    "MacCommand",
    "NewChannelAns",
    "NewChannelReq",
    "PingSlotChannelAns",
    "PingSlotChannelReq",
    "PingSlotInfoAns",
    "PingSlotInfoReq",
    "ProprietaryMacCommand",
    "RXParamSetupAns",
    "RXParamSetupReq",
    "RXTimingSetupAns",
    "RXTimingSetupReq",
    "RejoinParamSetupAns",
    "RejoinParamSetupReq",
    "RekeyConf",
    "RekeyInd",
    "ResetConf",
    "ResetInd",
    "TxParamSetupAns",
    "TxParamSetupReq",
    "command_class",
    "decode_frequency",
    "encode_frequency",
    "encode_mac_commands",
    "mac_command_from_dict",
    "parse_mac_commands",
    "payload_size",
]
