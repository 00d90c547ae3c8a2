"""Short-term DER (data extraction rate) and packet loss from frame-counter gaps.

The network only sees the frames it received; the frames it missed show up as gaps in the
frame counter. Over a window of received counters ``c_1 .. c_n`` (in arrival order) the
device sent ``span = (c_n - c_1) mod 2**bits + 1`` frames, so::

    DER = n_distinct / span            packet loss = 1 - DER

Counters wrap at ``2**32`` (full LoRaWAN counters; ``bits=16`` for wire counters). A
counter seen twice (NbTrans repetitions, redeliveries) counts once. Frames lost after the
last received one are invisible until the next reception (standard for network-side ADR).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .plugin import UplinkRecord

F_CNT_BITS = 32


def f_cnt_distance(older: int, newer: int, bits: int = F_CNT_BITS) -> int:
    """Frames from ``older`` to ``newer`` (``newer - older`` modulo the counter size)."""
    return (newer - older) % (1 << bits)


def distinct_in_order(f_cnts: Iterable[int]) -> list[int]:
    """The counters with repetitions removed, first occurrence kept."""
    seen: set[int] = set()
    out: list[int] = []
    for c in f_cnts:
        if c not in seen:
            seen.add(c)
            out.append(c)
    return out


def der_of(f_cnts: Sequence[int], bits: int = F_CNT_BITS) -> tuple[float, int]:
    """(DER, span) of a window of received counters in arrival order; (1.0, n) for n < 2.

    A counter going backwards by more than half the counter space is a rollover; going
    backwards by less (a reset or reordering) restarts the window at that counter.
    """
    cs = distinct_in_order(f_cnts)
    if len(cs) < 2:
        return 1.0, len(cs)
    half = 1 << (bits - 1)
    start = 0
    for i in range(1, len(cs)):
        if f_cnt_distance(cs[i - 1], cs[i], bits) >= half:
            start = i  # went backwards: keep only what follows
    window = cs[start:]
    if len(window) < 2:
        return 1.0, len(window)
    span = f_cnt_distance(window[0], window[-1], bits) + 1
    return min(1.0, len(window) / span), span


def packet_loss_pct(history: Sequence[UplinkRecord], bits: int = F_CNT_BITS) -> float:
    """Packet loss over the history in percent (0 when fewer than two records)."""
    der, _span = der_of([r.f_cnt for r in history], bits)
    return (1.0 - der) * 100.0


def window_by_span(f_cnts: Sequence[int], span: int, bits: int = F_CNT_BITS) -> list[int]:
    """The received counters within the last ``span`` counter values (sliding FCnt window)."""
    cs = distinct_in_order(f_cnts)
    if not cs:
        return []
    last = cs[-1]
    half = 1 << (bits - 1)
    return [c for c in cs if f_cnt_distance(c, last, bits) < min(span, half)]
