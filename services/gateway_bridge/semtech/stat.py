"""``stat``: the gateway status report carried by PUSH_DATA (section 4 of PROTOCOL.TXT)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidField
from ._fields import JSONObject, extras, get_int, get_number, get_str, put

_COUNTERS = ("rxnb", "rxok", "rxfw", "dwnb", "txnb", "lmok", "lmst", "lmnw", "lpps")
_KEYS = frozenset(
    {"time", "boot", "lati", "long", "alti", "ackr", "temp", "fpga", "dsp", "hal", *_COUNTERS}
)


@dataclass(frozen=True, slots=True)
class Stat:
    """Gateway status; ``None`` means absent. ``time`` is kept as sent ("2014-01-12 08:59:28 GMT").

    Counters are unsigned; ``lati``/``long`` in degrees, ``alti`` in metres, ``ackr`` in percent.
    """

    time: str | None = None
    boot: str | None = None
    lati: float | None = None
    long: float | None = None
    alti: int | None = None
    rxnb: int | None = None
    rxok: int | None = None
    rxfw: int | None = None
    ackr: float | None = None
    dwnb: int | None = None
    txnb: int | None = None
    lmok: int | None = None
    lmst: int | None = None
    lmnw: int | None = None
    lpps: int | None = None
    temp: float | None = None
    fpga: int | None = None
    dsp: int | None = None
    hal: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, obj: object) -> Stat:
        w = "stat"
        if not isinstance(obj, dict):
            raise InvalidField(f"{w}: expected an object")
        counters = {key: get_int(obj, key, w, 0) for key in _COUNTERS}
        return cls(
            time=get_str(obj, "time", w),
            boot=get_str(obj, "boot", w),
            lati=get_number(obj, "lati", w, -90.0, 90.0),
            long=get_number(obj, "long", w, -180.0, 180.0),
            alti=get_int(obj, "alti", w),
            ackr=get_number(obj, "ackr", w, 0.0, 100.0),
            temp=get_number(obj, "temp", w),
            fpga=get_int(obj, "fpga", w, 0),
            dsp=get_int(obj, "dsp", w, 0),
            hal=get_str(obj, "hal", w),
            extra=extras(obj, _KEYS),
            **counters,
        )

    def to_json(self) -> JSONObject:
        out: JSONObject = {}
        for key in (
            "time", "boot", "lati", "long", "alti", "rxnb", "rxok", "rxfw", "ackr", "dwnb",
            "txnb", "lmok", "lmst", "lmnw", "lpps", "temp", "fpga", "dsp", "hal",
        ):  # fmt: skip
            put(out, key, getattr(self, key))
        out.update(self.extra)
        return out
