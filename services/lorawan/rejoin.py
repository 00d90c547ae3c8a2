"""Rejoin-request payloads (LoRaWAN 1.1), types 0, 1 and 2."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InvalidParameter, MalformedPacket
from .types import EUI64, NetID

__all__ = ["RejoinRequestPayload"]


@dataclass(frozen=True, slots=True)
class RejoinRequestPayload:
    """Type 0/2: RejoinType | NetID | DevEUI | RJcount0 (MIC with SNwkSIntKey).
    Type 1: RejoinType | JoinEUI | DevEUI | RJcount1 (MIC with JSIntKey).

    ``net_id`` is set for types 0 and 2, ``join_eui`` for type 1; ``rj_count`` is RJcount0 or
    RJcount1 accordingly.
    """

    rejoin_type: int
    dev_eui: EUI64
    rj_count: int
    net_id: NetID | None = None
    join_eui: EUI64 | None = None

    def to_bytes(self) -> bytes:
        if not 0 <= self.rj_count <= 0xFFFF:
            raise InvalidParameter(f"rj_count {self.rj_count} does not fit 16 bits")
        cnt = self.rj_count.to_bytes(2, "little")
        if self.rejoin_type in (0, 2):
            if self.net_id is None:
                raise InvalidParameter("rejoin-request type 0/2 needs net_id")
            return bytes((self.rejoin_type,)) + self.net_id.to_le() + self.dev_eui.to_le() + cnt
        if self.rejoin_type == 1:
            if self.join_eui is None:
                raise InvalidParameter("rejoin-request type 1 needs join_eui")
            return b"\x01" + self.join_eui.to_le() + self.dev_eui.to_le() + cnt
        raise InvalidParameter(f"unknown rejoin type {self.rejoin_type}")

    @classmethod
    def from_bytes(cls, data: bytes) -> RejoinRequestPayload:
        if not data:
            raise MalformedPacket("rejoin-request: empty payload")
        t = data[0]
        if t in (0, 2):
            if len(data) != 14:
                raise MalformedPacket(f"rejoin-request type {t}: expected 14 bytes")
            return cls(
                t, EUI64(data[11:3:-1]), data[12] | (data[13] << 8), net_id=NetID(data[3:0:-1])
            )
        if t == 1:
            if len(data) != 19:
                raise MalformedPacket("rejoin-request type 1: expected 19 bytes")
            return cls(
                1, EUI64(data[16:8:-1]), data[17] | (data[18] << 8), join_eui=EUI64(data[8:0:-1])
            )
        raise MalformedPacket(f"rejoin-request: unknown rejoin type {t}")

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"rejoin_type": self.rejoin_type}
        if self.rejoin_type == 1:
            d["join_eui"] = str(self.join_eui)
        else:
            d["net_id"] = str(self.net_id)
        d["dev_eui"] = str(self.dev_eui)
        d["rj_count"] = self.rj_count
        return d
