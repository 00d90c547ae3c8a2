"""LoRa time on air by the Semtech formula (SX1272/SX1276 datasheets, AN1200.13).

T_sym = 2^SF / BW
T_preamble = (n_preamble + 4.25) * T_sym
n_payload = 8 + max(ceil((8*PL - 4*SF + 28 + 16*CRC - 20*IH) / (4*(SF - 2*DE))) * (CR + 4), 0)
T_payload = n_payload * T_sym

DE (low-data-rate optimisation) is on when the symbol time reaches 16 ms (SF11 and SF12 at
125 kHz, SF12 at 250 kHz), unless forced by the caller.
"""

from __future__ import annotations

import math

from .errors import InvalidParameter

LDRO_SYMBOL_TIME_S = 0.016


def _check(sf: int, bw_hz: int) -> None:
    if not isinstance(sf, int) or not 5 <= sf <= 12:
        raise InvalidParameter(f"spreading factor must be 5..12, got {sf}")
    if not isinstance(bw_hz, int) or bw_hz <= 0:
        raise InvalidParameter(f"bandwidth must be a positive number of Hz, got {bw_hz}")


def symbol_time(sf: int, bw_hz: int) -> float:
    """Seconds per LoRa symbol."""
    _check(sf, bw_hz)
    return (1 << sf) / bw_hz


def payload_symbols(
    payload_len: int,
    sf: int,
    bw_hz: int = 125_000,
    cr: int = 1,
    crc: bool = True,
    implicit_header: bool = False,
    low_dr_optimize: bool | None = None,
) -> int:
    """Number of payload symbols (including the 8 fixed symbols after the preamble)."""
    _check(sf, bw_hz)
    if not 1 <= cr <= 4:
        raise InvalidParameter(f"coding rate index must be 1..4 (4/5..4/8), got {cr}")
    if payload_len < 0 or payload_len > 255:
        raise InvalidParameter(f"payload length must be 0..255, got {payload_len}")
    de = low_dr_optimize
    if de is None:
        de = symbol_time(sf, bw_hz) >= LDRO_SYMBOL_TIME_S
    num = 8 * payload_len - 4 * sf + 28 + 16 * int(crc) - 20 * int(implicit_header)
    den = 4 * (sf - 2 * int(de))
    return 8 + max(math.ceil(num / den) * (cr + 4), 0)


def time_on_air(
    payload_len: int,
    sf: int,
    bw_hz: int = 125_000,
    cr: int = 1,
    preamble: int = 8,
    crc: bool = True,
    implicit_header: bool = False,
    low_dr_optimize: bool | None = None,
) -> float:
    """Time on air in seconds of a LoRa frame whose PHY payload is ``payload_len`` bytes.

    ``cr`` is the coding-rate index: 1 for 4/5 ... 4 for 4/8. LoRaWAN uplinks use ``crc=True``,
    downlinks ``crc=False``; both use an explicit header and an 8-symbol preamble.
    """
    if preamble < 0:
        raise InvalidParameter(f"preamble must be >= 0, got {preamble}")
    t_sym = symbol_time(sf, bw_hz)
    n = payload_symbols(payload_len, sf, bw_hz, cr, crc, implicit_header, low_dr_optimize)
    return (preamble + 4.25) * t_sym + n * t_sym


def time_on_air_ms(payload_len: int, sf: int, bw_hz: int = 125_000, **kwargs: object) -> float:
    """Time on air in milliseconds (see :func:`time_on_air`)."""
    return time_on_air(payload_len, sf, bw_hz, **kwargs) * 1000.0  # type: ignore[arg-type]


def fsk_time_on_air(payload_len: int, bitrate: int = 50_000, preamble_bytes: int = 5) -> float:
    """Time on air in seconds of an FSK frame (preamble, 3-byte sync word, length, payload, CRC)."""
    if payload_len < 0 or bitrate <= 0:
        raise InvalidParameter("FSK payload length must be >= 0 and bitrate > 0")
    total_bytes = preamble_bytes + 3 + 1 + payload_len + 2
    return total_bytes * 8 / bitrate
