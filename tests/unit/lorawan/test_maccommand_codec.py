"""MAC commands: fixed-byte round trips for every command and direction, block parsing,
validation and the helpers the network server relies on."""

from __future__ import annotations

import json

import pytest

from services.lorawan.errors import (
    InvalidParameter,
    LoRaWANError,
    MalformedPacket,
    UnknownMacCommand,
)
from services.lorawan.maccommand import (
    ALL_COMMANDS,
    ADRParamSetupAns,
    ADRParamSetupReq,
    BeaconFreqAns,
    BeaconFreqReq,
    BeaconTimingAns,
    BeaconTimingReq,
    DeviceModeConf,
    DeviceModeInd,
    DeviceTimeAns,
    DeviceTimeReq,
    DevStatusAns,
    DevStatusReq,
    DlChannelAns,
    DlChannelReq,
    DutyCycleAns,
    DutyCycleReq,
    ForceRejoinReq,
    LinkADRAns,
    LinkADRReq,
    LinkCheckAns,
    LinkCheckReq,
    MacCommand,
    NewChannelAns,
    NewChannelReq,
    PingSlotChannelAns,
    PingSlotChannelReq,
    PingSlotInfoAns,
    PingSlotInfoReq,
    ProprietaryMacCommand,
    RejoinParamSetupAns,
    RejoinParamSetupReq,
    RekeyConf,
    RekeyInd,
    ResetConf,
    ResetInd,
    RXParamSetupAns,
    RXParamSetupReq,
    RXTimingSetupAns,
    RXTimingSetupReq,
    TxParamSetupAns,
    TxParamSetupReq,
    encode_mac_commands,
    mac_command_from_dict,
    parse_mac_commands,
    payload_size,
)

# (uplink, bytes in hex, command). Bytes worked out by hand from the LoRaWAN 1.1 / 1.0.4
# field layouts; every standard command and direction appears at least once.
ROUND_TRIPS: list[tuple[bool, str, MacCommand]] = [
    (True, "0101", ResetInd(minor_version=1)),
    (True, "0100", ResetInd(minor_version=0)),
    (False, "0101", ResetConf(minor_version=1)),
    (True, "02", LinkCheckReq()),
    (False, "02fe01", LinkCheckAns(margin=254, gw_cnt=1)),
    (False, "0351ff0001", LinkADRReq(5, 1, 0x00FF, 0, 1)),
    (False, "03ffffff7f", LinkADRReq(15, 15, 0xFFFF, 7, 15)),
    (False, "0300000160", LinkADRReq(0, 0, 0x0100, 6, 0)),
    (True, "0306", LinkADRAns(power_ack=True, data_rate_ack=True, channel_mask_ack=False)),
    (True, "0300", LinkADRAns(power_ack=False, data_rate_ack=False, channel_mask_ack=False)),
    (False, "0400", DutyCycleReq(max_duty_cycle=0)),
    (False, "040f", DutyCycleReq(max_duty_cycle=15)),
    (True, "04", DutyCycleAns()),
    (False, "0520d2ad84", RXParamSetupReq(rx1_dr_offset=2, rx2_data_rate=0, frequency=869525000)),
    (False, "057fffffff", RXParamSetupReq(7, 15, 1_677_721_500)),
    (
        True,
        "0503",
        RXParamSetupAns(rx1_dr_offset_ack=False, rx2_data_rate_ack=True, channel_ack=True),
    ),
    (
        True,
        "0504",
        RXParamSetupAns(rx1_dr_offset_ack=True, rx2_data_rate_ack=False, channel_ack=False),
    ),
    (False, "06", DevStatusReq()),
    (True, "06fe1f", DevStatusAns(battery=254, margin=31)),
    (True, "060120", DevStatusAns(battery=1, margin=-32)),
    (True, "06ff30", DevStatusAns(battery=255, margin=-16)),
    (False, "0703184f8450", NewChannelReq(ch_index=3, freq=867100000, max_dr=5, min_dr=0)),
    (False, "07ff00000000", NewChannelReq(ch_index=255, freq=0, max_dr=0, min_dr=0)),
    (True, "0703", NewChannelAns(data_rate_range_ok=True, channel_freq_ok=True)),
    (True, "0702", NewChannelAns(data_rate_range_ok=True, channel_freq_ok=False)),
    (False, "0801", RXTimingSetupReq(delay=1)),
    (True, "08", RXTimingSetupAns()),
    (False, "0935", TxParamSetupReq(downlink_dwell_time=True, uplink_dwell_time=True, max_eirp=5)),
    (False, "0900", TxParamSetupReq(False, False, 0)),
    (True, "09", TxParamSetupAns()),
    (False, "0a02c88584", DlChannelReq(ch_index=2, freq=868500000)),
    (True, "0a03", DlChannelAns(uplink_freq_exists=True, channel_freq_ok=True)),
    (True, "0a01", DlChannelAns(uplink_freq_exists=False, channel_freq_ok=True)),
    (True, "0b01", RekeyInd(minor_version=1)),
    (False, "0b01", RekeyConf(minor_version=1)),
    (False, "0c65", ADRParamSetupReq(limit_exp=6, delay_exp=5)),
    (True, "0c", ADRParamSetupAns()),
    (True, "0d", DeviceTimeReq()),
    (False, "0d004e725380", DeviceTimeAns(seconds=1_400_000_000, fractional=128)),
    (False, "0dffffffffff", DeviceTimeAns(seconds=0xFFFFFFFF, fractional=255)),
    (False, "0e0000", ForceRejoinReq(period=0, max_retries=0, rejoin_type=0, dr=0)),
    (False, "0e3f7f", ForceRejoinReq(period=7, max_retries=7, rejoin_type=7, dr=15)),
    (False, "0e0103", ForceRejoinReq(period=0, max_retries=1, rejoin_type=0, dr=3)),
    (False, "0e1925", ForceRejoinReq(period=3, max_retries=1, rejoin_type=2, dr=5)),
    (False, "0f00", RejoinParamSetupReq(max_time_n=0, max_count_n=0)),
    (False, "0f5a", RejoinParamSetupReq(max_time_n=5, max_count_n=10)),
    (True, "0f00", RejoinParamSetupAns(time_ok=False)),
    (True, "0f01", RejoinParamSetupAns(time_ok=True)),
    (True, "1000", PingSlotInfoReq(periodicity=0)),
    (False, "10", PingSlotInfoAns()),
    (False, "11d2ad8403", PingSlotChannelReq(freq=869525000, dr=3)),
    (True, "1102", PingSlotChannelAns(dr_ok=True, channel_freq_ok=False)),
    (True, "12", BeaconTimingReq()),
    (False, "12010000", BeaconTimingAns(delay=1, channel=0)),
    (False, "13000000", BeaconFreqReq(freq=0)),
    (True, "1300", BeaconFreqAns(beacon_freq_ok=False)),
    (True, "2002", DeviceModeInd(device_class=2)),
    (False, "2000", DeviceModeConf(device_class=0)),
]


