"""Every error the gateway bridge raises.

Decoding errors subclass :class:`services.lorawan.errors.MalformedPacket`, so an adapter that
already catches the protocol library's errors at its edge also catches these. Errors about
gateways (unknown, no downlink route) are bridge errors, not packet errors.
"""

from __future__ import annotations

from services.lorawan.errors import InvalidParameter, MalformedPacket


class GatewayBridgeError(Exception):
    """Base class of every error raised by ``services.gateway_bridge``."""


class MalformedSemtechPacket(GatewayBridgeError, MalformedPacket):
    """A datagram that is not a valid Semtech UDP packet-forwarder packet."""


class UnsupportedProtocolVersion(MalformedSemtechPacket):
    """The first byte is not a protocol version the codec speaks (1 or 2)."""


class UnknownPacketType(MalformedSemtechPacket):
    """The identifier byte (fourth byte) is not one of PUSH_DATA .. TX_ACK."""


class InvalidJSON(MalformedSemtechPacket):
    """The JSON part is not valid UTF-8 JSON, or its root is not an object."""


class InvalidField(MalformedSemtechPacket):
    """A JSON field of the wrong type, out of range, bad base64, or a size mismatch."""


class InvalidPacketValue(GatewayBridgeError, InvalidParameter):
    """A model built in code holds a value that cannot be encoded (token out of range, ...)."""


class UnknownGateway(GatewayBridgeError):
    """A gateway EUI that is not registered while unknown gateways are refused."""


class NoDownlinkRoute(GatewayBridgeError):
    """A downlink for a gateway that has not sent PULL_DATA yet (no address to send to)."""


class TranslationError(GatewayBridgeError):
    """A decoded packet that cannot become a bus message; ``reason`` is a metric label."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class UnsupportedUplink(TranslationError):
    """An rxpk that cannot become a gw.up message (no frequency, no RSSI, LR-FHSS, ...)."""


class InvalidDownlink(GatewayBridgeError):
    """A gw.down message that cannot become a txpk (no timing, no data rate, ...)."""
