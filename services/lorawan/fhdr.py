"""FHDR: DevAddr | FCtrl | FCnt | FOpts, the frame header of data frames."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from .errors import InvalidParameter, MalformedPacket
from .types import DevAddr

__all__ = ["FHDR", "FCtrl"]


@dataclass(frozen=True, slots=True)
class FCtrl:
    """Frame control byte. The meaning of bits 6 and 4 depends on the direction.

    Uplink: ADR (7), ADRACKReq (6), ACK (5), ClassB (4), FOptsLen (3..0).
    Downlink: ADR (7), RFU (6), ACK (5), FPending (4), FOptsLen (3..0).
    FOptsLen is not stored: it is always the length of :attr:`FHDR.f_opts`.
    """

    adr: bool = False
    adr_ack_req: bool = False
    ack: bool = False
    class_b: bool = False
    f_pending: bool = False
    rfu: bool = False

    def to_byte(self, uplink: bool, f_opts_len: int = 0) -> int:
        b = f_opts_len & 0x0F
        if self.adr:
            b |= 0x80
        if self.ack:
            b |= 0x20
        if uplink:
            if self.adr_ack_req:
                b |= 0x40
            if self.class_b:
                b |= 0x10
        else:
            if self.rfu:
                b |= 0x40
            if self.f_pending:
                b |= 0x10
        return b

    @staticmethod
    def from_byte(value: int, uplink: bool) -> FCtrl:
        """Decode the byte (its FOptsLen bits are ignored here; see FHDR)."""
        return _FCTRL_UP[(value >> 4) & 0x0F] if uplink else _FCTRL_DOWN[(value >> 4) & 0x0F]

    def to_dict(self, uplink: bool) -> dict[str, bool]:
        if uplink:
            return {
                "adr": self.adr,
                "adr_ack_req": self.adr_ack_req,
                "ack": self.ack,
                "class_b": self.class_b,
            }
        return {"adr": self.adr, "rfu": self.rfu, "ack": self.ack, "f_pending": self.f_pending}


_FCTRL_UP = tuple(
    FCtrl(adr=bool(n & 8), adr_ack_req=bool(n & 4), ack=bool(n & 2), class_b=bool(n & 1))
    for n in range(16)
)
_FCTRL_DOWN = tuple(
    FCtrl(adr=bool(n & 8), rfu=bool(n & 4), ack=bool(n & 2), f_pending=bool(n & 1))
    for n in range(16)
)


_ADDR_CACHE: dict[bytes, DevAddr] = {}
_ADDR_CACHE_MAX = 65536


def dev_addr_from_le(raw: bytes) -> DevAddr:
    """DevAddr from its 4 air-order bytes, memoised (a server sees the same devices again)."""
    addr = _ADDR_CACHE.get(raw)
    if addr is None:
        if len(_ADDR_CACHE) >= _ADDR_CACHE_MAX:
            _ADDR_CACHE.clear()
        addr = _ADDR_CACHE[raw] = DevAddr(raw[::-1])
    return addr


@dataclass(slots=True)
class FHDR:
    """Frame header. ``f_cnt`` may hold the full 32-bit counter; only its low 16 bits go on the
    air, and MICs and encryption use the full value. ``f_opts`` holds the raw FOpts bytes (MAC
    commands, encrypted under LoRaWAN 1.1 until :meth:`PhyPayload.decrypt_f_opts`)."""

    dev_addr: DevAddr
    f_ctrl: FCtrl
    f_cnt: int = 0
    f_opts: bytes = b""

    def to_bytes(self, uplink: bool) -> bytes:
        n = len(self.f_opts)
        if n > 15:
            raise InvalidParameter(f"FOpts: at most 15 bytes, got {n}")
        if not 0 <= self.f_cnt <= 0xFFFFFFFF:
            raise InvalidParameter(f"f_cnt {self.f_cnt} does not fit 32 bits")
        return (
            self.dev_addr.value[::-1]
            + bytes((self.f_ctrl.to_byte(uplink, n), self.f_cnt & 0xFF, (self.f_cnt >> 8) & 0xFF))
            + self.f_opts
        )

    @classmethod
    def from_bytes(cls, data: bytes, uplink: bool) -> tuple[FHDR, int]:
        """Decode the FHDR at the start of ``data``; returns it and the number of bytes read."""
        if data.__class__ is not bytes:
            data = bytes(data)
        if len(data) < 7:
            raise MalformedPacket("FHDR: at least 7 bytes required")
        fctrl = data[4]
        end = 7 + (fctrl & 0x0F)
        if len(data) < end:
            raise MalformedPacket("FHDR: FOptsLen exceeds the frame")
        fhdr = cls(
            dev_addr_from_le(data[0:4]),
            (_FCTRL_UP if uplink else _FCTRL_DOWN)[fctrl >> 4],
            data[5] | (data[6] << 8),
            data[7:end],
        )
        return fhdr, end

    def f_opts_commands(self, uplink: bool) -> list[Any]:
        """The MAC commands in FOpts (decrypt them first under 1.1), parsed by
        ``services.lorawan.maccommand.parse_mac_commands``."""
        return parse_mac_commands(self.f_opts, uplink)

    def to_dict(self, uplink: bool) -> dict[str, object]:
        return {
            "dev_addr": str(self.dev_addr),
            "f_ctrl": self.f_ctrl.to_dict(uplink),
            "f_opts_len": len(self.f_opts),
            "f_cnt": self.f_cnt,
            "f_opts": self.f_opts.hex(),
        }


def parse_mac_commands(data: bytes, uplink: bool) -> list[Any]:
    """Parse MAC commands with the maccommand package (imported lazily)."""
    module = importlib.import_module("services.lorawan.maccommand")
    result: list[Any] = list(module.parse_mac_commands(data, uplink))
    return result
