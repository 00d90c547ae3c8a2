"""Live mode: the simulated device's answers to the network's MAC commands."""

from __future__ import annotations

import pytest

from services.lorawan.maccommand import (
    DevStatusAns,
    DevStatusReq,
    DlChannelAns,
    DlChannelReq,
    DutyCycleAns,
    DutyCycleReq,
    LinkADRAns,
    LinkADRReq,
    LinkCheckAns,
    NewChannelAns,
    NewChannelReq,
    RXParamSetupAns,
    RXParamSetupReq,
    RXTimingSetupAns,
    RXTimingSetupReq,
)
from services.lorawan.region import get_region
from simulator.live.mac import MacEffect, RadioState, RxSettings, evaluate
from simulator.region import get_sim_region

CHANNELS = {0: 868_100_000, 1: 868_300_000, 2: 868_500_000, 3: 867_100_000, 4: 867_300_000}
RADIO = RadioState(dr=0, tx_power_index=1, nb_trans=1, enabled=frozenset({0, 1, 2}))


def _eval(*cmds: object, radio: RadioState = RADIO) -> MacEffect:
    return evaluate(
        list(cmds),  # type: ignore[arg-type]
        radio=radio,
        rx=RxSettings(),
        channels=dict(CHANNELS),
        region=get_region("EU868"),
        sim=get_sim_region("EU868"),
        margin_db=7.4,
    )


def _adr(
    dr: int = 5, power: int = 3, mask: int = 0b11111, cntl: int = 0, nb: int = 2
) -> LinkADRReq:
    return LinkADRReq(data_rate=dr, tx_power=power, ch_mask=mask, ch_mask_cntl=cntl, nb_trans=nb)


@pytest.mark.parametrize(
    ("req", "ans", "radio"),
    [
        (_adr(), (True, True, True), RadioState(5, 3, 2, frozenset({0, 1, 2, 3, 4}))),
        (_adr(dr=15, power=15, nb=0), (True, True, True), RadioState(0, 1, 1, frozenset(range(5)))),
        (_adr(mask=0, cntl=6), (True, True, True), RadioState(5, 3, 2, frozenset(range(5)))),
        (_adr(dr=7), (True, False, True), None),  # FSK: not a data rate this device sends
        (_adr(dr=6), (True, False, True), None),  # SF7/250 kHz: no channel allows it
        (_adr(power=8), (False, True, True), None),
        (_adr(mask=0b1000_0000), (True, True, False), None),  # channel 7 is not defined
        (_adr(mask=0), (True, True, False), None),  # every channel off
        (_adr(cntl=5), (True, True, False), None),  # RFU ChMaskCntl in EU868
    ],
)
def test_link_adr_req(
    req: LinkADRReq, ans: tuple[bool, bool, bool], radio: RadioState | None
) -> None:
    eff = _eval(req)
    assert eff.answers == [LinkADRAns(*ans)]
    assert eff.radio == radio
    assert eff.link_adr_requests == 1
    assert eff.link_adr_rejected == (0 if radio else 1)


def test_a_link_adr_block_is_one_decision_with_one_answer_per_request() -> None:
    eff = _eval(_adr(mask=0b1, nb=0), _adr(dr=4, power=2, mask=0b110, nb=3))
    assert eff.answers == [LinkADRAns(True, True, True)] * 2
    assert eff.radio == RadioState(4, 2, 3, frozenset({1, 2}))  # the last mask wins (cntl 0)


def test_a_refused_block_changes_nothing() -> None:
    eff = _eval(_adr(), _adr(power=9))
    assert eff.answers == [LinkADRAns(False, True, True)] * 2
    assert eff.radio is None and eff.link_adr_rejected == 2


def test_other_requests_are_answered() -> None:
    eff = _eval(
        DevStatusReq(),
        RXParamSetupReq(rx1_dr_offset=2, rx2_data_rate=3, frequency=869_525_000),
        RXTimingSetupReq(delay=0),
        DutyCycleReq(max_duty_cycle=3),
        NewChannelReq(ch_index=5, freq=867_500_000, max_dr=5, min_dr=0),
        DlChannelReq(ch_index=1, freq=868_300_000),
        LinkCheckAns(margin=12, gw_cnt=2),
    )
    assert eff.answers == [
        DevStatusAns(battery=200, margin=7),
        RXParamSetupAns(True, True, True),
        RXTimingSetupAns(),
        DutyCycleAns(),
        NewChannelAns(data_rate_range_ok=True, channel_freq_ok=True),
        DlChannelAns(uplink_freq_exists=True, channel_freq_ok=True),
    ]
    assert eff.rx == RxSettings(rx1_delay_s=1, rx1_dr_offset=2, rx2_dr=3, rx2_freq_hz=869_525_000)
    assert eff.channels is not None and eff.channels[5] == 867_500_000
    assert eff.link_check == LinkCheckAns(margin=12, gw_cnt=2)


@pytest.mark.parametrize(
    ("req", "ans"),
    [
        (RXParamSetupReq(rx1_dr_offset=6, rx2_data_rate=0, frequency=869_525_000),
         RXParamSetupAns(False, True, True)),
        (RXParamSetupReq(rx1_dr_offset=0, rx2_data_rate=0, frequency=915_000_000),
         RXParamSetupAns(True, True, False)),
        (NewChannelReq(ch_index=1, freq=867_500_000, max_dr=5, min_dr=0),
         NewChannelAns(data_rate_range_ok=False, channel_freq_ok=True)),  # default channel
        (NewChannelReq(ch_index=6, freq=902_000_000, max_dr=5, min_dr=0),
         NewChannelAns(data_rate_range_ok=True, channel_freq_ok=False)),
    ],
)  # fmt: skip
def test_refused_settings_are_not_applied(req: object, ans: object) -> None:
    eff = _eval(req)
    assert eff.answers == [ans]
    assert eff.rx is None and eff.channels is None


def test_new_channel_with_frequency_zero_deletes_it() -> None:
    eff = _eval(NewChannelReq(ch_index=4, freq=0, max_dr=0, min_dr=0))
    assert eff.channels is not None and 4 not in eff.channels
