"""Radio vocabulary shared by rxpk and txpk: modulation, CRC status, data rate identifiers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

from ..errors import InvalidField, InvalidPacketValue


class Modulation(StrEnum):
    LORA = "LORA"
    FSK = "FSK"
    LR_FHSS = "LR-FHSS"


class CrcStatus(IntEnum):
    """rxpk ``stat``: 1 = CRC OK, -1 = CRC failed, 0 = no CRC."""

    OK = 1
    FAIL = -1
    NO_CRC = 0


_LORA_DATR = re.compile(r"SF([0-9]{1,2})BW([0-9]{1,4})")


@dataclass(frozen=True, slots=True)
class LoRaDataRate:
    """A LoRa data rate identifier such as ``SF7BW125`` (bandwidth in kHz)."""

    spreading_factor: int
    bandwidth_khz: int

    @classmethod
    def parse(cls, text: str) -> LoRaDataRate:
        match = _LORA_DATR.fullmatch(text)
        if match is None:
            raise InvalidField(f"datr: {text!r} is not a LoRa data rate like SF7BW125")
        sf, bw = int(match.group(1)), int(match.group(2))
        if not 5 <= sf <= 12 or bw <= 0:
            raise InvalidField(f"datr: {text!r} out of range (SF5..SF12, BW > 0)")
        return cls(sf, bw)

    @property
    def bandwidth_hz(self) -> int:
        return self.bandwidth_khz * 1000

    def __str__(self) -> str:
        return f"SF{self.spreading_factor}BW{self.bandwidth_khz}"


def read_modulation(value: str | None, what: str) -> Modulation | None:
    if value is None:
        return None
    try:
        return Modulation(value)
    except ValueError as exc:
        raise InvalidField(f"{what}.modu: unknown modulation {value!r}") from exc


def read_datr(obj: dict[str, Any], modu: Modulation | None, what: str) -> str | int | None:
    """``datr`` is a string for LoRa and LR-FHSS and an integer bit rate for FSK."""
    if "datr" not in obj:
        return None
    value = obj["datr"]
    if modu is Modulation.FSK:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 10_000_000:
            raise InvalidField(f"{what}.datr: FSK bit rate must be a positive integer")
        return value
    if not isinstance(value, str):
        raise InvalidField(f"{what}.datr: expected a data rate string, got {value!r}")
    if modu is Modulation.LORA:
        LoRaDataRate.parse(value)
    return value


def check_datr(modu: Modulation | None, datr: str | int | None, what: str) -> None:
    """Check, before encoding, that a model built in code has a data rate of the right kind."""
    if datr is None:
        return
    try:
        read_datr({"datr": datr}, modu, what)
    except InvalidField as exc:
        raise InvalidPacketValue(str(exc)) from exc
