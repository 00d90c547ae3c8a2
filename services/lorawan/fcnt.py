"""Frame counters: rebuild the 32-bit counter from the 16 bits sent on the air."""

from __future__ import annotations

from .errors import InvalidParameter

__all__ = ["MAX_F_CNT_GAP", "full_f_cnt"]

#: The largest gap between two accepted counters that 16 wire bits can express unambiguously.
MAX_F_CNT_GAP = 0x10000


def full_f_cnt(wire16: int, last_full: int | None) -> int:
    """The full 32-bit frame counter whose low 16 bits are ``wire16``, closest after ``last_full``.

    With no previous counter (``None``) the wire value is taken as is. Otherwise the high 16 bits
    of ``last_full`` are kept, and if ``wire16`` is lower than the low 16 bits of ``last_full``
    the counter rolled over into the next 64K block (+0x10000). The result wraps at 2**32.
    A value equal to ``last_full`` is returned unchanged (a replay, for the caller to reject).
    """
    if not 0 <= wire16 <= 0xFFFF:
        raise InvalidParameter(f"wire frame counter {wire16} does not fit 16 bits")
    if last_full is None:
        return wire16
    if not 0 <= last_full <= 0xFFFFFFFF:
        raise InvalidParameter(f"frame counter {last_full} does not fit 32 bits")
    full = (last_full & 0xFFFF0000) | wire16
    if wire16 < (last_full & 0xFFFF):
        full += 0x10000
    return full & 0xFFFFFFFF
