"""The Semtech UDP packet-forwarder protocol (version 2) as a pure codec.

One module per packet family (header, push_data, push_ack, pull_data, pull_resp, pull_ack,
tx_ack) and per JSON object (rxpk, stat, txpk, txpk_ack). ``decode_packet(data)`` reads any
datagram, ``packet.to_bytes()`` writes it back. Decoding raises only
``services.lorawan.errors.MalformedPacket`` subclasses (see ``services.gateway_bridge.errors``).

Reference: Semtech packet_forwarder PROTOCOL.TXT (Lora-net/packet_forwarder, v1.3 of the
document, protocol version 2) and the SX1302 HAL PROTOCOL.md (``rsig``, ``tmms``, ``jver``).
"""

from __future__ import annotations

from .header import PROTOCOL_VERSION, Header, PacketType, parse_header
from .packet import Packet, decode_packet
from .pull_ack import PullAck
from .pull_data import PullData
from .pull_resp import PullResp
from .push_ack import PushAck
from .push_data import PushData
from .radio import CrcStatus, LoRaDataRate, Modulation
from .rxpk import RSig, RxPk
from .stat import Stat
from .tx_ack import TxAck
from .txpk import TxPk
from .txpk_ack import TxAckError, TxPkAck

__all__ = [
    "PROTOCOL_VERSION",
    "CrcStatus",
    "Header",
    "LoRaDataRate",
    "Modulation",
    "Packet",
    "PacketType",
    "PullAck",
    "PullData",
    "PullResp",
    "PushAck",
    "PushData",
    "RSig",
    "RxPk",
    "Stat",
    "TxAck",
    "TxAckError",
    "TxPk",
    "TxPkAck",
    "decode_packet",
    "parse_header",
]
