"""Table tests of the pure translation (services.gateway_bridge.core)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.bus.messages import GatewayDownlink
from services.gateway_bridge.core import (
    DropReason,
    downlink_to_txpk,
    drop_reason,
    parse_rx_time,
    parse_stat_time,
    rxpk_to_uplink,
    stat_to_stats,
    tx_ack_to_message,
)
from services.gateway_bridge.errors import InvalidDownlink, UnsupportedUplink
from services.gateway_bridge.semtech import (
    CrcStatus,
    Modulation,
    RSig,
    RxPk,
    Stat,
    TxAck,
    TxAckError,
    TxPkAck,
)
from services.lorawan.types import EUI64

GW = EUI64.from_hex("AA555A0000000001")
NOW = datetime(2026, 11, 22, 1, 0, 0, tzinfo=UTC)
PHY = bytes.fromhex("40010203048000010001020304")


def _rx(**kw: Any) -> RxPk:
    base: dict[str, Any] = dict(
        data=PHY,
        tmst=3512348611,
        time="2013-03-31T16:21:17.528002Z",
        freq=868.1,
        chan=2,
        rfch=0,
        stat=CrcStatus.OK,
        modu=Modulation.LORA,
        datr="SF7BW125",
        codr="4/5",
        rssi=-35,
        lsnr=5.1,
    )
    base.update(kw)
    return RxPk(**base)


@pytest.mark.parametrize(
    ("stat", "reason"),
    [
        (CrcStatus.OK, None),
        (CrcStatus.FAIL, DropReason.CRC_FAIL),
        (CrcStatus.NO_CRC, DropReason.NO_CRC),
        (None, DropReason.CRC_MISSING),
    ],
)
def test_drop_reason(stat: CrcStatus | None, reason: DropReason | None) -> None:
    assert drop_reason(_rx(stat=stat)) is reason


@pytest.mark.parametrize(
    ("rxpk", "expect"),
    [
        (
            _rx(),
            dict(freq_hz=868_100_000, chan=2, rf_chain=0, sf=7, bw_hz=125_000, dr="SF7BW125",
                 code_rate="4/5", rssi=-35.0, snr=5.1, size=13, tmst=3512348611,
                 modulation="LORA", bitrate=None, crc_ok=True,
                 time=datetime(2013, 3, 31, 16, 21, 17, 528002, tzinfo=UTC)),
        ),
        (
            _rx(freq=866.349812, datr="SF12BW500", codr="4/6", time=None, tmms=1_000_000),
            dict(freq_hz=866_349_812, sf=12, bw_hz=500_000, dr="SF12BW500", code_rate="4/6",
                 time=None, tmms=1_000_000),
        ),
        (
            _rx(modu=Modulation.FSK, datr=50000, codr=None, lsnr=None, rssi=-75),
            dict(modulation="FSK", bitrate=50000, sf=None, bw_hz=None, dr=None, snr=None,
                 rssi=-75.0),
        ),
        (  # SX1302 layout: no top-level rssi, the best antenna by SNR wins
            _rx(rssi=None, lsnr=None, chan=None, rsig=(
                RSig(ant=0, chan=9, rssic=-90, lsnr=-3),
                RSig(ant=1, chan=9, rssic=-89, lsnr=-2.8),
            )),
            dict(chan=9, rssi=-89.0, snr=-2.8),
        ),
        (_rx(rssi=None, rssis=-101), dict(rssi=-101.0)),
    ],
)  # fmt: skip
def test_rxpk_to_uplink(rxpk: RxPk, expect: dict[str, Any]) -> None:
    uplink = rxpk_to_uplink(rxpk, GW, NOW, "uid-1", zone="zone-a")
    assert uplink.uplink_id == "uid-1"
    assert uplink.phy_payload == PHY
    assert uplink.rx.gw_eui == "AA555A0000000001"
    assert uplink.rx.received_at == NOW
    assert uplink.rx.zone == "zone-a"
    for key, want in expect.items():
        assert getattr(uplink.rx, key) == want, key


@pytest.mark.parametrize(
    ("rxpk", "reason"),
    [
        (_rx(freq=None), "missing_field"),
        (_rx(rssi=None), "missing_field"),
        (_rx(datr=None), "missing_field"),
        (_rx(modu=Modulation.FSK, datr=None), "missing_field"),
        (_rx(modu=Modulation.LR_FHSS, datr="M0CW137"), "unsupported_modulation"),
        (_rx(modu=None), "unsupported_modulation"),
    ],
)
def test_rxpk_to_uplink_refuses(rxpk: RxPk, reason: str) -> None:
    with pytest.raises(UnsupportedUplink) as info:
        rxpk_to_uplink(rxpk, GW, NOW, "uid")
    assert info.value.reason == reason


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("2013-03-31T16:21:17.528002Z", datetime(2013, 3, 31, 16, 21, 17, 528002, tzinfo=UTC)),
        ("2013-03-31T16:21:17.528002123Z", datetime(2013, 3, 31, 16, 21, 17, 528002, tzinfo=UTC)),
        ("2013-03-31T16:21:17Z", datetime(2013, 3, 31, 16, 21, 17, tzinfo=UTC)),
        ("2013-03-31T18:21:17.5+02:00", datetime(2013, 3, 31, 16, 21, 17, 500000, tzinfo=UTC)),
        ("not a time", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_rx_time(text: str | None, want: datetime | None) -> None:
    assert parse_rx_time(text) == want


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("2014-01-12 08:59:28 GMT", datetime(2014, 1, 12, 8, 59, 28, tzinfo=UTC)),
        ("2014-01-12 08:59:28 UTC", datetime(2014, 1, 12, 8, 59, 28, tzinfo=UTC)),
        ("2014-01-12T08:59:28Z", datetime(2014, 1, 12, 8, 59, 28, tzinfo=UTC)),
        ("2014-13-12 08:59:28 GMT", None),
        (None, None),
    ],
)
def test_parse_stat_time(text: str | None, want: datetime | None) -> None:
    assert parse_stat_time(text) == want


def test_stat_to_stats() -> None:
    stat = Stat(time="2014-01-12 08:59:28 GMT", lati=46.24, long=3.2523, alti=145, rxnb=2,
                rxok=1, rxfw=1, ackr=100.0, dwnb=3, txnb=2)  # fmt: skip
    msg = stat_to_stats(stat, GW, NOW, ip="127.0.0.1", zone="z")
    assert (msg.gw_eui, msg.latitude, msg.longitude, msg.altitude_m) == (
        "AA555A0000000001",
        46.24,
        3.2523,
        145.0,
    )
    assert (msg.rx_received, msg.rx_ok, msg.rx_forwarded, msg.tx_requested, msg.tx_emitted) == (
        2, 1, 1, 3, 2,
    )  # fmt: skip
    assert msg.ack_ratio_pct == 100.0
    assert msg.time == datetime(2014, 1, 12, 8, 59, 28, tzinfo=UTC)
    assert (msg.ip, msg.zone, msg.received_at) == ("127.0.0.1", "z", NOW)
    empty = stat_to_stats(Stat(), GW, NOW)
    assert (empty.rx_received, empty.latitude, empty.time) == (0, None, None)


def _down(**kw: Any) -> GatewayDownlink:
    base: dict[str, Any] = dict(
        downlink_id="d1", gw_eui="AA555A0000000001", phy_payload=PHY, tmst=3513348611,
        freq_hz=868_100_000, power_dbm=14, dr="SF7BW125",
    )  # fmt: skip
    base.update(kw)
    return GatewayDownlink(**base)


@pytest.mark.parametrize(
    ("msg", "expect"),
    [
        (
            _down(),
            dict(imme=None, tmst=3513348611, tmms=None, freq=868.1, rfch=0, powe=14,
                 modu=Modulation.LORA, datr="SF7BW125", codr="4/5", ipol=True, ncrc=True,
                 fdev=None, prea=None),
        ),
        (
            _down(immediately=True, dr=None, sf=12, bw_hz=125_000, freq_hz=869_525_000,
                  power_dbm=27, invert_polarity=False, no_crc=False, preamble=8),
            dict(imme=True, tmst=None, freq=869.525, powe=27, datr="SF12BW125", ipol=False,
                 ncrc=None, prea=8),
        ),
        (
            _down(tmst=None, tmms=1234567890123),
            dict(tmst=None, tmms=1234567890123, imme=None),
        ),
        (
            _down(modulation="FSK", dr=None, bitrate=50000, fdev_hz=25000),
            dict(modu=Modulation.FSK, datr=50000, fdev=25000, codr=None, ipol=None),
        ),
    ],
)  # fmt: skip
def test_downlink_to_txpk(msg: GatewayDownlink, expect: dict[str, Any]) -> None:
    txpk = downlink_to_txpk(msg)
    assert txpk.data == PHY and txpk.size == len(PHY)
    for key, want in expect.items():
        assert getattr(txpk, key) == want, key
    assert txpk.freq is not None and round(txpk.freq * 1_000_000) == msg.freq_hz


@pytest.mark.parametrize(
    "msg",
    [
        _down(tmst=None),  # no timing at all
        _down(dr=None),  # LoRa without data rate
        _down(dr="SF13BW125"),
        _down(modulation="FSK", dr=None),  # FSK without bit rate
        _down(freq_hz=0),
    ],
)
def test_downlink_to_txpk_refuses(msg: GatewayDownlink) -> None:
    with pytest.raises(InvalidDownlink):
        downlink_to_txpk(msg)


@pytest.mark.parametrize(
    ("ack", "error"),
    [
        (None, None),
        (TxPkAck(error=TxAckError.NONE), None),
        (TxPkAck(error=TxAckError.TOO_LATE), "TOO_LATE"),
        (TxPkAck(error=TxAckError.COLLISION_BEACON), "COLLISION_BEACON"),
        (TxPkAck(error=TxAckError.TX_FREQ), "TX_FREQ"),
    ],
)
def test_tx_ack_to_message(ack: TxPkAck | None, error: str | None) -> None:
    msg = tx_ack_to_message(TxAck(token=5, gw_eui=GW, txpk_ack=ack), GW, "d9", NOW)
    assert (msg.downlink_id, msg.gw_eui, msg.error, msg.received_at) == (
        "d9", "AA555A0000000001", error, NOW,
    )  # fmt: skip
