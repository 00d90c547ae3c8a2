"""Join-request, join-accept (1.0 and 1.1 OptNeg, CFList types) and rejoin-request details."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.lorawan import (
    EUI64,
    MHDR,
    AES128Key,
    CFList,
    DevAddr,
    DLSettings,
    EncryptedJoinAcceptPayload,
    InvalidParameter,
    JoinAcceptPayload,
    JoinRequestPayload,
    MalformedPacket,
    MType,
    NetID,
    PhyPayload,
    RejoinRequestPayload,
    aes_cmac,
    derive_js_enc_key,
    derive_js_int_key,
)

NWK_KEY = AES128Key.from_hex("2B7E151628AED2A6ABF7158809CF4F3C")
DEV_EUI = EUI64.from_hex("0004A30B001C0530")
JOIN_EUI = EUI64.from_hex("70B3D57ED0000001")


@pytest.mark.parametrize(
    ("settings_", "byte"),
    [
        (DLSettings(), 0x00),
        (DLSettings(opt_neg=True), 0x80),
        (DLSettings(rx1_dr_offset=7, rx2_dr=15), 0x7F),
        (DLSettings(True, 2, 8), 0xA8),
    ],
)
def test_dl_settings(settings_: DLSettings, byte: int) -> None:
    assert settings_.to_byte() == byte
    assert DLSettings.from_byte(byte) == settings_


def test_dl_settings_range() -> None:
    with pytest.raises(InvalidParameter):
        DLSettings(rx1_dr_offset=8).to_byte()


@pytest.mark.parametrize(
    "cf",
    [
        CFList(0, frequencies=(867100000, 867300000)),
        CFList(1, ch_masks=(0xFF00, 0, 0, 0, 0x00FF, 0), rfu=b"\x00\x00\x00"),
        CFList(7, rfu=bytes(range(15))),
    ],
)
def test_cf_list_types_round_trip(cf: CFList) -> None:
    raw = cf.to_bytes()
    assert len(raw) == 16 and raw[15] == cf.cf_list_type
    back = CFList.from_bytes(raw)
    assert back.to_bytes() == raw


def test_cf_list_invalid() -> None:
    with pytest.raises(InvalidParameter):
        CFList(0, frequencies=(867100050,)).to_bytes()
    with pytest.raises(InvalidParameter):
        CFList(0, frequencies=(1,) * 6).to_bytes()
    with pytest.raises(InvalidParameter):
        CFList(1, ch_masks=(0x10000,)).to_bytes()


def _ja(opt_neg: bool, cf: CFList | None = None) -> PhyPayload:
    return PhyPayload(
        MHDR(MType.JOIN_ACCEPT),
        JoinAcceptPayload(
            0xABCDEF,
            NetID.from_hex("000013"),
            DevAddr.from_hex("26011BDA"),
            DLSettings(opt_neg, 1, 3),
            5,
            cf,
        ),
    )


@pytest.mark.parametrize("join_req_type", [0xFF, 0x00, 0x01, 0x02])
def test_join_accept_11_mic_layout(join_req_type: int) -> None:
    js_int_key = derive_js_int_key(NWK_KEY, DEV_EUI)
    phy = _ja(True)
    phy.set_join_accept_mic(js_int_key, join_req_type, JOIN_EUI, 0x0102)
    assert isinstance(phy.payload, JoinAcceptPayload)
    msg = bytes([join_req_type]) + JOIN_EUI.to_le() + b"\x02\x01" + b"\x20" + phy.payload.to_bytes()
    assert phy.mic == aes_cmac(js_int_key, msg)[:4]
    # a different JoinReqType or DevNonce gives a different MIC
    other = (join_req_type + 1) & 0xFF
    assert not phy.validate_join_accept_mic(js_int_key, other, JOIN_EUI, 0x0102)
    assert not phy.validate_join_accept_mic(js_int_key, join_req_type, JOIN_EUI, 0x0103)


def test_join_accept_10_mic_ignores_join_eui() -> None:
    phy = _ja(False)
    phy.set_join_accept_mic(NWK_KEY)
    assert isinstance(phy.payload, JoinAcceptPayload)
    assert phy.mic == aes_cmac(NWK_KEY, b"\x20" + phy.payload.to_bytes())[:4]
    assert phy.validate_join_accept_mic(NWK_KEY, 0xFF, JOIN_EUI, 1)
    # the opt_neg argument forces the 1.1 form
    assert not phy.validate_join_accept_mic(NWK_KEY, 0xFF, JOIN_EUI, 1, opt_neg=True)


def test_rejoin_answer_encrypted_with_js_enc_key() -> None:
    js_enc_key = derive_js_enc_key(NWK_KEY, DEV_EUI)
    js_int_key = derive_js_int_key(NWK_KEY, DEV_EUI)
    phy = _ja(True, CFList(0, frequencies=(867100000,) * 5))
    plain = phy.payload
    phy.set_join_accept_mic(js_int_key, 0x02, JOIN_EUI, 7)
    phy.encrypt_join_accept_payload(js_enc_key)
    wire = phy.to_bytes()
    assert len(wire) == 33
    got = PhyPayload.from_bytes(wire)
    assert isinstance(got.payload, EncryptedJoinAcceptPayload)
    assert got.to_dict()["payload_type"] == "join_accept_encrypted"
    bad = PhyPayload.from_bytes(wire)
    bad.decrypt_join_accept_payload(NWK_KEY)  # wrong key: garbage, but decodes
    assert bad.payload != plain
    got.decrypt_join_accept_payload(js_enc_key)
    assert got.payload == plain
    assert got.validate_join_accept_mic(js_int_key, 0x02, JOIN_EUI, 7)


def test_join_accept_order_of_operations() -> None:
    phy = _ja(False)
    with pytest.raises(InvalidParameter):
        phy.encrypt_join_accept_payload(NWK_KEY)  # MIC first
    phy.set_join_accept_mic(NWK_KEY)
    phy.encrypt_join_accept_payload(NWK_KEY)
    with pytest.raises(InvalidParameter):
        phy.validate_join_accept_mic(NWK_KEY)  # decrypt first
    with pytest.raises(InvalidParameter):
        phy.encrypt_join_accept_payload(NWK_KEY)


@pytest.mark.parametrize("rejoin_type", [0, 1, 2])
def test_rejoin_mic(rejoin_type: int) -> None:
    key = derive_js_int_key(NWK_KEY, DEV_EUI) if rejoin_type == 1 else AES128Key(bytes(range(16)))
    payload = RejoinRequestPayload(
        rejoin_type,
        DEV_EUI,
        42,
        net_id=None if rejoin_type == 1 else NetID.from_hex("000013"),
        join_eui=JOIN_EUI if rejoin_type == 1 else None,
    )
    phy = PhyPayload(MHDR(MType.REJOIN_REQUEST), payload)
    phy.set_rejoin_request_mic(key)
    assert phy.mic == aes_cmac(key, b"\xc0" + payload.to_bytes())[:4]
    wire = phy.to_bytes()
    assert len(wire) == (24 if rejoin_type == 1 else 19)
    got = PhyPayload.from_bytes(wire)
    assert got.payload == payload
    assert got.validate_rejoin_request_mic(key)
    assert not got.validate_rejoin_request_mic(AES128Key(bytes(16)))
    assert got.to_dict()["payload"]["rj_count"] == 42


def test_rejoin_invalid_fields() -> None:
    with pytest.raises(InvalidParameter):
        RejoinRequestPayload(0, DEV_EUI, 1).to_bytes()
    with pytest.raises(InvalidParameter):
        RejoinRequestPayload(1, DEV_EUI, 1).to_bytes()
    with pytest.raises(InvalidParameter):
        RejoinRequestPayload(3, DEV_EUI, 1).to_bytes()
    with pytest.raises(MalformedPacket):
        RejoinRequestPayload.from_bytes(b"")


def test_mic_on_wrong_payload_type() -> None:
    phy = PhyPayload(MHDR(MType.JOIN_REQUEST), JoinRequestPayload(JOIN_EUI, DEV_EUI, 1))
    with pytest.raises(InvalidParameter):
        phy.set_rejoin_request_mic(NWK_KEY)
    with pytest.raises(InvalidParameter):
        phy.set_join_accept_mic(NWK_KEY)
    with pytest.raises(InvalidParameter):
        phy.set_uplink_data_mic("1.0.3", 0, 0, 0, NWK_KEY)


@settings(max_examples=200)
@given(
    st.integers(0, 0xFFFFFF),
    st.integers(0, 0xFFFFFF),
    st.integers(0, 0xFFFFFFFF),
    st.booleans(),
    st.integers(0, 7),
    st.integers(0, 15),
    st.integers(0, 255),
    st.one_of(st.none(), st.lists(st.integers(0, 0xFFFFFF), max_size=5)),
)
def test_join_accept_property(
    join_nonce: int,
    net_id: int,
    dev_addr: int,
    opt_neg: bool,
    off: int,
    rx2: int,
    delay: int,
    freqs: list[int] | None,
) -> None:
    cf = None if freqs is None else CFList(0, frequencies=tuple(f * 100 for f in freqs))
    ja = JoinAcceptPayload(
        join_nonce,
        NetID(net_id.to_bytes(3, "big")),
        DevAddr.from_int(dev_addr),
        DLSettings(opt_neg, off, rx2),
        delay,
        cf,
    )
    phy = PhyPayload(MHDR(MType.JOIN_ACCEPT), ja)
    phy.set_join_accept_mic(NWK_KEY, 0xFF, JOIN_EUI, 3)
    phy.encrypt_join_accept_payload(NWK_KEY)
    got = PhyPayload.from_bytes(phy.to_bytes())
    got.decrypt_join_accept_payload(NWK_KEY)
    assert got.validate_join_accept_mic(NWK_KEY, 0xFF, JOIN_EUI, 3)
    assert isinstance(got.payload, JoinAcceptPayload)
    assert got.payload.to_bytes() == ja.to_bytes()
