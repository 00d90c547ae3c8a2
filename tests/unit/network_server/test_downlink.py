"""Class A scheduling and downlink frames: windows, gateway choice, FOpts/FPort 0, 1.1 crypto."""

from __future__ import annotations

import pytest

from services.lorawan import MType, PhyPayload
from services.lorawan.crypto import encrypt_frm_payload
from services.lorawan.maccommand import (
    DeviceTimeAns,
    DevStatusReq,
    LinkCheckAns,
    parse_mac_commands,
)
from services.lorawan.region import get_region
from services.network_server.core import downlink as dl
from services.network_server.core import maccommands as mac
from services.network_server.errors import DownlinkNotPossible

from .helpers import rx, session

EU = get_region("EU868")
US = get_region("US915")
U32 = 1 << 32


# --------------------------------------------------------------------------- windows


@pytest.mark.parametrize(
    ("region", "freq", "sf", "bw", "tmst", "delay", "offset", "rx1", "rx2"),
    [
        # EU868: RX1 on the uplink frequency at DR - offset, 14 dBm; RX2 869.525 MHz DR0 27 dBm
        (
            EU,
            868_300_000,
            7,
            125_000,
            1_000_000,
            1,
            0,
            (2_000_000, 868_300_000, 5, 14),
            (3_000_000, 869_525_000, 0, 27),
        ),
        (
            EU,
            868_500_000,
            7,
            125_000,
            1_000_000,
            1,
            2,
            (2_000_000, 868_500_000, 3, 14),
            (3_000_000, 869_525_000, 0, 27),
        ),
        (
            EU,
            868_100_000,
            12,
            125_000,
            5,
            5,
            0,
            (5_000_005, 868_100_000, 0, 14),
            (6_000_005, 869_525_000, 0, 27),
        ),
        # the concentrator counter wraps at 2**32
        (
            EU,
            868_100_000,
            9,
            125_000,
            U32 - 500_000,
            1,
            0,
            (500_000, 868_100_000, 3, 14),
            (1_500_000, 869_525_000, 0, 27),
        ),
        # US915: RX1 923.3 + 0.6 * (channel % 8) MHz, DR0..3 -> DR10..13; RX2 923.3 MHz DR8
        (
            US,
            904_100_000,
            10,
            125_000,
            1_000_000,
            1,
            0,  # channel 9
            (2_000_000, 923_900_000, 10, 20),
            (3_000_000, 923_300_000, 8, 20),
        ),
        (
            US,
            902_300_000,
            7,
            125_000,
            1_000_000,
            1,
            0,  # channel 0, DR3
            (2_000_000, 923_300_000, 13, 20),
            (3_000_000, 923_300_000, 8, 20),
        ),
        (
            US,
            903_000_000,
            8,
            500_000,
            1_000_000,
            1,
            0,  # channel 64, DR4
            (2_000_000, 923_300_000, 13, 20),
            (3_000_000, 923_300_000, 8, 20),
        ),
        (
            US,
            914_900_000,
            10,
            125_000,
            0,
            1,
            1,  # channel 63, offset 1
            (1_000_000, 927_500_000, 9, 20),
            (2_000_000, 923_300_000, 8, 20),
        ),
    ],
)
def test_class_a_windows(region, freq, sf, bw, tmst, delay, offset, rx1, rx2) -> None:  # type: ignore[no-untyped-def]
    meta = rx(freq_hz=freq, sf=sf, bw_hz=bw, tmst=tmst)
    up_dr = region.dr_for(sf, bw)
    w1, w2 = dl.class_a_windows(
        region,
        meta,
        uplink_dr=up_dr,
        rx1_delay=delay,
        rx1_dr_offset=offset,
        rx2_dr=region.rx2_dr,
        rx2_freq_hz=region.rx2_frequency_hz,
    )
    assert w1 is not None
    assert (w1.tmst, w1.freq_hz, w1.dr, w1.power_dbm) == rx1
    assert (w2.tmst, w2.freq_hz, w2.dr, w2.power_dbm) == rx2
    assert (w1.window, w2.window, w2.delay_s - w1.delay_s) == ("RX1", "RX2", 1)


