"""MACPayload of the data frames: FHDR | FPort | FRMPayload."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InvalidParameter, MalformedPacket
from .fhdr import FHDR

__all__ = ["MACPayload"]


@dataclass(slots=True)
class MACPayload:
    """FHDR, the optional FPort and the FRMPayload (raw bytes: encrypted on the air).

    ``f_port`` None means no FPort and no FRMPayload. FPort 0 carries MAC commands in the
    FRMPayload, which is then forbidden together with FOpts.
    """

    fhdr: FHDR
    f_port: int | None = None
    frm_payload: bytes = b""

    def validate(self) -> None:
        if self.f_port is None:
            if self.frm_payload:
                raise InvalidParameter("FRMPayload without FPort")
            return
        if not 0 <= self.f_port <= 255:
            raise InvalidParameter(f"f_port {self.f_port} out of range")
        if self.f_port == 0 and self.fhdr.f_opts:
            raise InvalidParameter("FPort 0 together with FOpts is invalid")

    def to_bytes(self, uplink: bool) -> bytes:
        self.validate()
        head = self.fhdr.to_bytes(uplink)
        if self.f_port is None:
            return head
        return head + bytes((self.f_port,)) + self.frm_payload

    @classmethod
    def from_bytes(cls, data: bytes, uplink: bool) -> MACPayload:
        if data.__class__ is not bytes:
            data = bytes(data)
        fhdr, pos = FHDR.from_bytes(data, uplink)
        if len(data) == pos:
            return cls(fhdr)
        f_port = data[pos]
        if f_port == 0 and fhdr.f_opts:
            raise MalformedPacket("FPort 0 together with FOpts is invalid")
        return cls(fhdr, f_port, bytes(data[pos + 1 :]))

    def to_dict(self, uplink: bool) -> dict[str, object]:
        return {
            "fhdr": self.fhdr.to_dict(uplink),
            "f_port": self.f_port,
            "frm_payload": self.frm_payload.hex(),
        }
