"""Table tests of the typed models: helpers, defaults and encode-time checks."""

from __future__ import annotations

from typing import Any

import pytest

from services.gateway_bridge.errors import InvalidField, InvalidPacketValue
from services.gateway_bridge.semtech import (
    LoRaDataRate,
    Modulation,
    PacketType,
    PullResp,
    PushAck,
    PushData,
    RxPk,
    TxAck,
    TxAckError,
    TxPk,
    TxPkAck,
    decode_packet,
    parse_header,
)
from services.lorawan.errors import InvalidParameter
from services.lorawan.types import EUI64

GW = EUI64.from_hex("0102030405060708")


@pytest.mark.parametrize(
    ("text", "sf", "bw_hz"),
    [("SF7BW125", 7, 125_000), ("SF12BW500", 12, 500_000), ("SF5BW250", 5, 250_000)],
)
def test_lora_datr_parse(text: str, sf: int, bw_hz: int) -> None:
    dr = LoRaDataRate.parse(text)
    assert (dr.spreading_factor, dr.bandwidth_hz, str(dr)) == (sf, bw_hz, text)


@pytest.mark.parametrize("text", ["SF4BW125", "SF13BW125", "SF7", "sf7bw125", "SF7BW0", "SF٧BW125"])
def test_lora_datr_rejects(text: str) -> None:
    with pytest.raises(InvalidField):
        LoRaDataRate.parse(text)


@pytest.mark.parametrize(
    ("packet", "expected_hex"),
    [
        (PushAck(token=0xABCD), "02abcd01"),
        (PushAck(token=7, version=1), "01000701"),
        (TxAck(token=0x0102, gw_eui=GW), "020102050102030405060708"),
    ],
)
def test_fixed_encodings(packet: Any, expected_hex: str) -> None:
    assert packet.to_bytes().hex() == expected_hex


@pytest.mark.parametrize(
    "build",
    [
        lambda: PushAck(token=0x10000),
        lambda: PushAck(token=-1),
        lambda: PushAck(token=1, version=3),
        lambda: PullResp(token=1, txpk=TxPk(data=b"", modu=Modulation.LORA, datr=50000)).to_bytes(),
        lambda: PullResp(
            token=1, txpk=TxPk(data=b"", modu=Modulation.FSK, datr="SF7BW125")
        ).to_bytes(),
        lambda: PushData(token=1, gw_eui=GW, extra={"x": object()}).to_bytes(),
    ],
)
def test_encode_refuses_bad_models(build: Any) -> None:
    with pytest.raises(InvalidPacketValue) as info:
        build()
    assert isinstance(info.value, InvalidParameter)


@pytest.mark.parametrize(
    ("ack", "error", "ok"),
    [
        (None, TxAckError.NONE, True),
        (TxPkAck(), TxAckError.NONE, True),
        (TxPkAck(error=TxAckError.NONE), TxAckError.NONE, True),
        (TxPkAck(warn=TxAckError.TX_POWER, value=20), TxAckError.NONE, True),
        (TxPkAck(error=TxAckError.TOO_LATE), TxAckError.TOO_LATE, False),
        (TxPkAck(error=TxAckError.GPS_UNLOCKED), TxAckError.GPS_UNLOCKED, False),
    ],
)
def test_tx_ack_error(ack: TxPkAck | None, error: TxAckError, ok: bool) -> None:
    packet = TxAck(token=1, gw_eui=GW, txpk_ack=ack)
    assert (packet.error, packet.ok) == (error, ok)
    assert decode_packet(packet.to_bytes()).error is error  # type: ignore[union-attr]


def test_tx_ack_nul_padding_reads_as_success() -> None:
    raw = TxAck(token=9, gw_eui=GW).to_bytes() + b"\x00\x00"
    packet = decode_packet(raw)
    assert isinstance(packet, TxAck) and packet.ok and packet.token == 9


def test_rxpk_size_is_data_length_and_lora_datr() -> None:
    rx = RxPk(data=b"\x01\x02\x03", modu=Modulation.LORA, datr="SF9BW125")
    assert rx.size == 3
    assert rx.lora_datr == LoRaDataRate(9, 125)
    assert RxPk(data=b"", modu=Modulation.FSK, datr=50000).lora_datr is None


def test_header_of_each_type() -> None:
    for ptype in PacketType:
        header = parse_header(bytes([2, 0x12, 0x34, ptype]))
        assert (header.version, header.token, header.packet_type) == (2, 0x1234, ptype)
