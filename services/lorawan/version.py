"""LoRaWAN MAC (link-layer) versions."""

from __future__ import annotations

from enum import StrEnum

from .errors import InvalidParameter

__all__ = ["MacVersion"]


class MacVersion(StrEnum):
    """A LoRaWAN link-layer version; the value is its dotted name."""

    V1_0_0 = "1.0.0"
    V1_0_1 = "1.0.1"
    V1_0_2 = "1.0.2"
    V1_0_3 = "1.0.3"
    V1_0_4 = "1.0.4"
    V1_1_0 = "1.1.0"

    @property
    def is_11(self) -> bool:
        """True for LoRaWAN 1.1 (split network keys, encrypted FOpts, 1.1 MICs)."""
        return self is MacVersion.V1_1_0

    @classmethod
    def parse(cls, text: str | MacVersion) -> MacVersion:
        """Accept ``1.0.3``, ``1.1``, ``1.1.0``, ``LORAWAN_1_0_3``, ``lorawan-1.1`` ..."""
        if text.__class__ is MacVersion:
            return text
        known = _BY_TEXT.get(text)
        if known is not None:
            return known
        cleaned = str(text).strip().lower().replace("lorawan", "").strip("_- ")
        cleaned = cleaned.replace("_", ".").replace("-", ".")
        if cleaned.count(".") == 1:
            cleaned += ".0"
        try:
            return cls(cleaned)
        except ValueError as exc:
            raise InvalidParameter(f"unknown LoRaWAN MAC version: {text!r}") from exc


_BY_TEXT: dict[str, MacVersion] = {v.value: v for v in MacVersion}
_BY_TEXT.update({"1.1": MacVersion.V1_1_0, "1.0": MacVersion.V1_0_0})
