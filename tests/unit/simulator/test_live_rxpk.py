"""Live mode: the rxpk a simulated gateway reports, read back by the gateway bridge's codec."""

from __future__ import annotations

import base64
import json

import pytest

from services.gateway_bridge.semtech import CrcStatus, Modulation, PushData, decode_packet
from services.lorawan import EUI64
from simulator.live.rxpk import build_rxpk, codr_of, datr_of, parse_datr


@pytest.mark.parametrize(
    ("sf", "bw", "datr"),
    [(7, 125_000, "SF7BW125"), (12, 125_000, "SF12BW125"), (7, 250_000, "SF7BW250"),
     (8, 500_000, "SF8BW500")],
)  # fmt: skip
def test_datr_round_trip(sf: int, bw: int, datr: str) -> None:
    assert datr_of(sf, bw) == datr
    assert parse_datr(datr) == (sf, bw)


def test_parse_datr_of_fsk_is_none() -> None:
    assert parse_datr(50_000) is None
    assert parse_datr(None) is None


@pytest.mark.parametrize(("cr", "codr"), [(1, "4/5"), (2, "4/6"), (3, "4/7"), (4, "4/8")])
def test_codr(cr: int, codr: str) -> None:
    assert codr_of(cr) == codr


def test_rxpk_through_push_data_and_the_bridge_codec() -> None:
    phy = bytes(range(23))
    rxpk = build_rxpk(
        phy,
        tmst=4_294_000_000,
        freq_hz=868_300_000.0,
        sf=9,
        bw_hz=125_000,
        cr=1,
        rssi_dbm=-117.6,
        snr_db=-4.26,
        chan=1,
    )
    raw = PushData(0x1234, EUI64.from_hex("AA555A0000000001"), (rxpk,)).to_bytes()
    obj = json.loads(raw[12:])["rxpk"][0]
    assert obj["tmst"] == 4_294_000_000
    assert obj["freq"] == 868.3
    assert obj["datr"] == "SF9BW125" and obj["codr"] == "4/5" and obj["modu"] == "LORA"
    assert obj["rssi"] == -118 and obj["lsnr"] == -4.3 and obj["stat"] == 1
    assert obj["size"] == 23 and base64.b64decode(obj["data"]) == phy
    assert obj["time"].endswith("Z")
    back = decode_packet(raw)
    assert isinstance(back, PushData)
    r = back.rxpk[0]
    assert r.data == phy and r.tmst == 4_294_000_000 and r.stat is CrcStatus.OK
    assert r.modu is Modulation.LORA and r.lora_datr is not None
    assert r.lora_datr.spreading_factor == 9


def test_lsnr_is_capped_like_a_real_concentrator() -> None:
    rxpk = build_rxpk(
        b"\x40" * 12, tmst=0, freq_hz=868.1e6, sf=7, bw_hz=125_000, cr=1,
        rssi_dbm=-30.0, snr_db=80.0, chan=0,
    )  # fmt: skip
    assert rxpk.lsnr == 13.5
