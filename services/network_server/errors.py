"""Errors of the network server (besides the protocol errors of services.lorawan.errors).

Every rejection of a frame is a :class:`services.lorawan.errors.LoRaWANError` subclass, so the
adapter catches exactly that family at its edge, logs it with context and counts it.
"""

from __future__ import annotations

from services.lorawan.errors import LoRaWANError, MalformedPacket


class UnknownDevAddr(LoRaWANError):
    """No device session uses the DevAddr of a data uplink."""


class NotAnUplink(MalformedPacket):
    """A frame on gw.up that is not an uplink the network server handles (JoinAccept,
    downlink data, proprietary)."""


class DownlinkNotPossible(LoRaWANError):
    """No gateway copy with a concentrator timestamp, or no valid receive window."""
