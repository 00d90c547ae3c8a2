"""Device-side MAC command handling (pure): the network's requests in, the answers and the new
radio / receive settings out.

The simulated end-device behaves as LoRaWAN 1.0.4 / 1.1 class A devices do: a LinkADRReq block
(consecutive LinkADRReqs) is accepted or refused as a whole, with one LinkADRAns per request;
a data rate or TX power of 15 and NbTrans 0 keep the current value; RXParamSetupReq,
RXTimingSetupReq, NewChannelReq, DlChannelReq, DutyCycleReq and DevStatusReq are answered.
Nothing is applied here: :func:`evaluate` returns a :class:`MacEffect` that the caller commits
when the device actually received the downlink.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from services.lorawan.errors import LoRaWANError
from services.lorawan.maccommand import (
    DeviceTimeAns,
    DevStatusAns,
    DevStatusReq,
    DlChannelAns,
    DlChannelReq,
    DutyCycleAns,
    DutyCycleReq,
    LinkADRAns,
    LinkADRReq,
    LinkCheckAns,
    MacCommand,
    NewChannelAns,
    NewChannelReq,
    RXParamSetupAns,
    RXParamSetupReq,
    RXTimingSetupAns,
    RXTimingSetupReq,
)
from services.lorawan.region import Region

from ..region import SimRegion

KEEP = 15  # LinkADRReq DataRate / TXPower value meaning "keep the current one"
DEV_STATUS_BATTERY = 200  # a battery-powered device, well charged


@dataclass(frozen=True, slots=True)
class RadioState:
    """What a LinkADRReq changes: uplink data rate, TX power index, NbTrans, enabled channels
    (indices into the channel table)."""

    dr: int
    tx_power_index: int
    nb_trans: int
    enabled: frozenset[int]


@dataclass(frozen=True, slots=True)
class RxSettings:
    rx1_delay_s: int = 1
    rx1_dr_offset: int = 0
    rx2_dr: int = 0
    rx2_freq_hz: int = 869_525_000


@dataclass(slots=True)
class MacEffect:
    answers: list[MacCommand] = field(default_factory=list)
    #: the new radio state when a LinkADRReq block was accepted
    radio: RadioState | None = None
    link_adr_requests: int = 0
    link_adr_rejected: int = 0
    rx: RxSettings | None = None
    #: channel table after NewChannelReq (index -> frequency in Hz), None when unchanged
    channels: dict[int, int] | None = None
    link_check: LinkCheckAns | None = None
    device_time: DeviceTimeAns | None = None
    ignored: list[str] = field(default_factory=list)


def _link_adr_block(
    block: Sequence[LinkADRReq],
    radio: RadioState,
    channels: dict[int, int],
    region: Region,
    sim: SimRegion,
) -> tuple[LinkADRAns, RadioState | None]:
    last = block[-1]
    ch_ok = True
    enabled = radio.enabled
    try:
        enabled = region.apply_link_adr_block(
            radio.enabled,
            [(r.ch_mask, r.ch_mask_cntl) for r in block],
            defined=channels.keys(),
        )
    except LoRaWANError:
        ch_ok = False
    dr = radio.dr if last.data_rate == KEEP else last.data_rate
    # every channel of a dynamic plan allows DR0 up to the default channels' highest DR
    max_dr = max(c.max_dr for c in region.default_channels())
    dr_ok = 0 <= dr < len(sim.data_rates) and dr in region.uplink_data_rates() and dr <= max_dr
    power = radio.tx_power_index if last.tx_power == KEEP else last.tx_power
    power_ok = 0 <= power <= sim.max_tx_power_index
    ans = LinkADRAns(power_ack=power_ok, data_rate_ack=dr_ok, channel_mask_ack=ch_ok)
    if not ans.all_ack:
        return ans, None
    nb = radio.nb_trans if last.nb_trans == 0 else last.nb_trans
    return ans, RadioState(dr, power, nb, enabled)


def evaluate(
    commands: Sequence[MacCommand],
    *,
    radio: RadioState,
    rx: RxSettings,
    channels: dict[int, int],
    region: Region,
    sim: SimRegion,
    margin_db: float = 10.0,
) -> MacEffect:
    """The device's reaction to the MAC commands of one downlink (nothing applied)."""
    eff = MacEffect()
    new_rx = rx
    new_channels = dict(channels)
    i = 0
    while i < len(commands):
        cmd = commands[i]
        if isinstance(cmd, LinkADRReq):
            j = i
            while j < len(commands) and isinstance(commands[j], LinkADRReq):
                j += 1
            block = [c for c in commands[i:j] if isinstance(c, LinkADRReq)]
            ans, new_radio = _link_adr_block(block, eff.radio or radio, new_channels, region, sim)
            eff.answers.extend([ans] * len(block))
            eff.link_adr_requests += len(block)
            if new_radio is None:
                eff.link_adr_rejected += len(block)
            else:
                eff.radio = new_radio
            i = j
            continue
        if isinstance(cmd, DevStatusReq):
            margin = max(-32, min(31, round(margin_db)))
            eff.answers.append(DevStatusAns(battery=DEV_STATUS_BATTERY, margin=margin))
        elif isinstance(cmd, RXParamSetupReq):
            off_ok = cmd.rx1_dr_offset in region.rx1_dr_offsets()
            dr_ok = cmd.rx2_data_rate in region.downlink_data_rates()
            try:
                region.sub_band(cmd.frequency)
                freq_ok = True
            except LoRaWANError:
                freq_ok = False
            eff.answers.append(
                RXParamSetupAns(
                    rx1_dr_offset_ack=off_ok, rx2_data_rate_ack=dr_ok, channel_ack=freq_ok
                )
            )
            if off_ok and dr_ok and freq_ok:
                new_rx = replace(
                    new_rx,
                    rx1_dr_offset=cmd.rx1_dr_offset,
                    rx2_dr=cmd.rx2_data_rate,
                    rx2_freq_hz=cmd.frequency,
                )
        elif isinstance(cmd, RXTimingSetupReq):
            new_rx = replace(new_rx, rx1_delay_s=cmd.delay_seconds)
            eff.answers.append(RXTimingSetupAns())
        elif isinstance(cmd, DutyCycleReq):
            eff.answers.append(DutyCycleAns())
        elif isinstance(cmd, NewChannelReq):
            n_default = len(region.default_channels())
            idx_ok = n_default <= cmd.ch_index < region.max_channels
            freq_ok = cmd.freq == 0
            if not freq_ok:
                try:
                    region.sub_band(cmd.freq)
                    freq_ok = True
                except LoRaWANError:
                    freq_ok = False
            dr_ok = cmd.freq == 0 or (
                cmd.min_dr <= cmd.max_dr and cmd.max_dr in region.uplink_data_rates()
            )
            eff.answers.append(
                NewChannelAns(data_rate_range_ok=dr_ok and idx_ok, channel_freq_ok=freq_ok)
            )
            if idx_ok and freq_ok and dr_ok:
                if cmd.freq == 0:
                    new_channels.pop(cmd.ch_index, None)
                else:
                    new_channels[cmd.ch_index] = cmd.freq
        elif isinstance(cmd, DlChannelReq):
            eff.answers.append(
                DlChannelAns(uplink_freq_exists=cmd.ch_index in new_channels, channel_freq_ok=True)
            )
        elif isinstance(cmd, LinkCheckAns):
            eff.link_check = cmd
        elif isinstance(cmd, DeviceTimeAns):
            eff.device_time = cmd
        else:
            eff.ignored.append(type(cmd).__name__)
        i += 1
    if new_rx != rx:
        eff.rx = new_rx
    if new_channels != channels:
        eff.channels = new_channels
    return eff
