"""Which ledger channel and contract a record goes to (pure).

* device records   -> ``device-ledger``  (contract ``device``), shared by every zone;
* network records  -> ``network-ledger`` (contract ``network``), shared by every zone;
* application      -> ``app-<zone>``     (contract ``application``), one channel per zone.
"""

from __future__ import annotations

import re

DEVICE_CHANNEL = "device-ledger"
NETWORK_CHANNEL = "network-ledger"
APP_CHANNEL_PREFIX = "app-"
CONTRACT_OF = {"device": "device", "network": "network", "application": "application"}

_BAD = re.compile(r"[^a-z0-9.-]+")


def zone_slug(zone: str) -> str:
    """A zone name as it may appear in a Fabric channel name (lower case, [a-z0-9.-])."""
    slug = _BAD.sub("-", zone.strip().lower()).strip("-.")
    if not slug:
        raise ValueError(f"zone {zone!r} has no usable characters for a channel name")
    return slug


def ledger_channel(channel: str, zone: str) -> str:
    """The ledger channel of a record of ``channel`` kind stored in ``zone``."""
    if channel == "device":
        return DEVICE_CHANNEL
    if channel == "network":
        return NETWORK_CHANNEL
    if channel == "application":
        return APP_CHANNEL_PREFIX + zone_slug(zone)
    raise ValueError(f"unknown ledger channel kind {channel!r}")


def zone_of_channel(ledger_channel_name: str) -> str | None:
    """The zone of an application channel (``app-<zone>``), None for the shared ledgers."""
    if ledger_channel_name.startswith(APP_CHANNEL_PREFIX):
        return ledger_channel_name[len(APP_CHANNEL_PREFIX) :]
    return None
