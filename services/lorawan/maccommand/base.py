"""The common shape of every MAC command, field declarations and the frequency codec.

A MAC command is one CID byte followed by a payload of fixed size (LoRaWAN 1.1 section 5,
LoRaWAN 1.0.4 section 5). Each command and direction is one frozen dataclass that subclasses
:class:`MacCommand` and declares its fields with :func:`uint`, :func:`sint`, :func:`flag` or
:func:`frequency`; the declaration drives validation on construction, ``to_dict`` and
``from_dict``. Bits marked RFU are written as zero and ignored when decoding, as the
specification asks of receivers.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Self

from ..errors import InvalidParameter, MalformedPacket

# Metadata keys of a declared field.
_KIND = "kind"
_RANGE = "range"

# Frequencies travel as a 24-bit little-endian count of 100 Hz steps (LoRaWAN 1.1 section 5.5).
FREQ_STEP_HZ = 100
FREQ_MAX_HZ = ((1 << 24) - 1) * FREQ_STEP_HZ


def uint(bits: int) -> Any:
    """Declare an unsigned integer field of ``bits`` bits."""
    return dataclasses.field(metadata={_KIND: "int", _RANGE: (0, (1 << bits) - 1)})


def sint(low: int, high: int) -> Any:
    """Declare a (possibly signed) integer field with inclusive bounds."""
    return dataclasses.field(metadata={_KIND: "int", _RANGE: (low, high)})


def flag() -> Any:
    """Declare a one-bit boolean field."""
    return dataclasses.field(metadata={_KIND: "bool"})


def frequency() -> Any:
    """Declare a frequency field in Hz (24-bit on the air, see :func:`encode_frequency`)."""
    return dataclasses.field(metadata={_KIND: "freq"})


def check_frequency(name: str, hz: object) -> None:
    """Raise :class:`InvalidParameter` unless ``hz`` can be coded in a 24-bit frequency field."""
    if not isinstance(hz, int) or isinstance(hz, bool):
        raise InvalidParameter(f"{name}: expected an integer number of Hz, got {hz!r}")
    if not 0 <= hz <= FREQ_MAX_HZ:
        raise InvalidParameter(f"{name}: {hz} Hz is outside [0, {FREQ_MAX_HZ}]")
    if hz % FREQ_STEP_HZ:
        raise InvalidParameter(f"{name}: {hz} Hz is not a multiple of {FREQ_STEP_HZ} Hz")


def encode_frequency(hz: int) -> bytes:
    """Three bytes, little-endian, in 100 Hz steps."""
    check_frequency("frequency", hz)
    return (hz // FREQ_STEP_HZ).to_bytes(3, "little")


def decode_frequency(raw: bytes) -> int:
    """The frequency in Hz from its three-byte little-endian wire form."""
    if len(raw) != 3:
        raise MalformedPacket(f"frequency: expected 3 bytes, got {len(raw)}")
    return int.from_bytes(raw, "little") * FREQ_STEP_HZ


def bit(value: int, position: int) -> bool:
    """Whether bit ``position`` of ``value`` is set."""
    return bool((value >> position) & 1)


def bits_of(*flags: bool) -> int:
    """Pack booleans into an integer, the first argument at bit 0."""
    out = 0
    for position, value in enumerate(flags):
        if value:
            out |= 1 << position
    return out


class MacCommand:
    """Base class of every MAC command.

    Subclasses are frozen dataclasses and set ``CID`` (the command identifier), ``UPLINK``
    (True when the command travels from the end-device to the network), ``SIZE`` (payload
    length in bytes) and ``SINCE`` (the first LoRaWAN version that defines it).
    """

    CID: ClassVar[int]
    UPLINK: ClassVar[bool]
    SIZE: ClassVar[int] = 0
    SINCE: ClassVar[str] = "1.0"

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            _check_field(type(self).__name__, f, getattr(self, f.name))

    # -- identity ---------------------------------------------------------------------------

    @classmethod
    def name(cls) -> str:
        """The command name as written in the specification, e.g. ``"LinkADRReq"``."""
        return cls.__name__

    @property
    def command_id(self) -> int:
        """The CID byte of this command."""
        return self.CID

    @property
    def is_uplink(self) -> bool:
        """True when this command travels from the end-device to the network."""
        return self.UPLINK

    # -- bytes ------------------------------------------------------------------------------

    def payload_to_bytes(self) -> bytes:
        """The payload (without the CID). Commands without payload return ``b""``."""
        return b""

    def to_bytes(self) -> bytes:
        """The CID followed by the payload."""
        return bytes([self.command_id]) + self.payload_to_bytes()

    @classmethod
    def from_payload(cls, payload: bytes) -> Self:
        """Decode the payload (without the CID). Subclasses with fields override this."""
        cls._check_size(payload)
        return cls()

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """Decode the CID and the payload of exactly this command."""
        if not data:
            raise MalformedPacket(f"{cls.name()}: empty")
        if data[0] != cls.CID:
            raise MalformedPacket(
                f"{cls.name()}: expected CID 0x{cls.CID:02X}, got 0x{data[0]:02X}"
            )
        return cls.from_payload(bytes(data[1:]))

    @classmethod
    def _check_size(cls, payload: bytes) -> None:
        if len(payload) != cls.SIZE:
            raise MalformedPacket(
                f"{cls.name()}: payload must be {cls.SIZE} bytes, got {len(payload)}"
            )

    # -- plain data -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dictionary: ``{"cid": name, <field>: value, ...}``."""
        out: dict[str, Any] = {"cid": self.name()}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            out[f.name] = getattr(self, f.name)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Inverse of :meth:`to_dict` (the ``"cid"`` key, if present, must match)."""
        name = data.get("cid", cls.name())
        if name != cls.name():
            raise InvalidParameter(f"{cls.name()}: dictionary is for {name!r}")
        names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        missing = [n for n in names if n not in data]
        if missing:
            raise InvalidParameter(f"{cls.name()}: missing fields {missing}")
        return cls(**{n: data[n] for n in names})


class StatusAnswer(MacCommand):
    """An answer whose one-byte payload is status bits, one :func:`flag` field per bit.

    The fields are declared from the highest bit down: the last declared field is bit 0
    (e.g. LinkADRAns declares power, data rate, channel mask for bits 2, 1, 0). RFU bits above
    are written as zero and ignored when decoding.
    """

    SIZE: ClassVar[int] = 1

    @classmethod
    def _flag_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]

    @property
    def all_ack(self) -> bool:
        """True when every status bit is set (the device accepted the whole request)."""
        return all(getattr(self, name) for name in self._flag_names())

    def payload_to_bytes(self) -> bytes:
        return bytes([bits_of(*(getattr(self, n) for n in reversed(self._flag_names())))])

    @classmethod
    def from_payload(cls, payload: bytes) -> Self:
        cls._check_size(payload)
        names = cls._flag_names()
        top = len(names) - 1
        return cls(**{name: bit(payload[0], top - i) for i, name in enumerate(names)})


def _check_field(owner: str, f: dataclasses.Field[Any], value: object) -> None:
    kind = f.metadata.get(_KIND)
    where = f"{owner}.{f.name}"
    if kind == "bool":
        if not isinstance(value, bool):
            raise InvalidParameter(f"{where}: expected a bool, got {value!r}")
    elif kind == "int":
        low, high = f.metadata[_RANGE]
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidParameter(f"{where}: expected an integer, got {value!r}")
        if not low <= value <= high:
            raise InvalidParameter(f"{where}: {value} is outside [{low}, {high}]")
    elif kind == "freq":
        check_frequency(where, value)


def field_bounds(f: dataclasses.Field[Any]) -> tuple[str, tuple[int, int] | None]:
    """The declared kind (``"int"``, ``"bool"``, ``"freq"``, ...) and range of a field."""
    kind = str(f.metadata.get(_KIND, "other"))
    bounds = f.metadata.get(_RANGE)
    return kind, (None if bounds is None else (int(bounds[0]), int(bounds[1])))
