"""Downlink counter reservation for application payloads (pure).

The network server reports, in every ns.up, the next downlink counters it would use
(``n_f_cnt_down`` / ``a_f_cnt_down``: "next value", as the NS session stores them). Application
frames use AFCntDown under LoRaWAN 1.1 and the shared NFCntDown under 1.0.x. The app handler
encrypts each downlink for the counter it reserves::

    f_cnt_down = max(reported next counter, last reserved + 1)

so two downlinks queued between uplinks never share a counter, and a counter the NS has
already moved past is never reserved. If the NS used the counter meanwhile (1.0.x MAC-only
frames share NFCntDown), it answers ns.ack reason "f_cnt_stale" with its current counter, which
becomes the new reported value, and the payload is encrypted again.
"""

from __future__ import annotations

from services.lorawan.version import MacVersion

from ..errors import CounterExhausted

MAX_F_CNT = 0xFFFFFFFF


def uses_a_f_cnt_down(mac_version: str) -> bool:
    """True when application downlinks use AFCntDown (LoRaWAN 1.1), else NFCntDown."""
    return MacVersion.parse(mac_version).is_11


def reported_counter(mac_version: str, n_f_cnt_down: int | None, a_f_cnt_down: int | None) -> int:
    """The NS-reported next counter relevant to application downlinks (0 when unknown)."""
    value = a_f_cnt_down if uses_a_f_cnt_down(mac_version) else n_f_cnt_down
    return value or 0


def next_f_cnt_down(reported: int, last_reserved: int | None) -> int:
    """The counter to reserve: ``max(reported, last_reserved + 1)``; CounterExhausted past
    2**32 - 1 (the session cannot send more application downlinks; the device must rejoin)."""
    if reported < 0 or (last_reserved is not None and last_reserved < 0):
        raise ValueError("counters are non-negative")
    candidate = reported if last_reserved is None else max(reported, last_reserved + 1)
    if candidate > MAX_F_CNT:
        raise CounterExhausted(f"downlink counter exhausted ({candidate} > {MAX_F_CNT})")
    return candidate