def test_table_covers_every_command_and_direction() -> None:
    covered = {type(cmd) for _, _, cmd in ROUND_TRIPS}
    assert covered == set(ALL_COMMANDS)
    for uplink, _, cmd in ROUND_TRIPS:
        assert cmd.UPLINK is uplink


@pytest.mark.parametrize(("uplink", "hex_bytes", "cmd"), ROUND_TRIPS)
def test_round_trip_fixed_bytes(uplink: bool, hex_bytes: str, cmd: MacCommand) -> None:
    raw = bytes.fromhex(hex_bytes)
    assert cmd.to_bytes() == raw
    assert cmd.payload_to_bytes() == raw[1:]
    assert len(raw) - 1 == payload_size(raw[0], uplink) == type(cmd).SIZE
    assert parse_mac_commands(raw, uplink) == [cmd]
    assert type(cmd).from_payload(raw[1:]) == cmd
    assert type(cmd).from_bytes(raw) == cmd
    assert encode_mac_commands([cmd]) == raw


@pytest.mark.parametrize(("uplink", "hex_bytes", "cmd"), ROUND_TRIPS)
def test_to_dict_is_json_and_inverts(uplink: bool, hex_bytes: str, cmd: MacCommand) -> None:
    data = cmd.to_dict()
    assert data["cid"] == type(cmd).__name__
    again = json.loads(json.dumps(data))
    assert mac_command_from_dict(again) == cmd


def test_direction_selects_the_class() -> None:
    assert parse_mac_commands(b"\x03\x07", uplink=True) == [LinkADRAns(True, True, True)]
    with pytest.raises(MalformedPacket):  # a downlink 0x03 is a 4-byte LinkADRReq
        parse_mac_commands(b"\x03\x07", uplink=False)
    assert parse_mac_commands(b"\x02", uplink=True) == [LinkCheckReq()]
    with pytest.raises(MalformedPacket):
        parse_mac_commands(b"\x02", uplink=False)
    assert payload_size(0x06, uplink=True) == 2
    assert payload_size(0x06, uplink=False) == 0


