"""LoRaWAN regional parameters (RP002-1.0.4) as data tables behind one interface.

``get_region("EU868")`` (case-insensitive, common aliases such as ``"EU863-870"`` accepted)
returns a :class:`Region`; unknown names raise :class:`UnsupportedRegion`.
"""

from __future__ import annotations

from ..errors import UnsupportedRegion
from .as923 import AS923, AS923_2, AS923_3, AS923_4
from .au915 import AU915
from .base import (
    ADR_ACK_DELAY,
    ADR_ACK_LIMIT,
    JOIN_ACCEPT_DELAY1_S,
    JOIN_ACCEPT_DELAY2_S,
    MAX_FCNT_GAP,
    RECEIVE_DELAY1_S,
    RECEIVE_DELAY2_S,
    Channel,
    DataRate,
    DynamicChannelRegion,
    FixedChannelRegion,
    MaxPayload,
    Modulation,
    PayloadRow,
    Region,
    SubBand,
)
from .eu868 import EU868
from .in865 import IN865
from .kr920 import KR920
from .us915 import US915

__all__ = [
    "ADR_ACK_DELAY",
    "ADR_ACK_LIMIT",
    "JOIN_ACCEPT_DELAY1_S",
    "JOIN_ACCEPT_DELAY2_S",
    "MAX_FCNT_GAP",
    "RECEIVE_DELAY1_S",
    "RECEIVE_DELAY2_S",
    "REGIONS",
    "Channel",
    "DataRate",
    "DynamicChannelRegion",
    "FixedChannelRegion",
    "MaxPayload",
    "Modulation",
    "PayloadRow",
    "Region",
    "SubBand",
    "get_region",
    "list_regions",
]

REGIONS: dict[str, Region] = {
    r.name: r for r in (EU868, US915, AU915, AS923, AS923_2, AS923_3, AS923_4, IN865, KR920)
}

_LOOKUP: dict[str, Region] = {}
for _region in REGIONS.values():
    for _name in (_region.name, *_region.aliases):
        _LOOKUP[_name.upper()] = _region


def get_region(name: str) -> Region:
    """The region called ``name`` (case-insensitive); UnsupportedRegion if unknown."""
    try:
        return _LOOKUP[name.strip().upper()]
    except (KeyError, AttributeError):
        raise UnsupportedRegion(f"unsupported region {name!r}") from None


def list_regions() -> list[str]:
    """Canonical names of every supported region."""
    return list(REGIONS)
