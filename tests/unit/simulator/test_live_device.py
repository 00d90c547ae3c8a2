"""Live mode: the simulated device's LoRaWAN side against the servers' own frame builders
(the join server's JoinAccept, the network server's class A downlink)."""

from __future__ import annotations

import pytest

from services.join_server.core import build_join_accept
from services.lorawan import (
    EUI64,
    AES128Key,
    CFList,
    DevAddr,
    DLSettings,
    JoinAcceptPayload,
    MacVersion,
    MType,
    NetID,
    PhyPayload,
    derive_session_keys_10,
    derive_session_keys_11,
)
from services.lorawan.maccommand import DevStatusAns, LinkADRAns, LinkADRReq
from services.network_server.core.downlink import build_data_downlink
from services.storage.domain import DeviceSession
from simulator.live.device import DownlinkRejected, LiveDevice, derive_root_key

DEV_EUI = EUI64.from_hex("70B3D57ED0000007")
JOIN_EUI = EUI64.from_hex("70B3D57ED0000000")
NET_ID = NetID.from_hex("000013")
DEV_ADDR = DevAddr.from_hex("26011BDA")
DEFAULTS = {0: 868_100_000, 1: 868_300_000, 2: 868_500_000}
CFLIST = (867_100_000, 867_300_000, 867_500_000, 867_700_000, 867_900_000)


def _device(version: str = "1.0.3") -> LiveDevice:
    v = MacVersion.parse(version)
    return LiveDevice(
        dev_eui=DEV_EUI,
        join_eui=JOIN_EUI,
        nwk_key=derive_root_key("t", str(DEV_EUI), "nwk_key"),
        app_key=derive_root_key("t", str(DEV_EUI), "app_key") if v.is_11 else None,
        mac_version=v,
        next_dev_nonce=41,
    )


def _accept(dev: LiveDevice, opt_neg: bool = False, join_nonce: int = 0x0A0B0C) -> bytes:
    assert dev.last_dev_nonce is not None
    payload = JoinAcceptPayload(
        join_nonce,
        NET_ID,
        DEV_ADDR,
        DLSettings(opt_neg=opt_neg, rx1_dr_offset=1, rx2_dr=3),
        rx_delay=2,
        cf_list=CFList(0, frequencies=CFLIST),
    )
    return build_join_accept(
        nwk_key=dev.nwk_key,
        dev_eui=DEV_EUI,
        join_eui=JOIN_EUI,
        dev_nonce=dev.last_dev_nonce,
        payload=payload,
    )


def _joined(version: str = "1.0.3") -> LiveDevice:
    dev = _device(version)
    dev.join_request()
    res = dev.open_join_accept(_accept(dev, opt_neg=MacVersion.parse(version).is_11))
    dev.commit_join(res, DEFAULTS, 869_525_000)
    return dev


def _ns_session(dev: LiveDevice, version: str, n_f_cnt_down: int = 0) -> DeviceSession:
    s = dev.session
    assert s is not None
    k = s.keys
    return DeviceSession(
        dev_eui=DEV_EUI,
        dev_addr=s.dev_addr,
        mac_version=version,
        f_nwk_s_int_key=k.f_nwk_s_int_key,
        s_nwk_s_int_key=k.s_nwk_s_int_key,
        nwk_s_enc_key=k.nwk_s_enc_key,
        n_f_cnt_down=n_f_cnt_down,
    )


def test_join_request_counts_dev_nonces_and_carries_a_valid_mic() -> None:
    dev = _device()
    first = PhyPayload.from_bytes(dev.join_request())
    second = PhyPayload.from_bytes(dev.join_request())
    assert first.mhdr.m_type is MType.JOIN_REQUEST
    assert first.validate_join_request_mic(dev.nwk_key.value)
    assert first.to_dict()["payload"]["dev_nonce"] == 41
    assert second.to_dict()["payload"]["dev_nonce"] == 42
    assert dev.last_dev_nonce == 42


@pytest.mark.parametrize("version", ["1.0.3", "1.1.0"])
def test_join_accept_from_the_join_server_opens_and_derives_the_session_keys(
    version: str,
) -> None:
    dev = _device(version)
    dev.join_request()
    res = dev.open_join_accept(_accept(dev, opt_neg=version == "1.1.0"))
    assert dev.session is None  # nothing committed yet
    assert res.accept.dev_addr == DEV_ADDR and res.dev_nonce == 41
    if version == "1.1.0":
        assert dev.app_key is not None
        want = derive_session_keys_11(dev.nwk_key, dev.app_key, 0x0A0B0C, JOIN_EUI, 41)
    else:
        want = derive_session_keys_10(dev.nwk_key, 0x0A0B0C, NET_ID, 41)
    assert res.keys == want
    dev.commit_join(res, DEFAULTS, 869_525_000)
    s = dev.session
    assert s is not None
    assert s.lorawan_11 is (version == "1.1.0")
    assert s.rx.rx1_delay_s == 2 and s.rx.rx1_dr_offset == 1 and s.rx.rx2_dr == 3
    assert s.channels == {**DEFAULTS, **{3 + i: f for i, f in enumerate(CFLIST)}}


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b: b[:-1] + bytes([b[-1] ^ 1]), "mic"),  # any flipped bit breaks the MIC
        (lambda b: b[:5], "malformed"),
        (lambda b: bytes([0x40]) + b[1:], "not_join_accept"),
    ],
)
def test_a_bad_join_accept_is_rejected(mutate: object, reason: str) -> None:
    dev = _device()
    dev.join_request()
    good = _accept(dev)
    assert callable(mutate)
    with pytest.raises(DownlinkRejected) as exc:
        dev.open_join_accept(mutate(good))
    assert exc.value.reason == reason


