"""Gateway timestamps (``tmst``) from simulated time, and class A receive-window matching.

A Semtech packet forwarder stamps every received frame with ``tmst``, its free-running 1 MHz
counter at the end of the reception (32 bits, wrapping every 71.6 minutes), and the network
server answers class A uplinks with ``txpk.tmst = tmst + delay * 1e6 (mod 2**32)``. In live
mode the counter of each simulated gateway runs on *simulated* time, so the server's
tmst-based scheduling stays consistent whatever the speed factor: a downlink belongs to the
receive window its ``tmst`` names, whenever its PULL_RESP arrives on the wall clock.

Pure functions only.
"""

from __future__ import annotations

from typing import Literal

US = 1_000_000
U32 = 1 << 32
HALF = 1 << 31

Window = Literal["rx1", "rx2"]


def tmst_at(offset: int, t_s: float) -> int:
    """The 32-bit counter of a gateway whose counter read ``offset`` at simulated time 0."""
    return (offset + round(t_s * US)) % U32


def tmst_delta(later: int, earlier: int) -> int:
    """Signed microseconds from ``earlier`` to ``later`` across one 32-bit wrap: the result
    lies in [-2**31, 2**31)."""
    d = (later - earlier) % U32
    return d - U32 if d >= HALF else d


def sim_time_of(tmst: int, ref_tmst: int, ref_s: float) -> float:
    """Simulated time of ``tmst`` on the gateway that stamped ``ref_tmst`` at ``ref_s``."""
    return ref_s + tmst_delta(tmst, ref_tmst) / US


def match_window(
    txpk_tmst: int, uplink_tmst: int, rx1_delay_s: float, tolerance_us: int = 0
) -> Window | None:
    """Which receive window of an uplink stamped ``uplink_tmst`` a downlink at ``txpk_tmst``
    falls in: RX1 opens ``rx1_delay_s`` after the end of the uplink, RX2 one second later
    (``rx1_delay_s`` is JOIN_ACCEPT_DELAY1 for a join request). None: neither window."""
    d = tmst_delta(txpk_tmst, uplink_tmst)
    rx1 = round(rx1_delay_s * US)
    if abs(d - rx1) <= tolerance_us:
        return "rx1"
    if abs(d - rx1 - US) <= tolerance_us:
        return "rx2"
    return None
