"""Property tests: any bytes raise only MalformedPacket; typed models round-trip exactly."""

from __future__ import annotations

import contextlib
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway_bridge.semtech import (
    CrcStatus,
    Modulation,
    PullAck,
    PullData,
    PullResp,
    PushAck,
    PushData,
    RSig,
    RxPk,
    Stat,
    TxAck,
    TxAckError,
    TxPk,
    TxPkAck,
    decode_packet,
)
from services.lorawan.errors import MalformedPacket
from services.lorawan.types import EUI64

u8 = st.integers(0, 255)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFF_FFFF)
i32 = st.integers(-(2**31), 2**31 - 1)
floats = st.floats(-1e6, 1e6, allow_nan=False)
opt = st.none
eui = st.binary(min_size=8, max_size=8).map(EUI64)
payload = st.binary(max_size=255)
text = st.text(max_size=20)
lora_datr = st.builds(
    lambda sf, bw: f"SF{sf}BW{bw}", st.integers(5, 12), st.sampled_from([125, 250, 500])
)


def _datr(modu: Modulation | None) -> st.SearchStrategy[str | int | None]:
    if modu is Modulation.FSK:
        return st.none() | st.integers(1, 300_000)
    if modu is Modulation.LORA:
        return st.none() | lora_datr
    return st.none() | text


rsig = st.builds(
    RSig,
    ant=opt() | u8,
    chan=opt() | u8,
    rssic=opt() | i32,
    rssis=opt() | i32,
    rssisd=opt() | st.integers(0, 100),
    lsnr=opt() | floats,
    ftime=opt() | st.integers(0, 999_999_999),
    foff=opt() | i32,
    fdri=opt() | i32,
    ftstat=opt() | u8,
    extra=st.just({}),
)


@st.composite
def rxpks(draw: st.DrawFn) -> RxPk:
    modu = draw(st.none() | st.sampled_from(Modulation))
    return RxPk(
        data=draw(payload),
        tmst=draw(opt() | u32),
        time=draw(opt() | text),
        tmms=draw(opt() | st.integers(0, 2**53)),
        freq=draw(opt() | st.floats(0, 3000, allow_nan=False)),
        chan=draw(opt() | u8),
        rfch=draw(opt() | u8),
        stat=draw(opt() | st.sampled_from(CrcStatus)),
        modu=modu,
        datr=draw(_datr(modu)),
        codr=draw(opt() | st.sampled_from(["4/5", "4/6", "4/7", "4/8", "OFF"])),
        rssi=draw(opt() | i32),
        rssis=draw(opt() | i32),
        lsnr=draw(opt() | floats),
        foff=draw(opt() | i32),
        jver=draw(opt() | u8),
        rsig=draw(opt() | st.lists(rsig, max_size=3).map(tuple)),
        extra=draw(st.just({}) | st.just({"aesk": 0, "brd_x": [1, "a"]})),
    )


stats = st.builds(
    Stat,
    time=opt() | text,
    lati=opt() | st.floats(-90, 90),
    long=opt() | st.floats(-180, 180),
    alti=opt() | i32,
    rxnb=opt() | u32,
    rxok=opt() | u32,
    ackr=opt() | st.floats(0, 100),
    temp=opt() | floats,
    hal=opt() | text,
)


@st.composite
def txpks(draw: st.DrawFn) -> TxPk:
    modu = draw(st.none() | st.sampled_from(Modulation))
    return TxPk(
        data=draw(payload),
        imme=draw(opt() | st.booleans()),
        tmst=draw(opt() | u32),
        tmms=draw(opt() | st.integers(0, 2**53)),
        freq=draw(opt() | st.floats(0, 3000, allow_nan=False)),
        rfch=draw(opt() | u8),
        powe=draw(opt() | st.integers(-10, 30)),
        modu=modu,
        datr=draw(_datr(modu)),
        codr=draw(opt() | text),
        fdev=draw(opt() | u16),
        ipol=draw(opt() | st.booleans()),
        prea=draw(opt() | u16),
        ncrc=draw(opt() | st.booleans()),
    )


tx_acks = st.builds(
    TxAck,
    token=u16,
    gw_eui=eui,
    txpk_ack=opt()
    | st.builds(
        TxPkAck,
        error=opt() | st.sampled_from(TxAckError),
        warn=opt() | st.sampled_from(TxAckError),
        value=opt() | i32,
    ),
    version=st.sampled_from([1, 2]),
)

packets = st.one_of(
    st.builds(
        PushData,
        token=u16,
        gw_eui=eui,
        rxpk=st.lists(rxpks(), max_size=3).map(tuple),
        stat=opt() | stats,
    ),
    st.builds(PushAck, token=u16),
    st.builds(PullData, token=u16, gw_eui=eui),
    st.builds(PullResp, token=u16, txpk=txpks()),
    st.builds(PullAck, token=u16),
    tx_acks,
)


@settings(max_examples=400)
@given(packets)
def test_round_trip(packet: Any) -> None:
    raw = packet.to_bytes()
    assert decode_packet(raw) == packet
    assert decode_packet(raw).to_bytes() == raw


@settings(max_examples=500)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_raise_only_malformed(data: bytes) -> None:
    with contextlib.suppress(MalformedPacket):
        decode_packet(data)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)
RXPK_KEYS = ["time", "tmst", "tmms", "freq", "chan", "rfch", "stat", "modu", "datr", "codr",
             "rssi", "lsnr", "size", "data", "rsig", "jver"]  # fmt: skip
TXPK_KEYS = ["imme", "tmst", "freq", "rfch", "powe", "modu", "datr", "codr", "fdev", "ipol",
             "prea", "size", "data", "ncrc"]  # fmt: skip
STAT_KEYS = ["time", "lati", "long", "alti", "rxnb", "ackr", "temp", "hal"]
FIELD_VALUES = json_values | st.sampled_from(["LORA", "FSK", "SF7BW125", "AAAA", "4/5", 1, -1])


def _obj(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(keys), FIELD_VALUES, max_size=len(keys))


def _dumps(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj)
    except TypeError:  # integers beyond 64 bits: write them with the standard library
        import json

        return json.dumps(obj).encode()


structured = st.one_of(
    st.builds(
        lambda h, r, s: h + _dumps({"rxpk": r, "stat": s}),
        st.just(bytes.fromhex("02123400AA555A0000000000")),
        st.lists(_obj(RXPK_KEYS), max_size=2) | json_values,
        _obj(STAT_KEYS) | json_values,
    ),
    st.builds(
        lambda t: bytes.fromhex("02000103") + _dumps({"txpk": t}),
        _obj(TXPK_KEYS) | json_values,
    ),
    st.builds(
        lambda a: bytes.fromhex("02000105AA555A0000000000") + _dumps({"txpk_ack": a}),
        st.dictionaries(st.sampled_from(["error", "warn", "value"]), FIELD_VALUES) | json_values,
    ),
)


@settings(max_examples=500)
@given(structured)
def test_structured_garbage_raises_only_malformed(data: bytes) -> None:
    try:
        packet = decode_packet(data)
    except MalformedPacket:
        return
    # whatever decodes must re-encode and decode to the same packet
    assert decode_packet(packet.to_bytes()) == packet
