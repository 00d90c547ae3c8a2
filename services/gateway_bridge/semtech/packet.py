"""Decode any Semtech UDP datagram into its typed packet."""

from __future__ import annotations

from .header import PacketType, parse_header
from .pull_ack import PullAck
from .pull_data import PullData
from .pull_resp import PullResp
from .push_ack import PushAck
from .push_data import PushData
from .tx_ack import TxAck

Packet = PushData | PushAck | PullData | PullResp | PullAck | TxAck

_DECODERS: dict[PacketType, type[Packet]] = {
    PacketType.PUSH_DATA: PushData,
    PacketType.PUSH_ACK: PushAck,
    PacketType.PULL_DATA: PullData,
    PacketType.PULL_RESP: PullResp,
    PacketType.PULL_ACK: PullAck,
    PacketType.TX_ACK: TxAck,
}


def decode_packet(data: bytes) -> Packet:
    """Decode one datagram; raise only ``MalformedPacket`` subclasses whatever the bytes."""
    header = parse_header(bytes(data))
    return _DECODERS[header.packet_type].from_bytes(bytes(data))