def test_block_of_several_commands() -> None:
    # A typical uplink FOpts: LinkADRAns (all ack), DevStatusAns, DeviceTimeReq, LinkCheckReq.
    raw = bytes.fromhex("030706fe050d02")
    cmds = parse_mac_commands(raw, uplink=True)
    assert cmds == [
        LinkADRAns(True, True, True),
        DevStatusAns(battery=254, margin=5),
        DeviceTimeReq(),
        LinkCheckReq(),
    ]
    assert encode_mac_commands(cmds) == raw
    assert parse_mac_commands(b"", uplink=True) == []
    assert encode_mac_commands([]) == b""


def test_downlink_block_with_two_link_adr_requests() -> None:
    # US915-style contiguous LinkADRReq block (ChMaskCntl 7 then 0).
    first = LinkADRReq(data_rate=3, tx_power=0, ch_mask=0x0001, ch_mask_cntl=7, nb_trans=0)
    second = LinkADRReq(data_rate=3, tx_power=0, ch_mask=0xFF00, ch_mask_cntl=0, nb_trans=1)
    raw = encode_mac_commands([first, second])
    assert raw == bytes.fromhex("0330010070033000ff01")
    assert parse_mac_commands(raw, uplink=False) == [first, second]


def test_rfu_bits_are_ignored_on_decode() -> None:
    assert parse_mac_commands(b"\x03\xff", uplink=True) == [LinkADRAns(True, True, True)]
    assert parse_mac_commands(b"\x04\xf3", uplink=False) == [DutyCycleReq(3)]
    assert parse_mac_commands(b"\x09\xc0", uplink=False) == [TxParamSetupReq(False, False, 0)]
    assert parse_mac_commands(b"\x0e\xc0\x00", uplink=False) == [ForceRejoinReq(0, 0, 0, 0)]
    assert parse_mac_commands(b"\x0e\x00\x80", uplink=False) == [ForceRejoinReq(0, 0, 0, 0)]
    assert parse_mac_commands(b"\x01\xf1", uplink=True) == [ResetInd(1)]
    assert parse_mac_commands(b"\x06\x00\xc0", uplink=True) == [DevStatusAns(0, 0)]
    assert parse_mac_commands(b"\x05\x80\x00\x00\x00", uplink=False) == [RXParamSetupReq(0, 0, 0)]


def test_proprietary_consumes_the_rest() -> None:
    raw = bytes.fromhex("0307800d0102")
    cmds = parse_mac_commands(raw, uplink=True)
    assert cmds == [
        LinkADRAns(True, True, True),
        ProprietaryMacCommand(cid_value=0x80, payload=b"\x0d\x01\x02", uplink=True),
    ]
    assert encode_mac_commands(cmds) == raw
    assert parse_mac_commands(b"\xff", uplink=False) == [
        ProprietaryMacCommand(cid_value=0xFF, payload=b"", uplink=False)
    ]
    prop = cmds[1]
    assert prop.command_id == 0x80 and prop.is_uplink
    assert prop.to_dict() == {
        "cid": "Proprietary",
        "cid_value": 0x80,
        "payload": "0d0102",
        "uplink": True,
    }
    assert mac_command_from_dict(prop.to_dict()) == prop
    with pytest.raises(UnknownMacCommand):
        payload_size(0x80, uplink=True)


@pytest.mark.parametrize(
    ("uplink", "hex_bytes"),
    [
        (True, "14"),  # 0x14 is not defined
        (False, "7f"),
        (True, "0e00"),  # ForceRejoinReq exists only downlink
        (False, "010121"),  # ResetConf, then an undefined 0x21
        (True, "030000"),  # LinkADRAns, then CID 0x00 (undefined)
    ],
)
def test_unknown_cid(uplink: bool, hex_bytes: str) -> None:
    with pytest.raises(UnknownMacCommand):
        parse_mac_commands(bytes.fromhex(hex_bytes), uplink)


@pytest.mark.parametrize(
    ("uplink", "hex_bytes"),
    [
        (False, "03"),
        (False, "03ffff"),
        (False, "0520d2ad"),
        (True, "06fe"),
        (False, "0d00000000"),
        (False, "0e00"),
        (True, "03070f"),
        (False, "07030102"),
    ],
)
def test_truncated_payload(uplink: bool, hex_bytes: str) -> None:
    with pytest.raises(MalformedPacket) as info:
        parse_mac_commands(bytes.fromhex(hex_bytes), uplink)
    assert not isinstance(info.value, UnknownMacCommand)


