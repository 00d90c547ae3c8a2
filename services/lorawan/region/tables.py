"""Rows that several regions share (RP002-1.0.4), and the RX1 data-rate rule as a formula.

The SF12..SF7 ladder at 125 kHz (DR0..DR5) is the same in EU868, AS923, IN865, KR920 and
AU915, and US915/AU915 share their 500 kHz downlink rates DR8..DR13. Each region module
composes its tables from these instead of spelling the rows out again.
"""

from __future__ import annotations

from collections.abc import Iterable

from .base import DataRate, PayloadRow, lora

# DR0..DR5: spreading factor and maximum MACPayload size M (no dwell-time limit).
_LADDER_125K = ((12, 59), (11, 59), (10, 59), (9, 123), (8, 250), (7, 250))
# M with the 400 ms dwell-time limit (AS923, AU915 uplinks): None = not allowed.
_LADDER_125K_DWELL = (None, None, 19, 61, 133, 250)

# DR8..DR13: the 500 kHz downlink rates of US915 and AU915 (SF, M, M repeater).
_DOWNLINK_500K = (
    (12, 61, 41),
    (11, 137, 117),
    (10, 250, 230),
    (9, 250, 230),
    (8, 250, 230),
    (7, 250, 230),
)


def _repeater(m: int) -> int:
    """M when repeater-compatible: 230 where M is 250, else M."""
    return 230 if m == 250 else m


def lora_125k_ladder(*, down: bool = True) -> tuple[DataRate, ...]:
    """DR0..DR5, SF12..SF7 at 125 kHz."""
    return tuple(lora(dr, sf, 125_000, m, down=down) for dr, (sf, m) in enumerate(_LADDER_125K))


def payload_rows_125k(*, dwell: bool = False) -> tuple[PayloadRow, ...]:
    """Payload rows of DR0..DR5; with ``dwell`` also the dwell-time-limited columns."""
    rows = []
    for dr, (_sf, m) in enumerate(_LADDER_125K):
        md = _LADDER_125K_DWELL[dr] if dwell else None
        rows.append(PayloadRow(dr, m, _repeater(m), md, None if md is None else _repeater(md)))
    return tuple(rows)


def lora_500k_downlink() -> tuple[DataRate, ...]:
    """DR8..DR13 at 500 kHz, downlink only (US915, AU915)."""
    return tuple(
        lora(8 + i, sf, 500_000, m, up=False) for i, (sf, m, _rep) in enumerate(_DOWNLINK_500K)
    )


def payload_rows_500k_downlink(*, dwell_columns: bool = False) -> tuple[PayloadRow, ...]:
    """Payload rows of DR8..DR13 (no dwell-time limit on these: the same M in both columns)."""
    return tuple(
        PayloadRow(8 + i, m, rep, *((m, rep) if dwell_columns else ()))
        for i, (_sf, m, rep) in enumerate(_DOWNLINK_500K)
    )


# RX1DROffset 0..5 lower the downlink data rate; 6 and 7 (AS923, IN865) raise it by 1 and 2.
_EFFECTIVE_OFFSETS = (0, 1, 2, 3, 4, 5, -1, -2)


def rx1_dr_table(
    first: Iterable[tuple[int, int]], offsets: int, *, low: int, high: int
) -> dict[int, tuple[int, ...]]:
    """uplink DR -> RX1 DR per RX1DROffset 0..offsets-1.

    ``first`` pairs each uplink DR with its RX1 DR at offset 0 before clamping; the RX1 DR is
    ``min(high, max(low, first - effective_offset))`` (RP002-1.0.4 tables "RX1 DR").
    """
    eff = _EFFECTIVE_OFFSETS[:offsets]
    return {up: tuple(min(high, max(low, start - e)) for e in eff) for up, start in first}