@pytest.mark.parametrize(
    ("region", "freq", "sf", "rx1", "rx2"),
    [
        (EU, 868_100_000, 12, (6_000_000, 868_100_000, 0), (7_000_000, 869_525_000, 0)),
        (US, 902_300_000, 10, (6_000_000, 923_300_000, 10), (7_000_000, 923_300_000, 8)),
    ],
)
def test_join_accept_windows(region, freq, sf, rx1, rx2) -> None:  # type: ignore[no-untyped-def]
    meta = rx(freq_hz=freq, sf=sf, tmst=1_000_000)
    w1, w2 = dl.join_accept_windows(region, meta, uplink_dr=region.dr_for(sf, 125_000))
    assert w1 is not None
    assert (w1.tmst, w1.freq_hz, w1.dr) == rx1
    assert (w2.tmst, w2.freq_hz, w2.dr) == rx2


def test_power_override() -> None:
    w1, w2 = dl.class_a_windows(
        EU,
        rx(),
        uplink_dr=5,
        rx1_delay=1,
        rx1_dr_offset=0,
        rx2_dr=0,
        rx2_freq_hz=869_525_000,
        power_override=10,
    )
    assert w1 is not None and w1.power_dbm == w2.power_dbm == 10


@pytest.mark.parametrize(
    ("copies", "chosen"),
    [
        ([("01", 5.0, -90, 1), ("02", 9.0, -100, 2), ("03", 9.0, -80, 3)], "03"),  # SNR, RSSI
        ([("01", -2.0, -90, 1), ("02", 9.0, -100, None)], "01"),  # no tmst: not usable
        ([("01", None, -60, 1), ("02", -15.0, -120, 2)], "02"),
    ],
)
def test_select_gateway(copies, chosen) -> None:  # type: ignore[no-untyped-def]
    rxs = [rx(f"AA555A00000000{g}", snr=snr, rssi=rssi, tmst=t) for g, snr, rssi, t in copies]
    assert dl.select_gateway(rxs).gw_eui == f"AA555A00000000{chosen}"


def test_select_gateway_without_tmst() -> None:
    with pytest.raises(DownlinkNotPossible):
        dl.select_gateway([rx(tmst=None)])


def test_gateway_downlink_radio_params() -> None:
    w1, _ = dl.class_a_windows(
        EU,
        rx(sf=9, context=b"ctx"),
        uplink_dr=3,
        rx1_delay=1,
        rx1_dr_offset=0,
        rx2_dr=0,
        rx2_freq_hz=869_525_000,
    )
    assert w1 is not None
    msg = dl.gateway_downlink(EU, w1, b"\x60abc", "dl-1", "0102030405060708")
    assert (msg.sf, msg.bw_hz, msg.dr, msg.freq_hz, msg.power_dbm) == (
        9,
        125_000,
        "SF9BW125",
        868_100_000,
        14,
    )
    assert msg.invert_polarity and msg.no_crc and msg.context == b"ctx"
    assert msg.tmst == 2_000_000 and msg.gw_eui == "AA555A0000000001"


# --------------------------------------------------------------------------- decisions


@pytest.mark.parametrize(
    ("kw", "reasons"),
    [
        ({}, []),
        ({"confirmed_uplink": True}, ["ack"]),
        ({"adr_ack_req": True}, ["adr_ack_req"]),
        ({"mac_answers": [LinkCheckAns(margin=1, gw_cnt=1)]}, ["mac_answers"]),
        ({"pending_mac": [{"cid": "DevStatusReq"}]}, ["mac_requests"]),
        ({"queued_item": True, "confirmed_uplink": True}, ["ack", "queue"]),
    ],
)
def test_downlink_reasons(kw, reasons) -> None:  # type: ignore[no-untyped-def]
    base = {
        "confirmed_uplink": False,
        "adr_ack_req": False,
        "mac_answers": [],
        "pending_mac": [],
        "queued_item": False,
    }
    assert dl.downlink_reasons(**{**base, **kw}) == reasons


# --------------------------------------------------------------------------- frames


def _decoded(data: bytes) -> PhyPayload:
    return PhyPayload.from_bytes(data)


