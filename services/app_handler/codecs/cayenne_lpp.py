"""Cayenne Low Power Payload (LPP): a list of ``channel | type | value`` records.

Each record is one byte of channel, one byte of data type (the IPSO object id minus 3200) and a
fixed-size big-endian value. The decoded form is ``{"measurements": [{"channel": 3, "type":
"temperature", "value": 27.2}, ...]}`` in payload order; vector types (accelerometer,
gyrometer, GPS) give an object as ``value``. ``encode`` takes the same form (a type may also be
given by its number) and is the exact inverse of ``decode`` for values on each type's grid.

Types and resolutions (Cayenne LPP documentation, myDevices):

======  ==============  =====  ==========================================
 type    name           bytes  value
======  ==============  =====  ==========================================
 0       digital_input     1   unsigned
 1       digital_output    1   unsigned
 2       analog_input      2   0.01, signed
 3       analog_output     2   0.01, signed
 101     illuminance       2   1 lux, unsigned
 102     presence          1   unsigned
 103     temperature       2   0.1 degC, signed
 104     humidity          1   0.5 %, unsigned
 113     accelerometer     6   x, y, z: 0.001 G, signed
 115     barometer         2   0.1 hPa, unsigned
 134     gyrometer         6   x, y, z: 0.01 deg/s, signed
 136     gps               9   latitude, longitude: 0.0001 deg; altitude: 0.01 m; signed
======  ==============  =====  ==========================================
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import CodecError


@dataclass(frozen=True, slots=True)
class _Field:
    key: str | None  # None: the measurement's value is this number itself
    size: int  # bytes, big-endian
    divisor: int  # value = raw / divisor
    signed: bool

    @property
    def bounds(self) -> tuple[int, int]:
        bits = 8 * self.size
        if self.signed:
            return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        return 0, (1 << bits) - 1


@dataclass(frozen=True, slots=True)
class LppType:
    type_id: int
    name: str
    fields: tuple[_Field, ...]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.fields)


def _scalar(type_id: int, name: str, size: int, divisor: int, signed: bool) -> LppType:
    return LppType(type_id, name, (_Field(None, size, divisor, signed),))


def _xyz(type_id: int, name: str, divisor: int) -> LppType:
    return LppType(type_id, name, tuple(_Field(k, 2, divisor, True) for k in ("x", "y", "z")))


TYPES: tuple[LppType, ...] = (
    _scalar(0, "digital_input", 1, 1, False),
    _scalar(1, "digital_output", 1, 1, False),
    _scalar(2, "analog_input", 2, 100, True),
    _scalar(3, "analog_output", 2, 100, True),
    _scalar(101, "illuminance", 2, 1, False),
    _scalar(102, "presence", 1, 1, False),
    _scalar(103, "temperature", 2, 10, True),
    _scalar(104, "humidity", 1, 2, False),
    _xyz(113, "accelerometer", 1000),
    _scalar(115, "barometer", 2, 10, False),
    _xyz(134, "gyrometer", 100),
    LppType(
        136,
        "gps",
        (
            _Field("latitude", 3, 10_000, True),
            _Field("longitude", 3, 10_000, True),
            _Field("altitude", 3, 100, True),
        ),
    ),
)
BY_ID: dict[int, LppType] = {t.type_id: t for t in TYPES}
BY_NAME: dict[str, LppType] = {t.name: t for t in TYPES}


def _number(raw: int, divisor: int) -> int | float:
    return raw if divisor == 1 else raw / divisor


def _decode_record(t: LppType, data: bytes, pos: int) -> Any:
    values: dict[str, int | float] = {}
    for f in t.fields:
        raw = int.from_bytes(data[pos : pos + f.size], "big", signed=f.signed)
        pos += f.size
        if f.key is None:
            return _number(raw, f.divisor)
        values[f.key] = _number(raw, f.divisor)
    return values


def _raw_value(t: LppType, f: _Field, value: Any) -> int:
    what = f"{t.name}" + (f".{f.key}" if f.key else "")
    if isinstance(value, bool):
        value = int(value)
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise CodecError(f"cayenne_lpp: {what}: expected a number, got {value!r}")
    raw = round(value * f.divisor)
    low, high = f.bounds
    if not low <= raw <= high:
        raise CodecError(
            f"cayenne_lpp: {what}: {value!r} out of range "
            f"[{_number(low, f.divisor)}, {_number(high, f.divisor)}]"
        )
    return raw


def _lpp_type(spec: Any) -> LppType:
    t = BY_ID.get(spec) if isinstance(spec, int) and not isinstance(spec, bool) else None
    if t is None and isinstance(spec, str):
        t = BY_NAME.get(spec)
    if t is None:
        raise CodecError(f"cayenne_lpp: unknown data type {spec!r}")
    return t


class CayenneLppCodec:
    name = "cayenne_lpp"

    def decode(self, f_port: int | None, data: bytes) -> dict[str, Any]:
        measurements: list[dict[str, Any]] = []
        pos = 0
        while pos < len(data):
            if pos + 2 > len(data):
                raise CodecError(f"cayenne_lpp: truncated record header at byte {pos}")
            channel, type_id = data[pos], data[pos + 1]
            t = BY_ID.get(type_id)
            if t is None:
                raise CodecError(f"cayenne_lpp: unknown data type {type_id} at byte {pos + 1}")
            if pos + 2 + t.size > len(data):
                raise CodecError(
                    f"cayenne_lpp: {t.name} on channel {channel} needs {t.size} bytes, "
                    f"{len(data) - pos - 2} left"
                )
            value = _decode_record(t, data, pos + 2)
            measurements.append({"channel": channel, "type": t.name, "value": value})
            pos += 2 + t.size
        return {"measurements": measurements}

    def encode(self, f_port: int | None, obj: Mapping[str, Any] | Sequence[Any]) -> bytes:
        items = obj.get("measurements") if isinstance(obj, Mapping) else obj
        if not isinstance(items, Sequence) or isinstance(items, str | bytes):
            raise CodecError("cayenne_lpp: expected {'measurements': [...]}")
        out = bytearray()
        for i, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise CodecError(f"cayenne_lpp: measurement {i} is not an object")
            channel = item.get("channel")
            if isinstance(channel, bool) or not isinstance(channel, int) or not 0 <= channel <= 255:
                raise CodecError(f"cayenne_lpp: measurement {i}: channel must be 0..255")
            t = _lpp_type(item.get("type"))
            value = item.get("value")
            out += bytes((channel, t.type_id))
            for f in t.fields:
                if f.key is None:
                    field_value = value
                else:
                    if not isinstance(value, Mapping) or f.key not in value:
                        raise CodecError(
                            f"cayenne_lpp: measurement {i} ({t.name}): value needs {f.key!r}"
                        )
                    field_value = value[f.key]
                raw = _raw_value(t, f, field_value)
                out += raw.to_bytes(f.size, "big", signed=f.signed)
        return bytes(out)