def test_from_bytes_and_from_payload_check_length_and_cid() -> None:
    with pytest.raises(MalformedPacket):
        LinkADRReq.from_payload(b"\x00\x00\x00")
    with pytest.raises(MalformedPacket):
        LinkCheckReq.from_payload(b"\x00")
    with pytest.raises(MalformedPacket):
        LinkADRAns.from_bytes(b"\x05\x07")
    with pytest.raises(MalformedPacket):
        LinkADRAns.from_bytes(b"")
    assert payload_size(0x03, uplink=False) == 4
    with pytest.raises(UnknownMacCommand):
        payload_size(0x40, uplink=True)


@pytest.mark.parametrize(
    "build",
    [
        lambda: LinkADRReq(16, 0, 0, 0, 0),
        lambda: LinkADRReq(0, -1, 0, 0, 0),
        lambda: LinkADRReq(0, 0, 0x10000, 0, 0),
        lambda: LinkADRReq(0, 0, 0, 8, 0),
        lambda: LinkADRReq(0, 0, 0, 0, 16),
        lambda: LinkADRReq(True, 0, 0, 0, 0),
        lambda: LinkADRAns(1, True, True),  # type: ignore[arg-type]
        lambda: LinkCheckAns(256, 0),
        lambda: DutyCycleReq(16),
        lambda: RXParamSetupReq(8, 0, 868100000),
        lambda: RXParamSetupReq(0, 0, 868100050),
        lambda: RXParamSetupReq(0, 0, 1_677_721_600),
        lambda: RXParamSetupReq(0, 0, -100),
        lambda: RXParamSetupReq(0, 0, 868.1e6),  # type: ignore[arg-type]
        lambda: DevStatusAns(0, 32),
        lambda: DevStatusAns(0, -33),
        lambda: DevStatusAns(256, 0),
        lambda: NewChannelReq(256, 868100000, 5, 0),
        lambda: NewChannelReq(3, 868100000, 16, 0),
        lambda: RXTimingSetupReq(16),
        lambda: TxParamSetupReq(False, False, 16),
        lambda: TxParamSetupReq(0, False, 1),  # type: ignore[arg-type]
        lambda: DlChannelReq(0, 2_400_000_000),
        lambda: ResetInd(16),
        lambda: ADRParamSetupReq(16, 0),
        lambda: DeviceTimeAns(1 << 32, 0),
        lambda: DeviceTimeAns(0, 256),
        lambda: ForceRejoinReq(8, 0, 0, 0),
        lambda: ForceRejoinReq(0, 8, 0, 0),
        lambda: ForceRejoinReq(0, 0, 8, 0),
        lambda: ForceRejoinReq(0, 0, 0, 16),
        lambda: RejoinParamSetupReq(16, 0),
        lambda: RejoinParamSetupAns("yes"),  # type: ignore[arg-type]
        lambda: PingSlotInfoReq(8),
        lambda: BeaconTimingAns(0x10000, 0),
        lambda: DeviceModeInd(256),
        lambda: ProprietaryMacCommand(0x7F, b""),
        lambda: ProprietaryMacCommand(0x100, b""),
        lambda: ProprietaryMacCommand(0x80, "00"),  # type: ignore[arg-type]
    ],
)
def test_out_of_range_fields_are_rejected(build: object) -> None:
    with pytest.raises(InvalidParameter):
        build()  # type: ignore[operator]


def test_encode_rejects_mixed_directions_and_misplaced_proprietary() -> None:
    with pytest.raises(InvalidParameter):
        encode_mac_commands([LinkCheckReq(), DevStatusReq()])
    with pytest.raises(InvalidParameter):
        encode_mac_commands([ProprietaryMacCommand(0x80, b"\x01", uplink=False), DevStatusReq()])
    with pytest.raises(InvalidParameter):
        encode_mac_commands([b"\x02"])  # type: ignore[list-item]


def test_commands_are_frozen_and_hashable() -> None:
    cmd = LinkADRReq(1, 2, 3, 4, 5)
    with pytest.raises(AttributeError):
        cmd.data_rate = 2  # type: ignore[misc]
    assert len({cmd, LinkADRReq(1, 2, 3, 4, 5)}) == 1


def test_link_adr_helpers() -> None:
    assert LinkADRAns(True, True, True).all_ack
    for acks in [(False, True, True), (True, False, True), (True, True, False)]:
        assert not LinkADRAns(*acks).all_ack
    req = LinkADRReq(
        data_rate=5, tx_power=3, ch_mask=0b1000_0000_0000_0101, ch_mask_cntl=0, nb_trans=1
    )
    assert req.dr == 5 and req.tx_power_index == 3
    assert req.enabled_channels == [0, 2, 15]
    assert LinkADRReq.ch_mask_from_channels([0, 2, 15]) == req.ch_mask
    with pytest.raises(InvalidParameter):
        LinkADRReq.ch_mask_from_channels([16])


