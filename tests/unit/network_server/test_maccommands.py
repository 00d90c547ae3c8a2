"""Pure MAC command handlers: answers, applied state, rejected parts, retries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.lorawan.maccommand import (
    DeviceTimeAns,
    DeviceTimeReq,
    DevStatusReq,
    DutyCycleAns,
    DutyCycleReq,
    LinkADRAns,
    LinkCheckAns,
    LinkCheckReq,
    NewChannelAns,
    NewChannelReq,
    RekeyConf,
    RekeyInd,
    ResetConf,
    ResetInd,
    RXParamSetupAns,
    RXParamSetupReq,
    RXTimingSetupAns,
    RXTimingSetupReq,
)
from services.lorawan.region import get_region
from services.lorawan.version import MacVersion
from services.network_server.core import maccommands as mac

from .helpers import T0, rx, session

EU = get_region("EU868")
US = get_region("US915")


def ctx(dr: int = 5, rxs=None, region=EU, f_cnt: int = 10, retries: int = 3):  # type: ignore[no-untyped-def]
    return mac.MacContext(
        region=region,
        dr=dr,
        rx=rxs if rxs is not None else [rx()],
        now=T0,
        f_cnt=f_cnt,
        mac_version=MacVersion.V1_0_3,
        max_retries=retries,
    )


def send_pending(s) -> None:  # type: ignore[no-untyped-def]
    """What the downlink path does: every pending entry goes out."""
    mac.mark_sent(s, list(s.pending_mac_commands), f_cnt_down=0)


@pytest.mark.parametrize(
    ("dr", "snrs", "margin", "gw_cnt"),
    [
        (5, [5.0], 12, 1),  # SF7 floor -7.5 dB: 5 + 7.5 = 12.5 -> 12 (half to even)
        (5, [-3.0, 8.0, 1.0], 16, 3),  # best SNR counts, every gateway counts
        (0, [-10.0], 10, 1),  # SF12 floor -20 dB
        (0, [-25.0], 0, 1),  # below the floor: 0
        (5, [None], 0, 1),  # no SNR reported
    ],
)
def test_link_check_answer(dr: int, snrs: list[float | None], margin: int, gw_cnt: int) -> None:
    rxs = [rx(f"AA555A000000000{i}", snr=snr) for i, snr in enumerate(snrs)]
    result = mac.handle_uplink_commands(session(), [LinkCheckReq()], ctx(dr, rxs))
    assert result.answers == [LinkCheckAns(margin=margin, gw_cnt=gw_cnt)]


def _queue_adr(s, dr=3, power=2, channels=(0, 1, 2), nb_trans=1):  # type: ignore[no-untyped-def]
    entry = mac.queue_link_adr(s, EU, dr, power, list(channels), nb_trans, source="drcc:1")
    send_pending(s)
    return entry


@pytest.mark.parametrize(
    ("acks", "applied", "rejected_keys"),
    [
        ((True, True, True), True, set()),
        ((False, True, True), False, {"tx_power_index"}),
        ((True, False, True), False, {"dr"}),
        ((True, True, False), False, {"channels"}),
        ((False, False, True), False, {"tx_power_index", "dr"}),
    ],
)
def test_link_adr_ans(
    acks: tuple[bool, bool, bool], applied: bool, rejected_keys: set[str]
) -> None:
    s = session(dr=5, tx_power_index=0, enabled_channels=[0, 1, 2])
    _queue_adr(s, dr=3, power=2, channels=(0, 1))
    ans = LinkADRAns(power_ack=acks[0], data_rate_ack=acks[1], channel_mask_ack=acks[2])
    result = mac.handle_uplink_commands(s, [ans], ctx())
    if applied:
        assert (s.dr, s.tx_power_index, s.enabled_channels) == (3, 2, [0, 1])
        assert "link_adr_rejected" not in s.mac_command_state
        assert result.events[0]["kind"] == "link_adr_applied"
    else:  # the device applies nothing when any part is refused
        assert (s.dr, s.tx_power_index, s.enabled_channels) == (5, 0, [0, 1, 2])
        rejected = s.mac_command_state["link_adr_rejected"]
        assert set(rejected) - {"f_cnt"} == rejected_keys
        assert result.events[0]["kind"] == "link_adr_rejected"
    assert s.mac_command_state["sent"] == []
    assert s.pending_mac_commands == []  # answered: not re-sent


def test_rejected_part_is_not_resent_blindly() -> None:
    s = session(dr=5, tx_power_index=0, enabled_channels=[0, 1, 2])
    _queue_adr(s, dr=3, power=2)
    mac.handle_uplink_commands(
        s, [LinkADRAns(power_ack=True, data_rate_ack=False, channel_mask_ack=True)], ctx()
    )
    # the same decision again: DR3 was refused, so the current DR5 is kept, power still asked
    entry = mac.queue_link_adr(s, EU, 3, 2, [0, 1, 2], 1)
    assert (
        entry is not None and entry["intent"]["dr"] == 5 and entry["intent"]["tx_power_index"] == 2
    )
    # a decision that only repeats the refused part changes nothing: nothing queued
    s.pending_mac_commands = []
    assert mac.queue_link_adr(s, EU, 3, 0, [0, 1, 2], 1) is None


def test_link_adr_block_answers_are_merged() -> None:
    s = session(dr=0, enabled_channels=list(range(72)))
    entry = mac.queue_link_adr(s, US, 3, 1, [*range(8), 64], 1)
    assert entry is not None and len(entry["commands"]) == 2  # cntl 7 + bank 0
    send_pending(s)
    ok = LinkADRAns(power_ack=True, data_rate_ack=True, channel_mask_ack=True)
    mac.handle_uplink_commands(s, [ok, ok], ctx(region=US))
    assert s.dr == 3 and s.enabled_channels == [*range(8), 64]


def test_unanswered_request_is_requeued_then_dropped() -> None:
    s = session()
    mac.queue_request(s, [DevStatusReq()], source="test")
    for attempt in range(1, 3):
        send_pending(s)
        result = mac.handle_uplink_commands(s, [], ctx(retries=2))
        assert [e["cid"] for e in s.pending_mac_commands] == ["DevStatusReq"]
        assert s.pending_mac_commands[0]["retries"] == attempt
        assert result.events == []
    send_pending(s)
    result = mac.handle_uplink_commands(s, [], ctx(retries=2))
    assert s.pending_mac_commands == []
    assert result.events[0]["kind"] == "mac_command_unanswered"


@pytest.mark.parametrize(
    ("req", "intent", "answer", "check"),
    [
        (
            RXParamSetupReq(rx1_dr_offset=2, rx2_data_rate=3, frequency=869_525_000),
            {"rx1_dr_offset": 2, "rx2_dr": 3, "rx2_freq": 869_525_000},
            RXParamSetupAns(rx1_dr_offset_ack=True, rx2_data_rate_ack=True, channel_ack=True),
            lambda s: (s.rx1_dr_offset, s.rx2_dr, s.rx2_freq) == (2, 3, 869_525_000),
        ),
        (
            RXParamSetupReq(rx1_dr_offset=2, rx2_data_rate=3, frequency=869_525_000),
            {"rx1_dr_offset": 2, "rx2_dr": 3, "rx2_freq": 869_525_000},
            RXParamSetupAns(rx1_dr_offset_ack=True, rx2_data_rate_ack=False, channel_ack=True),
            lambda s: s.rx2_dr == 0 and "rx_param_rejected" in s.mac_command_state,
        ),
        (
            RXTimingSetupReq(delay=3),
            {"rx1_delay": 3},
            RXTimingSetupAns(),
            lambda s: s.rx1_delay == 3,
        ),
        (
            DutyCycleReq(max_duty_cycle=7),
            {"max_duty_cycle": 7},
            DutyCycleAns(),
            lambda s: s.mac_command_state["max_duty_cycle"] == 7,
        ),
        (
            NewChannelReq(ch_index=3, freq=867_100_000, max_dr=5, min_dr=0),
            {"ch_index": 3, "freq": 867_100_000, "min_dr": 0, "max_dr": 5},
            NewChannelAns(data_rate_range_ok=True, channel_freq_ok=True),
            lambda s: (
                3 in s.enabled_channels
                and s.mac_command_state["channels"]["3"]["freq"] == 867_100_000
            ),
        ),
        (
            NewChannelReq(ch_index=3, freq=867_100_000, max_dr=5, min_dr=0),
            {"ch_index": 3, "freq": 867_100_000, "min_dr": 0, "max_dr": 5},
            NewChannelAns(data_rate_range_ok=False, channel_freq_ok=True),
            lambda s: 3 not in s.enabled_channels,
        ),
    ],
)
def test_setup_answers_apply_the_pending_request(req, intent, answer, check) -> None:  # type: ignore[no-untyped-def]
    s = session()
    mac.queue_request(s, [req], intent)
    send_pending(s)
    mac.handle_uplink_commands(s, [answer], ctx())
    assert check(s)
    assert s.pending_mac_commands == [] and s.mac_command_state["sent"] == []


def test_repeated_sticky_answer_without_request_is_ignored() -> None:
    s = session(rx1_delay=1)
    result = mac.handle_uplink_commands(s, [RXTimingSetupAns()], ctx())
    assert s.rx1_delay == 1 and result.answers == []


@pytest.mark.parametrize(
    ("rxs", "now", "seconds"),
    [
        # a gateway's GPS timestamp wins
        ([rx(tmms=1_400_000_000_500)], T0, 1_400_000_000),
        # else its UTC time + 18 leap seconds
        (
            [rx(time=datetime(2020, 1, 1, tzinfo=UTC))],
            T0,
            int((datetime(2020, 1, 1, tzinfo=UTC) - mac.GPS_EPOCH).total_seconds()) + 18,
        ),
        # else the injected clock
        ([rx()], T0, int((T0 - mac.GPS_EPOCH).total_seconds()) + 18),
    ],
)
def test_device_time(rxs, now, seconds) -> None:  # type: ignore[no-untyped-def]
    c = mac.MacContext(EU, 5, rxs, now, 1, MacVersion.V1_0_3)
    result = mac.handle_uplink_commands(session(), [DeviceTimeReq()], c)
    (ans,) = result.answers
    assert isinstance(ans, DeviceTimeAns) and ans.seconds == seconds


def test_reset_and_rekey_indications_are_confirmed() -> None:
    s = session(mac_version="1.1.0", dr=3, nb_trans=2)
    mac.queue_request(s, [DevStatusReq()])
    result = mac.handle_uplink_commands(s, [ResetInd(minor_version=1)], ctx(dr=5))
    assert result.answers == [ResetConf(minor_version=1)]
    assert s.pending_mac_commands == [] and s.nb_trans == 1 and s.dr == 5
    result = mac.handle_uplink_commands(s, [RekeyInd(minor_version=1)], ctx())
    assert result.answers == [RekeyConf(minor_version=1)]


def test_state_stays_json_serialisable() -> None:
    import json

    s = session()
    _queue_adr(s)
    mac.queue_request(s, [DevStatusReq()])
    json.dumps(s.pending_mac_commands)
    json.dumps(s.mac_command_state)
