"""``txpk``: one RF packet for the gateway to emit (PULL_RESP, section 6 of PROTOCOL.TXT)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidField
from ._fields import (
    FREQ_MAX_MHZ,
    U8_MAX,
    U32_MAX,
    JSONObject,
    b64decode,
    b64encode,
    extras,
    get_bool,
    get_int,
    get_number,
    get_str,
    put,
)
from .radio import LoRaDataRate, Modulation, check_datr, read_datr, read_modulation

_KEYS = frozenset(
    {
        "imme", "tmst", "tmms", "time", "freq", "rfch", "ant", "brd", "powe", "modu", "datr",
        "codr", "fdev", "ipol", "prea", "size", "data", "ncrc", "nhdr",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class TxPk:
    """A downlink RF packet. ``None`` means absent (gateway default). ``size`` is ``len(data)``.

    Exactly one of ``imme``, ``tmst``, ``tmms`` (or ``time``) says when to send; the codec
    does not insist, the gateway does.
    """

    data: bytes
    imme: bool | None = None
    tmst: int | None = None
    tmms: int | None = None
    time: str | None = None
    freq: float | None = None
    rfch: int | None = None
    ant: int | None = None
    brd: int | None = None
    powe: int | None = None
    modu: Modulation | None = None
    datr: str | int | None = None
    codr: str | None = None
    fdev: int | None = None
    ipol: bool | None = None
    prea: int | None = None
    ncrc: bool | None = None
    nhdr: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def lora_datr(self) -> LoRaDataRate | None:
        if self.modu is Modulation.LORA and isinstance(self.datr, str):
            return LoRaDataRate.parse(self.datr)
        return None

    @classmethod
    def from_json(cls, obj: object) -> TxPk:
        w = "txpk"
        if not isinstance(obj, dict):
            raise InvalidField(f"{w}: expected an object")
        text = get_str(obj, "data", w)
        if text is None:
            raise InvalidField(f"{w}.data: missing")
        data = b64decode(text, f"{w}.data")
        size = get_int(obj, "size", w, 0)
        if size is not None and size != len(data):
            raise InvalidField(f"{w}.size: {size} but data holds {len(data)} bytes")
        modu = read_modulation(get_str(obj, "modu", w), w)
        return cls(
            data=data,
            imme=get_bool(obj, "imme", w),
            tmst=get_int(obj, "tmst", w, 0, U32_MAX),
            tmms=get_int(obj, "tmms", w, 0),
            time=get_str(obj, "time", w),
            freq=get_number(obj, "freq", w, 0.0, FREQ_MAX_MHZ),
            rfch=get_int(obj, "rfch", w, 0, U8_MAX),
            ant=get_int(obj, "ant", w, 0, U8_MAX),
            brd=get_int(obj, "brd", w, 0, U8_MAX),
            powe=get_int(obj, "powe", w, -128, 127),
            modu=modu,
            datr=read_datr(obj, modu, w),
            codr=get_str(obj, "codr", w),
            fdev=get_int(obj, "fdev", w, 0),
            ipol=get_bool(obj, "ipol", w),
            prea=get_int(obj, "prea", w, 0, 0xFFFF),
            ncrc=get_bool(obj, "ncrc", w),
            nhdr=get_bool(obj, "nhdr", w),
            extra=extras(obj, _KEYS),
        )

    def to_json(self) -> JSONObject:
        check_datr(self.modu, self.datr, "txpk")
        out: JSONObject = {}
        put(out, "imme", self.imme)
        put(out, "tmst", self.tmst)
        put(out, "tmms", self.tmms)
        put(out, "time", self.time)
        put(out, "freq", self.freq)
        put(out, "rfch", self.rfch)
        put(out, "ant", self.ant)
        put(out, "brd", self.brd)
        put(out, "powe", self.powe)
        put(out, "modu", None if self.modu is None else self.modu.value)
        put(out, "datr", self.datr)
        put(out, "codr", self.codr)
        put(out, "fdev", self.fdev)
        put(out, "ipol", self.ipol)
        put(out, "prea", self.prea)
        out["size"] = self.size
        out["data"] = b64encode(self.data)
        put(out, "ncrc", self.ncrc)
        put(out, "nhdr", self.nhdr)
        out.update(self.extra)
        return out