@pytest.mark.parametrize(
    ("n_answers", "with_item", "where", "f_pending"),
    [
        (1, False, "f_opts", False),  # 6 bytes
        (2, False, "f_opts", False),  # 12 bytes
        (3, False, "port0", False),  # 18 bytes > 15: FPort 0
        (3, True, "f_opts", True),  # app payload: FOpts only, the rest later (FPending)
    ],
)
def test_f_opts_or_port_0(n_answers: int, with_item: bool, where: str, f_pending: bool) -> None:
    s = session(n_f_cnt_down=4)
    answers = [DeviceTimeAns(seconds=i, fractional=0) for i in range(n_answers)]  # 6 bytes each
    item = dl.QueuedPayload("i", "r", 10, b"\x99\x98", 4) if with_item else None
    frame = dl.build_data_downlink(s, ack=False, answers=answers, item=item)
    phy = _decoded(frame.phy_payload)
    macp = phy.mac_payload()
    assert frame.f_pending is f_pending and macp.fhdr.f_ctrl.f_pending is f_pending
    if where == "f_opts":
        sent = parse_mac_commands(macp.fhdr.f_opts, uplink=False)
        assert sent == answers[: len(sent)] and len(sent) == min(n_answers, 2)
        assert macp.f_port == (10 if with_item else None)
    else:
        assert macp.f_port == 0 and macp.fhdr.f_opts == b""
        plain = encrypt_frm_payload(s.nwk_s_enc_key, s.dev_addr, 4, False, macp.frm_payload)
        assert parse_mac_commands(plain, uplink=False) == answers
    assert phy.validate_downlink_data_mic("1.0.3", 0, s.s_nwk_s_int_key)
    assert s.n_f_cnt_down == 5


def test_lorawan_11_f_opts_encryption_round_trip() -> None:
    s = session(mac_version="1.1.0", n_f_cnt_down=7)
    answers = [LinkCheckAns(margin=12, gw_cnt=2)]
    mac.queue_request(s, [DevStatusReq()])
    frame = dl.build_data_downlink(
        s, ack=True, conf_f_cnt=0x12345, answers=answers, pending=s.pending_mac_commands
    )
    phy = _decoded(frame.phy_payload)
    raw = phy.mac_payload().fhdr.f_opts
    assert raw != b"\x02\x0c\x02\x06"  # encrypted on the air
    assert phy.validate_downlink_data_mic("1.1.0", 0x12345, s.s_nwk_s_int_key)
    assert not phy.validate_downlink_data_mic("1.1.0", 0x12346, s.s_nwk_s_int_key)
    phy.mac_payload().fhdr.f_cnt = 7
    phy.decrypt_f_opts(s.nwk_s_enc_key)
    assert phy.mac_payload().fhdr.f_opts_commands(uplink=False) == [*answers, DevStatusReq()]
    assert frame.sent_entries == s.pending_mac_commands
    assert phy.mhdr.m_type is MType.UNCONFIRMED_DATA_DOWN and phy.mac_payload().fhdr.f_ctrl.ack


@pytest.mark.parametrize(
    ("mac_version", "item_cnt", "confirmed", "frame_cnt", "n_after", "a_after"),
    [
        ("1.0.3", None, False, 4, 5, 2),  # MAC-only: NFCntDown
        ("1.0.3", 9, False, 9, 10, 2),  # 1.0.x app frame: the shared counter jumps
        ("1.1.0", None, False, 4, 5, 2),
        ("1.1.0", 6, True, 6, 4, 7),  # 1.1 app frame: AFCntDown only
    ],
)
def test_counters(mac_version, item_cnt, confirmed, frame_cnt, n_after, a_after) -> None:  # type: ignore[no-untyped-def]
    s = session(mac_version=mac_version, n_f_cnt_down=4, a_f_cnt_down=2)
    item = None
    if item_cnt is not None:
        item = dl.QueuedPayload("i", "r", 3, b"\x01", item_cnt, confirmed)
    frame = dl.build_data_downlink(s, ack=False, item=item)
    phy = _decoded(frame.phy_payload)
    assert phy.mac_payload().fhdr.f_cnt == frame_cnt & 0xFFFF == frame.f_cnt
    assert (s.n_f_cnt_down, s.a_f_cnt_down) == (n_after, a_after)
    assert phy.mhdr.m_type is (
        MType.CONFIRMED_DATA_DOWN if confirmed else MType.UNCONFIRMED_DATA_DOWN
    )
    if confirmed:
        assert s.conf_f_cnt == frame_cnt


@pytest.mark.parametrize(
    ("mac_version", "n", "a", "counter", "ok"),
    [
        ("1.0.3", 5, 0, 4, False),
        ("1.0.3", 5, 0, 5, True),
        ("1.1.0", 9, 3, 3, True),
        ("1.1.0", 9, 3, 2, False),
    ],
)
def test_stale_item_counter(mac_version, n, a, counter, ok) -> None:  # type: ignore[no-untyped-def]
    s = session(mac_version=mac_version, n_f_cnt_down=n, a_f_cnt_down=a)
    assert dl.item_counter_ok(s, counter) is ok