def test_dev_status_battery_semantics() -> None:
    external = DevStatusAns(battery=0, margin=10)
    assert external.external_power and not external.battery_unknown
    assert external.battery_level is None
    unknown = DevStatusAns(battery=255, margin=10)
    assert unknown.battery_unknown and not unknown.external_power
    assert unknown.battery_level is None
    assert DevStatusAns(battery=254, margin=0).battery_level == 100.0
    assert DevStatusAns(battery=127, margin=0).battery_level == pytest.approx(50.0)
    assert DevStatusAns(battery=1, margin=0).battery_level == pytest.approx(100 / 254)


def test_other_helpers() -> None:
    assert RXParamSetupAns(True, True, True).all_ack
    assert not RXParamSetupAns(True, False, True).all_ack
    assert NewChannelAns(True, True).all_ack and not NewChannelAns(False, True).all_ack
    assert DlChannelAns(True, True).all_ack and not DlChannelAns(True, False).all_ack
    assert PingSlotChannelAns(True, True).all_ack
    assert NewChannelReq(3, 0, 0, 0).disables_channel
    assert DutyCycleReq(0).aggregated_duty_cycle == 1.0
    assert DutyCycleReq(7).aggregated_duty_cycle == 1 / 128
    assert RXTimingSetupReq(0).delay_seconds == 1
    assert RXTimingSetupReq(1).delay_seconds == 1
    assert RXTimingSetupReq(15).delay_seconds == 15
    assert TxParamSetupReq(False, False, 0).max_eirp_dbm == 8
    assert TxParamSetupReq(False, False, 5).max_eirp_dbm == 16
    assert TxParamSetupReq(False, False, 15).max_eirp_dbm == 36
    assert ADRParamSetupReq(6, 5).adr_ack_limit == 64
    assert ADRParamSetupReq(6, 5).adr_ack_delay == 32
    assert RejoinParamSetupReq(0, 0).max_time_seconds == 1024
    assert RejoinParamSetupReq(0, 0).max_count == 16
    assert ForceRejoinReq(3, 0, 2, 0).retry_delay_seconds == 256
    assert ForceRejoinReq(0, 0, 1, 0).request_type == 0
    assert ForceRejoinReq(0, 0, 2, 0).request_type == 2
    assert ForceRejoinReq(0, 0, 3, 0).request_type is None
    assert PingSlotInfoReq(7).ping_period_seconds == 128
    assert DeviceModeInd(2).is_class_c and not DeviceModeConf(0).is_class_c


def test_device_time_from_gps_time() -> None:
    ans = DeviceTimeAns.from_gps_time(1_400_000_000.5)
    assert (ans.seconds, ans.fractional) == (1_400_000_000, 128)
    assert ans.gps_time == 1_400_000_000.5
    # Rounding to the nearest 1/256 s carries into the seconds.
    carried = DeviceTimeAns.from_gps_time(9.9999)
    assert (carried.seconds, carried.fractional) == (10, 0)
    for bad in (-1.0, float("nan"), float("inf"), 2.0**32):
        with pytest.raises(InvalidParameter):
            DeviceTimeAns.from_gps_time(bad)


def test_versions_and_names() -> None:
    assert ForceRejoinReq.SINCE == "1.1" and ResetInd.SINCE == "1.1"
    assert LinkADRReq.SINCE == "1.0" and DeviceTimeReq.SINCE == "1.0.3"
    assert LinkADRReq.name() == "LinkADRReq"
    names = [cls.name() for cls in ALL_COMMANDS]
    assert len(names) == len(set(names))


def test_from_dict_errors() -> None:
    with pytest.raises(UnknownMacCommand):
        mac_command_from_dict({"cid": "NoSuchCommand"})
    with pytest.raises(UnknownMacCommand):
        mac_command_from_dict({})
    with pytest.raises(InvalidParameter):
        mac_command_from_dict({"cid": "LinkCheckAns", "margin": 3})
    with pytest.raises(InvalidParameter):
        LinkCheckAns.from_dict({"cid": "LinkADRAns", "margin": 3, "gw_cnt": 1})
    with pytest.raises(InvalidParameter):
        mac_command_from_dict({"cid": "Proprietary", "cid_value": 0x80, "payload": "zz"})
    with pytest.raises(LoRaWANError):
        mac_command_from_dict({"cid": "LinkCheckAns", "margin": 300, "gw_cnt": 1})
