"""Join-request and join-accept payloads (with DLSettings and CFList)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import InvalidParameter, MalformedPacket
from .types import EUI64, DevAddr, NetID

__all__ = [
    "CFList",
    "DLSettings",
    "EncryptedJoinAcceptPayload",
    "JoinAcceptPayload",
    "JoinRequestPayload",
]


@dataclass(frozen=True, slots=True)
class JoinRequestPayload:
    """JoinEUI | DevEUI | DevNonce (18 bytes, each little-endian on the air)."""

    join_eui: EUI64
    dev_eui: EUI64
    dev_nonce: int

    SIZE = 18

    def to_bytes(self) -> bytes:
        if not 0 <= self.dev_nonce <= 0xFFFF:
            raise InvalidParameter(f"dev_nonce {self.dev_nonce} does not fit 16 bits")
        return self.join_eui.to_le() + self.dev_eui.to_le() + self.dev_nonce.to_bytes(2, "little")

    @classmethod
    def from_bytes(cls, data: bytes) -> JoinRequestPayload:
        if len(data) != 18:
            raise MalformedPacket(f"join-request payload: expected 18 bytes, got {len(data)}")
        return cls(EUI64(data[7::-1]), EUI64(data[15:7:-1]), data[16] | (data[17] << 8))

    def to_dict(self) -> dict[str, object]:
        return {
            "join_eui": str(self.join_eui),
            "dev_eui": str(self.dev_eui),
            "dev_nonce": self.dev_nonce,
        }


@dataclass(frozen=True, slots=True)
class DLSettings:
    """OptNeg (bit 7, LoRaWAN 1.1; RFU in 1.0), RX1DROffset (6..4), RX2DataRate (3..0)."""

    opt_neg: bool = False
    rx1_dr_offset: int = 0
    rx2_dr: int = 0

    def to_byte(self) -> int:
        if not 0 <= self.rx1_dr_offset <= 7 or not 0 <= self.rx2_dr <= 15:
            raise InvalidParameter("DLSettings: rx1_dr_offset 0..7, rx2_dr 0..15")
        return (0x80 if self.opt_neg else 0) | (self.rx1_dr_offset << 4) | self.rx2_dr

    @classmethod
    def from_byte(cls, value: int) -> DLSettings:
        return cls(bool(value & 0x80), (value >> 4) & 0x07, value & 0x0F)

    def to_dict(self) -> dict[str, object]:
        return {"opt_neg": self.opt_neg, "rx1_dr_offset": self.rx1_dr_offset, "rx2_dr": self.rx2_dr}


@dataclass(frozen=True, slots=True)
class CFList:
    """The optional 16-byte channel-frequency list of a join-accept.

    * type 0: five frequencies in Hz (3 bytes each, in units of 100 Hz; 0 = no channel);
    * type 1: channel masks, six 16-bit ChMask values (unused ones 0) and 3 RFU bytes;
    * other types: the 15 bytes are kept in ``rfu`` untouched.
    """

    cf_list_type: int = 0
    frequencies: tuple[int, ...] = ()
    ch_masks: tuple[int, ...] = ()
    rfu: bytes = b""

    def to_bytes(self) -> bytes:
        if self.cf_list_type == 0:
            if len(self.frequencies) > 5:
                raise InvalidParameter("CFList type 0: at most 5 frequencies")
            out = bytearray()
            for f in self.frequencies:
                if f % 100 or not 0 <= f // 100 <= 0xFFFFFF:
                    raise InvalidParameter(f"CFList frequency {f} Hz is not encodable")
                out += (f // 100).to_bytes(3, "little")
            out += bytes(15 - len(out))
        elif self.cf_list_type == 1:
            if len(self.ch_masks) > 6 or len(self.rfu) > 15 - 2 * len(self.ch_masks):
                raise InvalidParameter("CFList type 1: at most 6 channel masks")
            out = bytearray()
            for m in self.ch_masks:
                if not 0 <= m <= 0xFFFF:
                    raise InvalidParameter(f"ChMask {m} does not fit 16 bits")
                out += m.to_bytes(2, "little")
            out += self.rfu
            out += bytes(15 - len(out))
        else:
            if len(self.rfu) != 15 or not 0 <= self.cf_list_type <= 255:
                raise InvalidParameter("CFList of an unknown type: 15 raw bytes required")
            out = bytearray(self.rfu)
        return bytes(out) + bytes((self.cf_list_type,))

    @classmethod
    def from_bytes(cls, data: bytes) -> CFList:
        if len(data) != 16:
            raise MalformedPacket("CFList: expected 16 bytes")
        t = data[15]
        if t == 0:
            freqs = tuple(int.from_bytes(data[i : i + 3], "little") * 100 for i in range(0, 15, 3))
            return cls(0, frequencies=freqs)
        if t == 1:
            masks = tuple(data[i] | (data[i + 1] << 8) for i in range(0, 12, 2))
            return cls(1, ch_masks=masks, rfu=bytes(data[12:15]))
        return cls(t, rfu=bytes(data[:15]))

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"cf_list_type": self.cf_list_type}
        if self.cf_list_type == 0:
            d["frequencies"] = list(self.frequencies)
        elif self.cf_list_type == 1:
            d["ch_masks"] = [f"{m:04x}" for m in self.ch_masks]
            d["rfu"] = self.rfu.hex()
        else:
            d["rfu"] = self.rfu.hex()
        return d


@dataclass(frozen=True, slots=True)
class JoinAcceptPayload:
    """JoinNonce | NetID | DevAddr | DLSettings | RxDelay | CFList (decrypted form)."""

    join_nonce: int
    net_id: NetID
    dev_addr: DevAddr
    dl_settings: DLSettings = field(default_factory=DLSettings)
    rx_delay: int = 0
    cf_list: CFList | None = None

    def to_bytes(self) -> bytes:
        if not 0 <= self.join_nonce <= 0xFFFFFF:
            raise InvalidParameter(f"join_nonce {self.join_nonce} does not fit 24 bits")
        if not 0 <= self.rx_delay <= 0xFF:
            raise InvalidParameter(f"rx_delay {self.rx_delay} does not fit a byte")
        out = (
            self.join_nonce.to_bytes(3, "little")
            + self.net_id.to_le()
            + self.dev_addr.to_le()
            + bytes((self.dl_settings.to_byte(), self.rx_delay))
        )
        if self.cf_list is not None:
            out += self.cf_list.to_bytes()
        return out

    @classmethod
    def from_bytes(cls, data: bytes) -> JoinAcceptPayload:
        if len(data) not in (12, 28):
            raise MalformedPacket(f"join-accept payload: expected 12 or 28 bytes, got {len(data)}")
        return cls(
            int.from_bytes(data[0:3], "little"),
            NetID(data[5:2:-1]),
            DevAddr(data[9:5:-1]),
            DLSettings.from_byte(data[10]),
            data[11],
            CFList.from_bytes(data[12:28]) if len(data) == 28 else None,
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "join_nonce": self.join_nonce,
            "net_id": str(self.net_id),
            "dev_addr": str(self.dev_addr),
            "dl_settings": self.dl_settings.to_dict(),
            "rx_delay": self.rx_delay,
            "cf_list": None if self.cf_list is None else self.cf_list.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class EncryptedJoinAcceptPayload:
    """A join-accept as received: encrypted bytes (without the 4 encrypted MIC bytes, which the
    PhyPayload keeps in ``mic``) until :meth:`PhyPayload.decrypt_join_accept_payload`."""

    data: bytes

    def to_bytes(self) -> bytes:
        return self.data

    def to_dict(self) -> dict[str, object]:
        return {"encrypted": self.data.hex()}
