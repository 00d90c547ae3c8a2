"""Round-trip tables for every MType, and property tests of the frame codec and MICs."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.lorawan import (
    EUI64,
    FHDR,
    MHDR,
    AES128Key,
    DevAddr,
    FCtrl,
    InvalidParameter,
    JoinRequestPayload,
    MACPayload,
    MalformedPacket,
    MissingKey,
    MType,
    NetID,
    PhyPayload,
    ProprietaryPayload,
    RejoinRequestPayload,
    UnknownMessageType,
)

ADDR = DevAddr.from_hex("26011BDA")
MIC = bytes.fromhex("a1b2c3d4")

TABLE: list[tuple[str, PhyPayload, str]] = [
    (
        "unconfirmed up, no port",
        PhyPayload(MHDR(MType.UNCONFIRMED_DATA_UP), MACPayload(FHDR(ADDR, FCtrl(), 1)), MIC),
        "40da1b0126000100a1b2c3d4",
    ),
    (
        "unconfirmed up, ADR+ADRACKReq+ACK+ClassB, FOpts",
        PhyPayload(
            MHDR(MType.UNCONFIRMED_DATA_UP),
            MACPayload(
                FHDR(
                    ADDR, FCtrl(adr=True, adr_ack_req=True, ack=True, class_b=True), 0x1234, b"\x02"
                ),
                5,
                b"\xaa\xbb",
            ),
            MIC,
        ),
        "40da1b0126f134120205aabba1b2c3d4",
    ),
    (
        "confirmed up, FPort 0 MAC commands",
        PhyPayload(
            MHDR(MType.CONFIRMED_DATA_UP),
            MACPayload(FHDR(ADDR, FCtrl(adr=True), 7), 0, b"\x03\x07"),
            MIC,
        ),
        "80da1b012680070000 0307a1b2c3d4",
    ),
    (
        "unconfirmed down, ADR+RFU+ACK+FPending",
        PhyPayload(
            MHDR(MType.UNCONFIRMED_DATA_DOWN),
            MACPayload(FHDR(ADDR, FCtrl(adr=True, rfu=True, ack=True, f_pending=True), 2), 1, b"x"),
            MIC,
        ),
        "60da1b0126f002000178a1b2c3d4",
    ),
    (
        "confirmed down, FOpts 15 bytes",
        PhyPayload(
            MHDR(MType.CONFIRMED_DATA_DOWN),
            MACPayload(FHDR(ADDR, FCtrl(f_pending=True), 0xFFFF, bytes(range(15)))),
            MIC,
        ),
        "a0da1b01261fffff" + bytes(range(15)).hex() + "a1b2c3d4",
    ),
    (
        "join request",
        PhyPayload(
            MHDR(MType.JOIN_REQUEST),
            JoinRequestPayload(
                EUI64.from_hex("70B3D57ED0000001"), EUI64.from_hex("0004A30B001C0530"), 0xBEEF
            ),
            MIC,
        ),
        "00010000d07ed5b370" + "30051c000ba30400" + "efbe" + "a1b2c3d4",
    ),
    (
        "rejoin type 0",
        PhyPayload(
            MHDR(MType.REJOIN_REQUEST),
            RejoinRequestPayload(
                0, EUI64.from_hex("0004A30B001C0530"), 9, net_id=NetID.from_hex("000013")
            ),
            MIC,
        ),
        "c000130000" + "30051c000ba30400" + "0900" + "a1b2c3d4",
    ),
    (
        "rejoin type 1",
        PhyPayload(
            MHDR(MType.REJOIN_REQUEST),
            RejoinRequestPayload(
                1,
                EUI64.from_hex("0004A30B001C0530"),
                0x0102,
                join_eui=EUI64.from_hex("70B3D57ED0000001"),
            ),
            MIC,
        ),
        "c001" + "010000d07ed5b370" + "30051c000ba30400" + "0201" + "a1b2c3d4",
    ),
    (
        "rejoin type 2",
        PhyPayload(
            MHDR(MType.REJOIN_REQUEST),
            RejoinRequestPayload(
                2, EUI64.from_hex("0004A30B001C0530"), 0, net_id=NetID.from_hex("600008")
            ),
            MIC,
        ),
        "c002080060" + "30051c000ba30400" + "0000" + "a1b2c3d4",
    ),
    (
        "proprietary",
        PhyPayload(MHDR(MType.PROPRIETARY), ProprietaryPayload(b"\x01\x02"), None),
        "e00102",
    ),
    (
        "MHDR RFU bits kept",
        PhyPayload(MHDR(MType.PROPRIETARY, rfu=5), ProprietaryPayload(b""), None),
        "f4",
    ),
]


@pytest.mark.parametrize(("name", "phy", "hex_"), TABLE, ids=[t[0] for t in TABLE])
def test_round_trip_table(name: str, phy: PhyPayload, hex_: str) -> None:
    raw = bytes.fromhex(hex_.replace(" ", ""))
    assert phy.to_bytes() == raw
    assert PhyPayload.from_bytes(raw) == phy
    assert PhyPayload.from_bytes(raw).to_bytes() == raw


def test_every_mtype_in_table() -> None:
    covered = {t[1].mhdr.m_type for t in TABLE}
    assert covered == set(MType) - {MType.JOIN_ACCEPT}  # join-accepts: test_phy_payload.py


@pytest.mark.parametrize(
    ("raw", "exc"),
    [
        ("", MalformedPacket),
        ("41", UnknownMessageType),  # major 1
        ("40", MalformedPacket),
        ("40010203", MalformedPacket),
        ("40da1b0100a1b2c3d4", MalformedPacket),  # FHDR too short
        ("40da1b01260300a1b2c3d4", MalformedPacket),  # FOptsLen 3 but no FOpts
        ("40da1b0126010000020000a1b2c3d4", MalformedPacket),  # FOpts with FPort 0
        ("00" + "00" * 17 + "a1b2c3d4", MalformedPacket),  # join-request 17 bytes
        ("20" + "00" * 13, MalformedPacket),  # join-accept not 16/32 bytes
        ("c003" + "00" * 13 + "a1b2c3d4", MalformedPacket),  # rejoin type 3
        ("c000" + "00" * 12 + "a1b2c3d4", MalformedPacket),  # rejoin 0 too short
    ],
)
def test_malformed(raw: str, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        PhyPayload.from_bytes(bytes.fromhex(raw))


def test_encode_rejects_invalid_fields() -> None:
    bad = [
        MACPayload(FHDR(ADDR, FCtrl(), 0, b"\x02"), 0, b"\x03"),  # FPort 0 with FOpts
        MACPayload(FHDR(ADDR, FCtrl(), 0, bytes(16))),  # FOpts > 15
        MACPayload(FHDR(ADDR, FCtrl(), 1 << 32)),  # f_cnt > 32 bits
        MACPayload(FHDR(ADDR, FCtrl(), 0), None, b"x"),  # payload without port
        MACPayload(FHDR(ADDR, FCtrl(), 0), 256, b"x"),
    ]
    for mp in bad:
        with pytest.raises(InvalidParameter):
            PhyPayload(MHDR(MType.UNCONFIRMED_DATA_UP), mp, MIC).to_bytes()
    with pytest.raises(InvalidParameter):
        PhyPayload(
            MHDR(MType.UNCONFIRMED_DATA_UP), MACPayload(FHDR(ADDR, FCtrl())), None
        ).to_bytes()


def test_full_f_cnt_only_low_bits_on_air() -> None:
    phy = PhyPayload(MHDR(MType.UNCONFIRMED_DATA_UP), MACPayload(FHDR(ADDR, FCtrl(), 0x12345)), MIC)
    decoded = PhyPayload.from_bytes(phy.to_bytes())
    assert decoded.mac_payload().fhdr.f_cnt == 0x2345
    key = AES128Key(bytes(16))
    phy.set_uplink_data_mic("1.0.3", 0, 0, 0, key)
    decoded = PhyPayload.from_bytes(phy.to_bytes())
    assert not decoded.validate_uplink_data_mic("1.0.3", 0, 0, 0, key)
    decoded.mac_payload().fhdr.f_cnt = 0x12345
    assert decoded.validate_uplink_data_mic("1.0.3", 0, 0, 0, key)


def test_missing_keys() -> None:
    phy = PhyPayload(MHDR(MType.UNCONFIRMED_DATA_UP), MACPayload(FHDR(ADDR, FCtrl())), MIC)
    with pytest.raises(MissingKey):
        phy.set_uplink_data_mic("1.0.3", 0, 0, 0, None)
    with pytest.raises(MissingKey):
        phy.set_uplink_data_mic("1.1", 0, 0, 0, AES128Key(bytes(16)), None)
    with pytest.raises(InvalidParameter):  # downlink MIC on an uplink
        phy.set_downlink_data_mic("1.0.3", 0, AES128Key(bytes(16)))


# --------------------------------------------------------------- properties

addrs = st.integers(0, 0xFFFFFFFF).map(DevAddr.from_int)
fctrls = st.builds(
    FCtrl,
    adr=st.booleans(),
    adr_ack_req=st.booleans(),
    ack=st.booleans(),
    class_b=st.booleans(),
    f_pending=st.booleans(),
    rfu=st.booleans(),
)
data_mtypes = st.sampled_from(
    [
        MType.UNCONFIRMED_DATA_UP,
        MType.UNCONFIRMED_DATA_DOWN,
        MType.CONFIRMED_DATA_UP,
        MType.CONFIRMED_DATA_DOWN,
    ]
)


@st.composite
def data_frames(draw: Any) -> PhyPayload:
    m_type = draw(data_mtypes)
    uplink = m_type.is_uplink
    fc = draw(fctrls)
    # keep only the flags that exist in this direction (the others are not on the air)
    if uplink:
        fc = FCtrl(adr=fc.adr, adr_ack_req=fc.adr_ack_req, ack=fc.ack, class_b=fc.class_b)
    else:
        fc = FCtrl(adr=fc.adr, rfu=fc.rfu, ack=fc.ack, f_pending=fc.f_pending)
    f_opts = draw(st.binary(max_size=15))
    f_port = draw(st.one_of(st.none(), st.integers(0 if not f_opts else 1, 255)))
    payload = b"" if f_port is None else draw(st.binary(max_size=64))
    fhdr = FHDR(draw(addrs), fc, draw(st.integers(0, 0xFFFF)), f_opts)
    return PhyPayload(
        MHDR(m_type), MACPayload(fhdr, f_port, payload), draw(st.binary(min_size=4, max_size=4))
    )


@settings(max_examples=300)
@given(data_frames())
def test_data_frame_round_trip(phy: PhyPayload) -> None:
    raw = phy.to_bytes()
    assert PhyPayload.from_bytes(raw) == phy
    assert PhyPayload.from_bytes(raw).to_bytes() == raw


@settings(max_examples=200)
@given(data_frames(), st.booleans(), st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFF), st.data())
def test_mic_detects_any_byte_change(
    phy: PhyPayload, v11: bool, full_f_cnt: int, conf: int, data: Any
) -> None:
    k1, k2 = AES128Key(bytes(range(16))), AES128Key(bytes(range(1, 17)))
    version = "1.1.0" if v11 else "1.0.3"
    phy.mac_payload().fhdr.f_cnt = full_f_cnt
    if phy.uplink:
        phy.set_uplink_data_mic(version, conf, 3, 1, k1, k2)
        assert phy.validate_uplink_data_mic(version, conf, 3, 1, k1, k2)
    else:
        phy.set_downlink_data_mic(version, conf, k1)
        assert phy.validate_downlink_data_mic(version, conf, k1)
    raw = bytearray(phy.to_bytes())
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] ^= data.draw(st.integers(1, 255))
    try:
        other = PhyPayload.from_bytes(bytes(raw))
    except MalformedPacket:
        return
    if not other.mhdr.m_type.is_data or other.uplink != phy.uplink:
        return
    other.mac_payload().fhdr.f_cnt = (full_f_cnt & 0xFFFF0000) | other.mac_payload().fhdr.f_cnt
    if other.uplink:
        assert not other.validate_uplink_data_mic(version, conf, 3, 1, k1, k2)
    else:
        assert not other.validate_downlink_data_mic(version, conf, k1)


@settings(max_examples=100)
@given(st.integers(0, 0xFFFF), st.integers(0, 15), st.integers(0, 7))
def test_11_uplink_mic_inputs(conf: int, tx_dr: int, tx_ch: int) -> None:
    k1, k2 = AES128Key(bytes(range(16))), AES128Key(bytes(range(1, 17)))
    acked = PhyPayload(
        MHDR(MType.UNCONFIRMED_DATA_UP), MACPayload(FHDR(ADDR, FCtrl(ack=True), 3)), MIC
    )
    acked.set_uplink_data_mic("1.1", conf, tx_dr, tx_ch, k1, k2)
    assert acked.validate_uplink_data_mic("1.1", conf, tx_dr, tx_ch, k1, k2)
    assert not acked.validate_uplink_data_mic("1.1", conf ^ 1, tx_dr, tx_ch, k1, k2)
    assert not acked.validate_uplink_data_mic("1.1", conf, tx_dr ^ 1, tx_ch, k1, k2)
    assert not acked.validate_uplink_data_mic("1.1", conf, tx_dr, tx_ch ^ 1, k1, k2)
    assert acked.validate_uplink_data_mic_f(k1)
    # without the ACK bit, ConfFCnt is not part of the MIC
    plain = PhyPayload(MHDR(MType.UNCONFIRMED_DATA_UP), MACPayload(FHDR(ADDR, FCtrl(), 3)), MIC)
    plain.set_uplink_data_mic("1.1", conf, tx_dr, tx_ch, k1, k2)
    assert plain.validate_uplink_data_mic("1.1", conf ^ 1, tx_dr, tx_ch, k1, k2)


def test_mic_follows_field_changes_after_decode() -> None:
    """MICs of a decoded frame use the received bytes only while its fields are unchanged."""
    key = AES128Key(bytes(range(16)))
    phy = PhyPayload(
        MHDR(MType.UNCONFIRMED_DATA_UP), MACPayload(FHDR(ADDR, FCtrl(), 9, b"\x02"), 1, b"ab"), MIC
    )
    phy.set_uplink_data_mic("1.0.3", 0, 0, 0, key)
    wire = phy.to_bytes()
    changes = [
        lambda p: setattr(p.mac_payload(), "frm_payload", b"ac"),
        lambda p: setattr(p.mac_payload().fhdr, "f_opts", b"\x03"),
        lambda p: setattr(p.mac_payload().fhdr, "f_ctrl", FCtrl(adr=True)),
        lambda p: setattr(p.mac_payload().fhdr, "f_cnt", 10),
        lambda p: setattr(p.mac_payload(), "f_port", 2),
        lambda p: setattr(p, "mhdr", MHDR(MType.CONFIRMED_DATA_UP)),
    ]
    for change in changes:
        got = PhyPayload.from_bytes(wire)
        assert got.validate_uplink_data_mic("1.0.3", 0, 0, 0, key)
        change(got)
        assert not got.validate_uplink_data_mic("1.0.3", 0, 0, 0, key)
        got.set_uplink_data_mic("1.0.3", 0, 0, 0, key)
        assert PhyPayload.from_bytes(got.to_bytes()).validate_uplink_data_mic("1.0.3", 0, 0, 0, key)
