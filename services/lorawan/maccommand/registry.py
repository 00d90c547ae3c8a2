"""The CID tables and the block codec: parse and encode a sequence of MAC commands.

A block (FOpts, or a FRMPayload on FPort 0) is a concatenation of commands, each a CID byte
and a fixed-size payload chosen by the CID and the direction. A proprietary CID (0x80..0xFF)
takes the rest of the block.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import InvalidParameter, MalformedPacket, UnknownMacCommand
from .adr import ADRParamSetupAns, ADRParamSetupReq, LinkADRAns, LinkADRReq
from .base import MacCommand
from .channel import (
    DlChannelAns,
    DlChannelReq,
    NewChannelAns,
    NewChannelReq,
    TxParamSetupAns,
    TxParamSetupReq,
)
from .device_class import (
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
from .link import DevStatusAns, DevStatusReq, DutyCycleAns, DutyCycleReq, LinkCheckAns, LinkCheckReq
from .proprietary import PROPRIETARY_CID_MIN, ProprietaryMacCommand
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

#: Every standard command class (both directions), in CID order.
ALL_COMMANDS: tuple[type[MacCommand], ...] = (
    ResetInd,
    ResetConf,
    LinkCheckReq,
    LinkCheckAns,
    LinkADRAns,
    LinkADRReq,
    DutyCycleAns,
    DutyCycleReq,
    RXParamSetupAns,
    RXParamSetupReq,
    DevStatusAns,
    DevStatusReq,
    NewChannelAns,
    NewChannelReq,
    RXTimingSetupAns,
    RXTimingSetupReq,
    TxParamSetupAns,
    TxParamSetupReq,
    DlChannelAns,
    DlChannelReq,
    RekeyInd,
    RekeyConf,
    ADRParamSetupAns,
    ADRParamSetupReq,
    DeviceTimeReq,
    DeviceTimeAns,
    ForceRejoinReq,
    RejoinParamSetupAns,
    RejoinParamSetupReq,
    PingSlotInfoReq,
    PingSlotInfoAns,
    PingSlotChannelAns,
    PingSlotChannelReq,
    BeaconTimingReq,
    BeaconTimingAns,
    BeaconFreqAns,
    BeaconFreqReq,
    DeviceModeInd,
    DeviceModeConf,
)

_BY_CID: dict[tuple[int, bool], type[MacCommand]] = {
    (cls.CID, cls.UPLINK): cls for cls in ALL_COMMANDS
}
_BY_NAME: dict[str, type[MacCommand]] = {cls.name(): cls for cls in ALL_COMMANDS}
_BY_NAME[ProprietaryMacCommand.name()] = ProprietaryMacCommand

assert len(_BY_CID) == len(ALL_COMMANDS), "duplicate (CID, direction) in ALL_COMMANDS"


def command_class(cid: int, uplink: bool) -> type[MacCommand]:
    """The class of a standard command; :class:`UnknownMacCommand` if there is none."""
    try:
        return _BY_CID[(cid, uplink)]
    except KeyError:
        direction = "uplink" if uplink else "downlink"
        raise UnknownMacCommand(f"unknown {direction} MAC command CID 0x{cid:02X}") from None


def payload_size(cid: int, uplink: bool) -> int:
    """The payload length (CID excluded) of a standard command.

    Raises :class:`UnknownMacCommand` for an unknown CID and for proprietary CIDs, whose
    length the specification leaves undefined.
    """
    if cid >= PROPRIETARY_CID_MIN:
        raise UnknownMacCommand(f"proprietary MAC command CID 0x{cid:02X} has no fixed size")
    return command_class(cid, uplink).SIZE


def parse_mac_commands(data: bytes, uplink: bool) -> list[MacCommand]:
    """Decode a block of MAC commands sent in the given direction.

    Raises :class:`UnknownMacCommand` for an undefined CID and :class:`MalformedPacket` for a
    truncated payload; never anything outside :class:`LoRaWANError`.
    """
    commands: list[MacCommand] = []
    data = bytes(data)
    index = 0
    while index < len(data):
        cid = data[index]
        if cid >= PROPRIETARY_CID_MIN:
            commands.append(ProprietaryMacCommand.from_bytes(data[index:], uplink=uplink))
            break
        cls = command_class(cid, uplink)
        start = index + 1
        end = start + cls.SIZE
        if end > len(data):
            raise MalformedPacket(
                f"{cls.name()}: needs {cls.SIZE} payload bytes, {len(data) - start} left"
            )
        commands.append(cls.from_payload(data[start:end]))
        index = end
    return commands


def encode_mac_commands(cmds: Sequence[MacCommand]) -> bytes:
    """Concatenate commands. All must travel in one direction; a proprietary one must be last."""
    for cmd in cmds:
        if not isinstance(cmd, MacCommand):
            raise InvalidParameter(f"not a MAC command: {cmd!r}")
    if len({cmd.is_uplink for cmd in cmds}) > 1:
        raise InvalidParameter("MAC command block mixes uplink and downlink commands")
    for position, cmd in enumerate(cmds):
        if isinstance(cmd, ProprietaryMacCommand) and position != len(cmds) - 1:
            raise InvalidParameter("a proprietary MAC command must be the last of its block")
    return b"".join(cmd.to_bytes() for cmd in cmds)


def mac_command_from_dict(data: dict[str, Any]) -> MacCommand:
    """Rebuild a command from :meth:`MacCommand.to_dict` output (looked up by ``"cid"``)."""
    name = data.get("cid")
    cls = _BY_NAME.get(name) if isinstance(name, str) else None
    if cls is None:
        raise UnknownMacCommand(f"unknown MAC command name {name!r}")
    return cls.from_dict(data)
