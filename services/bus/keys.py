"""Partition keys and the partitioner.

``partition_for`` is Kafka's default partitioner for keyed records (murmur2 of the UTF-8 key,
sign bit cleared, modulo the partition count; the Java client's ``Utils.murmur2`` as
re-implemented by aiokafka), so the in-process bus and Kafka put a key on the same partition.

``key_for_uplink`` reads the routing identifier straight from PHYPayload bytes without decoding
the frame (no MIC check, no crypto): DevAddr for data frames, DevEUI for JoinRequest and
RejoinRequest. It never raises anything but UnroutableFrame.
"""

from __future__ import annotations

from aiokafka.partitioner import murmur2  # type: ignore[import-untyped]

from .errors import UnroutableFrame

# MType (MHDR bits 7..5)
_JOIN_REQUEST = 0
_JOIN_ACCEPT = 1
_UNCONFIRMED_UP = 2
_UNCONFIRMED_DOWN = 3
_CONFIRMED_UP = 4
_CONFIRMED_DOWN = 5
_REJOIN_REQUEST = 6
_PROPRIETARY = 7

_JOIN_REQUEST_LEN = 23  # MHDR | JoinEUI 8 | DevEUI 8 | DevNonce 2 | MIC 4
_REJOIN_02_LEN = 19  # MHDR | type | NetID 3 | DevEUI 8 | RJcount0 2 | MIC 4
_REJOIN_1_LEN = 24  # MHDR | type | JoinEUI 8 | DevEUI 8 | RJcount1 2 | MIC 4
_DATA_MIN_LEN = 12  # MHDR | DevAddr 4 | FCtrl | FCnt 2 | MIC 4


def partition_for(key: str | bytes, n_partitions: int) -> int:
    """The partition of ``key`` among ``n_partitions`` (Kafka-compatible murmur2)."""
    if n_partitions < 1:
        raise ValueError("n_partitions must be >= 1")
    data = key.encode() if isinstance(key, str) else key
    return (int(murmur2(data)) & 0x7FFFFFFF) % n_partitions


def _le_hex(raw: bytes) -> str:
    return raw[::-1].hex().upper()


def key_for_uplink(phy_payload: bytes) -> str:
    """DevAddr (8 hex) of a data frame or DevEUI (16 hex) of a (re)join request.

    Raises UnroutableFrame for JoinAccept, proprietary frames, a non-zero Major, and any frame
    too short (or of an unknown rejoin type) to hold the identifier.
    """
    if not isinstance(phy_payload, bytes | bytearray | memoryview):
        raise UnroutableFrame("PHYPayload must be bytes")
    data = bytes(phy_payload)
    if not data:
        raise UnroutableFrame("empty PHYPayload")
    mhdr = data[0]
    if mhdr & 0x03 != 0:
        raise UnroutableFrame(f"unknown LoRaWAN major {mhdr & 0x03}")
    mtype = mhdr >> 5
    if mtype in (_UNCONFIRMED_UP, _CONFIRMED_UP, _UNCONFIRMED_DOWN, _CONFIRMED_DOWN):
        if len(data) < _DATA_MIN_LEN:
            raise UnroutableFrame(f"data frame too short: {len(data)} bytes")
        return _le_hex(data[1:5])
    if mtype == _JOIN_REQUEST:
        if len(data) != _JOIN_REQUEST_LEN:
            raise UnroutableFrame(f"JoinRequest must be 23 bytes, got {len(data)}")
        return _le_hex(data[9:17])
    if mtype == _REJOIN_REQUEST:
        if len(data) < 2:
            raise UnroutableFrame("RejoinRequest too short")
        rejoin_type = data[1]
        if rejoin_type in (0, 2) and len(data) == _REJOIN_02_LEN:
            return _le_hex(data[5:13])
        if rejoin_type == 1 and len(data) == _REJOIN_1_LEN:
            return _le_hex(data[10:18])
        raise UnroutableFrame(f"RejoinRequest type {rejoin_type} of {len(data)} bytes")
    kind = "JoinAccept" if mtype == _JOIN_ACCEPT else "proprietary frame"
    raise UnroutableFrame(f"{kind} carries no routing identifier")


def key_for_uplink_or(phy_payload: bytes, fallback: str) -> str:
    """key_for_uplink, or ``fallback`` (use the gateway EUI) when the frame is unroutable."""
    try:
        return key_for_uplink(phy_payload)
    except UnroutableFrame:
        return fallback
