"""``rxpk``: one received RF packet and its metadata (PUSH_DATA, section 4 of PROTOCOL.TXT).

Both layouts are read: the classic single-antenna one (chan, rfch, rssi, lsnr at the top level)
and the SX1302 one with a per-antenna ``rsig`` array.
"""

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
    get_int,
    get_list,
    get_number,
    get_str,
    put,
)
from .radio import CrcStatus, LoRaDataRate, Modulation, check_datr, read_datr, read_modulation

_RSIG_KEYS = frozenset(
    {"ant", "chan", "rssic", "rssis", "rssisd", "lsnr", "ftime", "foff", "fdri", "ftstat"}
)
_RXPK_KEYS = frozenset(
    {
        "jver", "time", "tmms", "tmst", "chan", "rfch", "brd", "freq", "stat", "modu", "datr",
        "codr", "hpw", "rssi", "rssis", "lsnr", "foff", "size", "data", "rsig",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class RSig:
    """Received signal information for one antenna (``rsig`` array element)."""

    ant: int | None = None
    chan: int | None = None
    rssic: int | None = None
    rssis: int | None = None
    rssisd: int | None = None
    lsnr: float | None = None
    ftime: int | None = None
    foff: int | None = None
    fdri: int | None = None
    ftstat: int | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=True)

    @classmethod
    def from_json(cls, obj: object) -> RSig:
        w = "rxpk.rsig[]"
        if not isinstance(obj, dict):
            raise InvalidField(f"{w}: expected an object")
        return cls(
            ant=get_int(obj, "ant", w, 0, U8_MAX),
            chan=get_int(obj, "chan", w, 0, U8_MAX),
            rssic=get_int(obj, "rssic", w),
            rssis=get_int(obj, "rssis", w),
            rssisd=get_int(obj, "rssisd", w, 0),
            lsnr=get_number(obj, "lsnr", w),
            ftime=get_int(obj, "ftime", w),
            foff=get_int(obj, "foff", w),
            fdri=get_int(obj, "fdri", w),
            ftstat=get_int(obj, "ftstat", w, 0, U8_MAX),
            extra=extras(obj, _RSIG_KEYS),
        )

    def to_json(self) -> JSONObject:
        out: JSONObject = {}
        for key in ("ant", "chan", "rssic", "lsnr", "ftime", "rssis", "rssisd", "foff"):
            put(out, key, getattr(self, key))
        put(out, "fdri", self.fdri)
        put(out, "ftstat", self.ftstat)
        out.update(self.extra)
        return out


@dataclass(frozen=True, slots=True)
class RxPk:
    """One uplink RF packet. ``None`` means the field was absent. ``size`` is ``len(data)``."""

    data: bytes
    tmst: int | None = None
    time: str | None = None
    tmms: int | None = None
    freq: float | None = None
    chan: int | None = None
    rfch: int | None = None
    brd: int | None = None
    stat: CrcStatus | None = None
    modu: Modulation | None = None
    datr: str | int | None = None
    codr: str | None = None
    hpw: int | None = None
    rssi: int | None = None
    rssis: int | None = None
    lsnr: float | None = None
    foff: int | None = None
    jver: int | None = None
    rsig: tuple[RSig, ...] | None = None
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
    def from_json(cls, obj: object) -> RxPk:
        w = "rxpk[]"
        if not isinstance(obj, dict):
            raise InvalidField(f"{w}: expected an object")
        text = get_str(obj, "data", w)
        if text is None:
            raise InvalidField(f"{w}.data: missing")
        data = b64decode(text, f"{w}.data")
        size = get_int(obj, "size", w, 0)
        if size is not None and size != len(data):
            raise InvalidField(f"{w}.size: {size} but data holds {len(data)} bytes")
        stat = get_int(obj, "stat", w, -1, 1)
        modu = read_modulation(get_str(obj, "modu", w), w)
        rsig_raw = get_list(obj, "rsig", w)
        return cls(
            data=data,
            tmst=get_int(obj, "tmst", w, 0, U32_MAX),
            time=get_str(obj, "time", w),
            tmms=get_int(obj, "tmms", w, 0),
            freq=get_number(obj, "freq", w, 0.0, FREQ_MAX_MHZ),
            chan=get_int(obj, "chan", w, 0, U8_MAX),
            rfch=get_int(obj, "rfch", w, 0, U8_MAX),
            brd=get_int(obj, "brd", w, 0, U8_MAX),
            stat=None if stat is None else CrcStatus(stat),
            modu=modu,
            datr=read_datr(obj, modu, w),
            codr=get_str(obj, "codr", w),
            hpw=get_int(obj, "hpw", w, 0),
            rssi=get_int(obj, "rssi", w),
            rssis=get_int(obj, "rssis", w),
            lsnr=get_number(obj, "lsnr", w),
            foff=get_int(obj, "foff", w),
            jver=get_int(obj, "jver", w, 0),
            rsig=None if rsig_raw is None else tuple(RSig.from_json(r) for r in rsig_raw),
            extra=extras(obj, _RXPK_KEYS),
        )

    def to_json(self) -> JSONObject:
        check_datr(self.modu, self.datr, "rxpk")
        out: JSONObject = {}
        put(out, "jver", self.jver)
        put(out, "time", self.time)
        put(out, "tmms", self.tmms)
        put(out, "tmst", self.tmst)
        put(out, "chan", self.chan)
        put(out, "rfch", self.rfch)
        put(out, "brd", self.brd)
        put(out, "freq", self.freq)
        put(out, "stat", None if self.stat is None else int(self.stat))
        put(out, "modu", None if self.modu is None else self.modu.value)
        put(out, "datr", self.datr)
        put(out, "codr", self.codr)
        put(out, "hpw", self.hpw)
        put(out, "rssi", self.rssi)
        put(out, "rssis", self.rssis)
        put(out, "lsnr", self.lsnr)
        put(out, "foff", self.foff)
        out["size"] = self.size
        out["data"] = b64encode(self.data)
        if self.rsig is not None:
            out["rsig"] = [r.to_json() for r in self.rsig]
        out.update(self.extra)
        return out