def test_join_accept_for_an_older_dev_nonce_fails_under_1_1() -> None:
    dev = _device("1.1.0")
    dev.join_request()
    old = _accept(dev, opt_neg=True)
    dev.join_request()  # the device moved on: the 1.1 MIC covers the DevNonce
    with pytest.raises(DownlinkRejected, match="mic"):
        dev.open_join_accept(old)


@pytest.mark.parametrize("version", ["1.0.3", "1.1.0"])
def test_uplink_frame_verifies_with_the_session_keys(version: str) -> None:
    dev = _joined(version)
    dev.pending_answers.append(DevStatusAns(battery=200, margin=7))
    data = dev.uplink(f_cnt=70_000, f_port=3, payload=b"hello", confirmed=True, dr=5, ch_index=1)
    assert dev.uplink(f_cnt=70_000, f_port=3, payload=b"x", confirmed=True, dr=5, ch_index=1) == (
        data
    )  # a retransmission is byte for byte the same frame
    s = dev.session
    assert s is not None
    k = s.keys
    phy = PhyPayload.from_bytes(data)
    assert phy.mhdr.m_type is MType.CONFIRMED_DATA_UP
    p = phy.mac_payload()
    assert p.fhdr.dev_addr == DEV_ADDR and p.fhdr.f_cnt == 70_000 & 0xFFFF
    p.fhdr.f_cnt = 70_000
    assert phy.validate_uplink_data_mic(
        version, 0, 5, 1, k.f_nwk_s_int_key.value, k.s_nwk_s_int_key.value
    )
    if version == "1.1.0":
        phy.decrypt_f_opts(k.nwk_s_enc_key.value)
    assert p.fhdr.f_opts == DevStatusAns(battery=200, margin=7).to_bytes()
    phy.decrypt_frm_payload(k.app_s_key.value)
    assert p.frm_payload == b"hello"
    assert dev.pending_answers == []


def test_answers_beyond_15_bytes_wait_for_the_next_frame() -> None:
    dev = _joined()
    dev.pending_answers.extend([DevStatusAns(battery=1, margin=0)] * 6)  # 6 x 3 bytes
    first = PhyPayload.from_bytes(
        dev.uplink(f_cnt=0, f_port=1, payload=b"", confirmed=False, dr=0, ch_index=0)
    )
    assert len(first.mac_payload().fhdr.f_opts) == 15
    assert len(dev.pending_answers) == 1


@pytest.mark.parametrize("version", ["1.0.3", "1.1.0"])
def test_downlink_from_the_network_server_opens(version: str) -> None:
    dev = _joined(version)
    dev.uplink(f_cnt=4, f_port=1, payload=b"up", confirmed=True, dr=5, ch_index=0)
    sess = _ns_session(dev, version, n_f_cnt_down=9)
    req = LinkADRReq(data_rate=3, tx_power=2, ch_mask=0x00FF, ch_mask_cntl=0, nb_trans=2)
    frame = build_data_downlink(sess, ack=True, conf_f_cnt=4, answers=[req])
    dl = dev.open_downlink(frame.phy_payload)
    assert dl.ack and not dl.confirmed and dl.f_cnt == 9
    assert dl.commands == (req,)
    dev.commit_downlink(dl, [LinkADRAns(True, True, True)])
    assert dev.session is not None and dev.session.n_f_cnt_down == 9
    assert dev.pending_answers == [LinkADRAns(True, True, True)]
    # the same frame again is a replay
    with pytest.raises(DownlinkRejected, match="f_cnt_replay"):
        dev.open_downlink(frame.phy_payload)


def test_mac_commands_on_f_port_0_are_decrypted_with_the_network_key() -> None:
    dev = _joined()
    sess = _ns_session(dev, "1.0.3")
    answers = [
        LinkADRReq(data_rate=1, tx_power=1, ch_mask=7, ch_mask_cntl=0, nb_trans=1)
    ] * 4  # 20 bytes: too long for FOpts
    frame = build_data_downlink(sess, ack=False, answers=answers)
    assert frame.mac_on_f_port_0
    dl = dev.open_downlink(frame.phy_payload)
    assert dl.f_port == 0 and len(dl.commands) == 4 and not dl.app_frame


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ("key", "mic"),
        ("addr", "dev_addr"),
    ],
)
def test_foreign_downlinks_are_rejected(tamper: str, reason: str) -> None:
    dev = _joined()
    sess = _ns_session(dev, "1.0.3")
    if tamper == "key":
        sess.s_nwk_s_int_key = AES128Key(bytes(16))
    else:
        sess.dev_addr = DevAddr.from_hex("26011BDB")
    frame = build_data_downlink(sess, ack=True)
    with pytest.raises(DownlinkRejected) as exc:
        dev.open_downlink(frame.phy_payload)
    assert exc.value.reason == reason


def test_root_keys_are_stable_and_distinct() -> None:
    a = derive_root_key("s", "70B3D57ED0000001", "nwk_key")
    assert a == derive_root_key("s", "70b3d57ed0000001", "nwk_key")
    assert a != derive_root_key("s", "70B3D57ED0000002", "nwk_key")
    assert a != derive_root_key("t", "70B3D57ED0000001", "nwk_key")
    assert a != derive_root_key("s", "70B3D57ED0000001", "app_key")
