"""Regional-parameters interface: data rates, channels, payloads, RX1/RX2, power, duty cycle.

Every region is a :class:`Region` built from data tables (one module per region). Two channel
plans exist in the LoRaWAN Regional Parameters (RP002-1.0.4):

- dynamic plans (EU868, AS923, IN865, KR920): a few default channels, up to 16 channels, extra
  channels given in a type-0 CFList (5 frequencies) or NewChannelReq, RX1 on the uplink
  frequency, ChMaskCntl 0 (mask of channels 0..15) and 6 (all defined channels on);
- fixed plans (US915, AU915): 64 + 8 uplink channels in 8 sub-bands, 8 downlink channels,
  a type-1 CFList (channel masks), RX1 on ``downlink[uplink_channel % 8]``, ChMaskCntl 0..7.

All frequencies are integers in Hz. Everything here is pure data in, data out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar

from ..errors import InvalidParameter

# Default MAC timings and counters, identical in every RP002 region (seconds / counts).
RECEIVE_DELAY1_S = 1
RECEIVE_DELAY2_S = 2
JOIN_ACCEPT_DELAY1_S = 5
JOIN_ACCEPT_DELAY2_S = 6
MAX_FCNT_GAP = 16384
ADR_ACK_LIMIT = 64
ADR_ACK_DELAY = 32
RETRANSMIT_TIMEOUT_MIN_S = 1
RETRANSMIT_TIMEOUT_MAX_S = 3

# LoRa demodulator SNR floor per spreading factor (dB), SX1276 datasheet / AN1200.22 values.
REQUIRED_SNR_DB: Mapping[int, float] = {
    5: -2.5,
    6: -5.0,
    7: -7.5,
    8: -10.0,
    9: -12.5,
    10: -15.0,
    11: -17.5,
    12: -20.0,
}

CFLIST_LEN = 16
CFLIST_TYPE_FREQUENCIES = 0
CFLIST_TYPE_CHANNEL_MASK = 1


class Modulation(StrEnum):
    LORA = "LORA"
    FSK = "FSK"


@dataclass(frozen=True, slots=True)
class DataRate:
    """One row of a region's data-rate table.

    ``bitrate`` is set for FSK only (LoRa rates follow from sf and bw_hz).
    ``max_payload`` is the maximum MACPayload size M (not repeater compatible, no dwell-time
    limit); see :meth:`Region.max_payload` for the other variants and for N (FRMPayload).
    """

    index: int
    modulation: Modulation
    sf: int | None
    bw_hz: int | None
    bitrate: int | None
    max_payload: int
    uplink: bool = True
    downlink: bool = True

    @property
    def is_lora(self) -> bool:
        return self.modulation is Modulation.LORA


@dataclass(frozen=True, slots=True)
class PayloadRow:
    """Maximum MACPayload size M for one data rate; ``None`` means the DR is not allowed."""

    dr: int
    m: int | None
    m_repeater: int | None
    m_dwell: int | None = None
    m_dwell_repeater: int | None = None


@dataclass(frozen=True, slots=True)
class MaxPayload:
    """Maximum MACPayload size (m) and FRMPayload size (n = m - 8) for one data rate."""

    m: int
    n: int


@dataclass(frozen=True, slots=True)
class Channel:
    """An uplink (or downlink) channel: index, centre frequency and the DR range allowed."""

    index: int
    frequency_hz: int
    min_dr: int
    max_dr: int

    def allows(self, dr: int) -> bool:
        return self.min_dr <= dr <= self.max_dr


@dataclass(frozen=True, slots=True)
class SubBand:
    """A regulatory sub-band [min_hz, max_hz) with its duty-cycle limit (1.0 = no limit)."""

    name: str
    min_hz: int
    max_hz: int
    duty_cycle: float
    max_erp_dbm: float | None = None

    def contains(self, freq_hz: int) -> bool:
        return self.min_hz <= freq_hz < self.max_hz


def lora(
    index: int, sf: int, bw_hz: int, max_payload: int, *, up: bool = True, down: bool = True
) -> DataRate:
    """Shorthand for a LoRa data-rate row (used by the region tables)."""
    return DataRate(index, Modulation.LORA, sf, bw_hz, None, max_payload, up, down)


def fsk(index: int, bitrate: int, max_payload: int) -> DataRate:
    """Shorthand for an FSK data-rate row."""
    return DataRate(index, Modulation.FSK, None, None, bitrate, max_payload, True, True)


def _mask_bits(ch_mask: int | Sequence[bool]) -> list[bool]:
    if isinstance(ch_mask, int):
        if not 0 <= ch_mask <= 0xFFFF:
            raise InvalidParameter(f"ChMask must be a 16-bit value, got {ch_mask}")
        return [bool(ch_mask >> i & 1) for i in range(16)]
    bits = [bool(b) for b in ch_mask]
    if len(bits) != 16:
        raise InvalidParameter(f"ChMask must have 16 bits, got {len(bits)}")
    return bits


@dataclass(frozen=True, eq=False)
class Region:
    """Regional parameters of one band. Subclasses implement the channel-plan behaviour."""

    name: str
    data_rates: tuple[DataRate, ...]
    payload_table: tuple[PayloadRow, ...]
    rx1_dr_table: Mapping[int, tuple[int, ...]]
    tx_power_offsets_db: tuple[int, ...]
    max_eirp_dbm: float
    rx2_frequency_hz: int
    rx2_dr: int
    frequency_min_hz: int
    frequency_max_hz: int
    sub_bands: tuple[SubBand, ...]
    cflist_type: int
    max_channels: int
    beacon_frequency_hz: int
    beacon_dr: int
    ping_slot_frequency_hz: int
    ping_slot_dr: int
    rx1_dr_table_dwell: Mapping[int, tuple[int, ...]] | None = None
    uplink_dwell_time_default: bool = False
    receive_delay1_s: int = RECEIVE_DELAY1_S
    receive_delay2_s: int = RECEIVE_DELAY2_S
    join_accept_delay1_s: int = JOIN_ACCEPT_DELAY1_S
    join_accept_delay2_s: int = JOIN_ACCEPT_DELAY2_S
    max_fcnt_gap: int = MAX_FCNT_GAP
    adr_ack_limit: int = ADR_ACK_LIMIT
    adr_ack_delay: int = ADR_ACK_DELAY
    aliases: tuple[str, ...] = field(default=())

    # ---- data rates -------------------------------------------------------------------

    def data_rate(self, dr: int) -> DataRate:
        """The data-rate row for index ``dr``; InvalidParameter if the region has none."""
        for row in self.data_rates:
            if row.index == dr:
                return row
        raise InvalidParameter(f"{self.name}: data rate DR{dr} is not defined")

    def uplink_data_rates(self) -> tuple[int, ...]:
        return tuple(d.index for d in self.data_rates if d.uplink)

    def downlink_data_rates(self) -> tuple[int, ...]:
        return tuple(d.index for d in self.data_rates if d.downlink)

    def dr_for(self, sf: int, bw_hz: int, uplink: bool = True) -> int:
        """Reverse lookup: the DR index of LoRa SF/BW in the given direction."""
        for d in self.data_rates:
            if (
                d.is_lora
                and d.sf == sf
                and d.bw_hz == bw_hz
                and (d.uplink if uplink else d.downlink)
            ):
                return d.index
        way = "uplink" if uplink else "downlink"
        raise InvalidParameter(f"{self.name}: no {way} data rate for SF{sf}/{bw_hz} Hz")

    def dr_for_fsk(self, bitrate: int) -> int:
        for d in self.data_rates:
            if d.modulation is Modulation.FSK and d.bitrate == bitrate:
                return d.index
        raise InvalidParameter(f"{self.name}: no FSK data rate at {bitrate} bit/s")

    def required_snr(self, dr: int) -> float:
        """Demodulation SNR floor (dB) of a LoRa data rate, as used by ADR margins."""
        d = self.data_rate(dr)
        if not d.is_lora or d.sf is None:
            raise InvalidParameter(f"{self.name}: DR{dr} is not a LoRa data rate")
        return REQUIRED_SNR_DB[d.sf]

    # ---- payload sizes ----------------------------------------------------------------

    def max_payload(self, dr: int, repeater: bool = False, dwell_time: bool = False) -> MaxPayload:
        """Max MACPayload (m) and FRMPayload (n) for ``dr``.

        ``dwell_time`` selects the 400 ms dwell-time table where the region has one
        (AS923, AU915); regions without one ignore it.
        """
        row = next((r for r in self.payload_table if r.dr == dr), None)
        if row is None:
            raise InvalidParameter(f"{self.name}: no payload size for DR{dr}")
        has_dwell = any(r.m_dwell is not None for r in self.payload_table)
        if dwell_time and has_dwell:
            m = row.m_dwell_repeater if repeater else row.m_dwell
        else:
            m = row.m_repeater if repeater else row.m
        if m is None:
            raise InvalidParameter(f"{self.name}: DR{dr} not allowed with this dwell time")
        return MaxPayload(m, m - 8)

    # ---- RX1 / RX2 --------------------------------------------------------------------

    def rx1_dr(self, uplink_dr: int, rx1_dr_offset: int, dwell_time: bool = False) -> int:
        """The RX1 downlink data rate for an uplink DR and RX1DROffset (region table)."""
        table = self.rx1_dr_table
        if dwell_time and self.rx1_dr_table_dwell is not None:
            table = self.rx1_dr_table_dwell
        row = table.get(uplink_dr)
        if row is None:
            raise InvalidParameter(f"{self.name}: DR{uplink_dr} is not an uplink data rate")
        if not 0 <= rx1_dr_offset < len(row):
            raise InvalidParameter(
                f"{self.name}: RX1DROffset must be 0..{len(row) - 1}, got {rx1_dr_offset}"
            )
        return row[rx1_dr_offset]

    def rx1_dr_offsets(self) -> range:
        return range(len(next(iter(self.rx1_dr_table.values()))))

    def rx1_frequency(self, uplink_freq_hz: int) -> int:
        """RX1 downlink frequency for an uplink frequency (dynamic plans: the same one)."""
        self._check_frequency(uplink_freq_hz)
        return uplink_freq_hz

    # ---- TX power ---------------------------------------------------------------------

    def tx_power_offset(self, tx_power_index: int) -> int:
        """dB below the max EIRP for a TXPower index."""
        if not 0 <= tx_power_index < len(self.tx_power_offsets_db):
            raise InvalidParameter(
                f"{self.name}: TXPower index must be 0..{len(self.tx_power_offsets_db) - 1}, "
                f"got {tx_power_index}"
            )
        return self.tx_power_offsets_db[tx_power_index]

    def tx_power_dbm(self, tx_power_index: int, max_eirp_dbm: float | None = None) -> float:
        """EIRP in dBm for a TXPower index (max EIRP default of the region unless given)."""
        base = self.max_eirp_dbm if max_eirp_dbm is None else max_eirp_dbm
        return base + self.tx_power_offset(tx_power_index)

    # ---- duty cycle -------------------------------------------------------------------

    def sub_band(self, freq_hz: int) -> SubBand:
        """The regulatory sub-band holding ``freq_hz``; InvalidParameter outside all of them."""
        for sb in self.sub_bands:
            if sb.contains(freq_hz):
                return sb
        raise InvalidParameter(f"{self.name}: {freq_hz} Hz is in no sub-band of the region")

    def duty_cycle(self, freq_hz: int) -> float:
        """Duty-cycle limit (fraction, 1.0 = unrestricted) at ``freq_hz``."""
        return self.sub_band(freq_hz).duty_cycle

    # ---- channels (overridden per plan) -----------------------------------------------

    def _check_frequency(self, freq_hz: int) -> None:
        if not self.frequency_min_hz <= freq_hz <= self.frequency_max_hz:
            raise InvalidParameter(
                f"{self.name}: {freq_hz} Hz outside {self.frequency_min_hz}.."
                f"{self.frequency_max_hz} Hz"
            )

    def default_channels(self) -> tuple[Channel, ...]:
        raise NotImplementedError

    def join_channels(self) -> tuple[Channel, ...]:
        raise NotImplementedError

    def uplink_channel(self, index: int) -> Channel:
        for ch in self.default_channels():
            if ch.index == index:
                return ch
        raise InvalidParameter(f"{self.name}: uplink channel {index} is not defined")

    def uplink_channel_index(self, freq_hz: int) -> int:
        for ch in self.default_channels():
            if ch.frequency_hz == freq_hz:
                return ch.index
        raise InvalidParameter(f"{self.name}: {freq_hz} Hz is not a default uplink channel")

    def apply_ch_mask(
        self,
        enabled: Iterable[int],
        ch_mask: int | Sequence[bool],
        ch_mask_cntl: int,
        defined: Iterable[int] | None = None,
    ) -> frozenset[int]:
        raise NotImplementedError

    def apply_link_adr_block(
        self,
        enabled: Iterable[int],
        masks: Sequence[tuple[int | Sequence[bool], int]],
        defined: Iterable[int] | None = None,
    ) -> frozenset[int]:
        """Apply a contiguous block of LinkADRReq (ch_mask, ch_mask_cntl) pairs in order.

        The block is accepted or rejected as a whole: the final set must not be empty.
        """
        if not masks:
            raise InvalidParameter("empty LinkADRReq block")
        current = frozenset(enabled)
        for ch_mask, cntl in masks:
            current = self._apply_one(current, ch_mask, cntl, defined)
        if not current:
            raise InvalidParameter(f"{self.name}: ChMask would disable every channel")
        return current

    def _apply_one(
        self,
        enabled: frozenset[int],
        ch_mask: int | Sequence[bool],
        ch_mask_cntl: int,
        defined: Iterable[int] | None,
    ) -> frozenset[int]:
        raise NotImplementedError

    # ---- CFList -----------------------------------------------------------------------

    def decode_cflist(self, data: bytes) -> tuple[int, ...]:
        """Decode a 16-byte CFList: five frequencies in Hz, 0 = no channel (type 0), or five
        16-bit ChMasks (type 1)."""
        if len(data) != CFLIST_LEN:
            raise InvalidParameter(f"CFList must be {CFLIST_LEN} bytes, got {len(data)}")
        if data[15] != self.cflist_type:
            raise InvalidParameter(
                f"{self.name}: CFList type {data[15]} (expected {self.cflist_type})"
            )
        if self.cflist_type == CFLIST_TYPE_FREQUENCIES:
            freqs = []
            for i in range(5):
                f = int.from_bytes(data[3 * i : 3 * i + 3], "little") * 100
                if f:
                    self._check_frequency(f)
                freqs.append(f)  # 0 keeps its slot: channel (defaults + i) disabled
            return tuple(freqs)
        return tuple(int.from_bytes(data[2 * i : 2 * i + 2], "little") for i in range(5))

    def encode_cflist(self, values: Sequence[int]) -> bytes:
        """Encode frequencies in Hz (type 0, up to 5) or five ChMask words (type 1)."""
        if self.cflist_type == CFLIST_TYPE_FREQUENCIES:
            if len(values) > 5:
                raise InvalidParameter("a type-0 CFList holds at most 5 frequencies")
            out = bytearray()
            for f in values:
                if f:
                    self._check_frequency(f)
                if f % 100:
                    raise InvalidParameter(f"CFList frequency must be a multiple of 100 Hz: {f}")
                out += (f // 100).to_bytes(3, "little")
            out += bytes(15 - len(out))
        else:
            if len(values) != 5 or any(not 0 <= v <= 0xFFFF for v in values):
                raise InvalidParameter("a type-1 CFList holds exactly five 16-bit ChMasks")
            out = bytearray(b"".join(v.to_bytes(2, "little") for v in values)) + bytes(5)
        return bytes(out) + bytes([self.cflist_type])


@dataclass(frozen=True, eq=False)
class DynamicChannelRegion(Region):
    """EU868-like plan: default channels plus up to ``max_channels`` defined ones."""

    default_channel_table: tuple[Channel, ...] = ()

    def default_channels(self) -> tuple[Channel, ...]:
        return self.default_channel_table

    def join_channels(self) -> tuple[Channel, ...]:
        return self.default_channel_table

    def channels_from_cflist(self, frequencies: Sequence[int]) -> tuple[Channel, ...]:
        """Channels created by a type-0 CFList (indices after the defaults, DR0..DR5)."""
        start = len(self.default_channel_table)
        dr_max = max(c.max_dr for c in self.default_channel_table)
        return tuple(Channel(start + i, f, 0, dr_max) for i, f in enumerate(frequencies) if f)

    def _apply_one(
        self,
        enabled: frozenset[int],
        ch_mask: int | Sequence[bool],
        ch_mask_cntl: int,
        defined: Iterable[int] | None,
    ) -> frozenset[int]:
        bits = _mask_bits(ch_mask)
        known = (
            frozenset(defined)
            if defined is not None
            else frozenset(c.index for c in self.default_channel_table)
        )
        if ch_mask_cntl == 0:
            chosen = frozenset(i for i, on in enumerate(bits) if on)
            undefined = chosen - known
            if undefined:
                raise InvalidParameter(
                    f"{self.name}: ChMask enables undefined channel(s) {sorted(undefined)}"
                )
            return chosen
        if ch_mask_cntl == 6:
            return known
        raise InvalidParameter(f"{self.name}: ChMaskCntl {ch_mask_cntl} is RFU")

    def apply_ch_mask(
        self,
        enabled: Iterable[int],
        ch_mask: int | Sequence[bool],
        ch_mask_cntl: int,
        defined: Iterable[int] | None = None,
    ) -> frozenset[int]:
        """Apply one LinkADRReq ChMask/ChMaskCntl: 0 = mask of channels 0..15, 6 = all on."""
        return self.apply_link_adr_block(enabled, [(ch_mask, ch_mask_cntl)], defined)


@dataclass(frozen=True, eq=False)
class FixedChannelRegion(Region):
    """US915-like plan: 64 channels of 125 kHz, 8 of 500 kHz, 8 downlink channels."""

    uplink_125_base_hz: int = 0
    uplink_125_step_hz: int = 200_000
    uplink_125_min_dr: int = 0
    uplink_125_max_dr: int = 0
    uplink_500_base_hz: int = 0
    uplink_500_step_hz: int = 1_600_000
    uplink_500_dr: int = 0
    downlink_base_hz: int = 923_300_000
    downlink_step_hz: int = 600_000
    downlink_min_dr: int = 8
    downlink_max_dr: int = 13

    NUM_125: ClassVar[int] = 64
    NUM_500: ClassVar[int] = 8
    NUM_DOWNLINK: ClassVar[int] = 8

    def uplink_channel(self, index: int) -> Channel:
        if 0 <= index < self.NUM_125:
            f = self.uplink_125_base_hz + index * self.uplink_125_step_hz
            return Channel(index, f, self.uplink_125_min_dr, self.uplink_125_max_dr)
        if self.NUM_125 <= index < self.NUM_125 + self.NUM_500:
            f = self.uplink_500_base_hz + (index - self.NUM_125) * self.uplink_500_step_hz
            return Channel(index, f, self.uplink_500_dr, self.uplink_500_dr)
        raise InvalidParameter(f"{self.name}: uplink channel must be 0..71, got {index}")

    def default_channels(self) -> tuple[Channel, ...]:
        return tuple(self.uplink_channel(i) for i in range(self.NUM_125 + self.NUM_500))

    def join_channels(self) -> tuple[Channel, ...]:
        """All 72 channels; a join uses the lowest DR of each (DR0 on 125 kHz, 500 kHz DR)."""
        return tuple(
            Channel(c.index, c.frequency_hz, c.min_dr, c.min_dr) for c in self.default_channels()
        )

    def uplink_channel_index(self, freq_hz: int) -> int:
        off = freq_hz - self.uplink_125_base_hz
        if off >= 0 and off % self.uplink_125_step_hz == 0:
            idx = off // self.uplink_125_step_hz
            if idx < self.NUM_125:
                return idx
        off = freq_hz - self.uplink_500_base_hz
        if off >= 0 and off % self.uplink_500_step_hz == 0:
            idx = off // self.uplink_500_step_hz
            if idx < self.NUM_500:
                return self.NUM_125 + idx
        raise InvalidParameter(f"{self.name}: {freq_hz} Hz is not an uplink channel")

    def downlink_frequency(self, uplink_channel: int) -> int:
        """RX1 frequency for an uplink channel index: base + step * (channel % 8)."""
        self.uplink_channel(uplink_channel)
        return self.downlink_base_hz + (uplink_channel % self.NUM_DOWNLINK) * self.downlink_step_hz

    def downlink_channels(self) -> tuple[Channel, ...]:
        return tuple(
            Channel(
                k,
                self.downlink_base_hz + k * self.downlink_step_hz,
                self.downlink_min_dr,
                self.downlink_max_dr,
            )
            for k in range(self.NUM_DOWNLINK)
        )

    def rx1_frequency(self, uplink_freq_hz: int) -> int:
        return self.downlink_frequency(self.uplink_channel_index(uplink_freq_hz))

    def sub_band_channels(self, sub_band: int) -> tuple[int, ...]:
        """Channel indices of sub-band 1..8: eight 125 kHz channels and one 500 kHz one."""
        if not 1 <= sub_band <= 8:
            raise InvalidParameter(f"{self.name}: sub-band must be 1..8, got {sub_band}")
        first = (sub_band - 1) * 8
        return (*range(first, first + 8), self.NUM_125 + sub_band - 1)

    def _apply_one(
        self,
        enabled: frozenset[int],
        ch_mask: int | Sequence[bool],
        ch_mask_cntl: int,
        defined: Iterable[int] | None,
    ) -> frozenset[int]:
        bits = _mask_bits(ch_mask)
        total = self.NUM_125 + self.NUM_500
        state = [i in enabled for i in range(total)]
        if 0 <= ch_mask_cntl <= 4:
            for i, on in enumerate(bits):
                ch = ch_mask_cntl * 16 + i
                if ch >= total:
                    if on:
                        raise InvalidParameter(f"{self.name}: ChMask enables channel {ch}")
                    continue
                state[ch] = on
        elif ch_mask_cntl == 5:
            if any(bits[8:]):
                raise InvalidParameter(f"{self.name}: ChMaskCntl 5 uses ChMask bits 0..7 only")
            for bank, on in enumerate(bits[:8]):
                for ch in range(bank * 8, bank * 8 + 8):
                    state[ch] = on
                state[self.NUM_125 + bank] = on
        elif ch_mask_cntl in (6, 7):
            for ch in range(self.NUM_125):
                state[ch] = ch_mask_cntl == 6
            if any(bits[8:]):
                raise InvalidParameter(f"{self.name}: ChMask enables channels beyond 71")
            for i in range(self.NUM_500):
                state[self.NUM_125 + i] = bits[i]
        else:
            raise InvalidParameter(f"{self.name}: ChMaskCntl must be 0..7, got {ch_mask_cntl}")
        return frozenset(i for i, on in enumerate(state) if on)

    def apply_ch_mask(
        self,
        enabled: Iterable[int],
        ch_mask: int | Sequence[bool],
        ch_mask_cntl: int,
        defined: Iterable[int] | None = None,
    ) -> frozenset[int]:
        """Apply one LinkADRReq ChMask/ChMaskCntl.

        0..3: channels 16*cntl..16*cntl+15; 4: channels 64..71 (bits 0..7); 5: bit k turns
        bank k (channels 8k..8k+7 and 64+k) on or off; 6: all 125 kHz channels on and the
        mask applies to 64..71; 7: all 125 kHz channels off and the mask applies to 64..71.
        """
        return self.apply_link_adr_block(enabled, [(ch_mask, ch_mask_cntl)], defined)

    def cflist_ch_masks(self, enabled: Iterable[int]) -> tuple[int, ...]:
        """The five ChMask words of a type-1 CFList enabling exactly ``enabled`` channels."""
        words = [0] * 5
        for ch in enabled:
            self.uplink_channel(ch)
            words[ch // 16] |= 1 << (ch % 16)
        return tuple(words)

    def enabled_from_cflist_ch_masks(self, words: Sequence[int]) -> frozenset[int]:
        total = self.NUM_125 + self.NUM_500
        out = set()
        for w, word in enumerate(words):
            for i in range(16):
                if word >> i & 1:
                    ch = w * 16 + i
                    if ch >= total:
                        raise InvalidParameter(f"{self.name}: CFList enables channel {ch}")
                    out.add(ch)
        return frozenset(out)
