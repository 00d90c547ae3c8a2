"""The pure core: verification, JoinAccept construction, keys, CFList, DevAddr, rejections."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from services.join_server import (
    DevAddrAllocator,
    JoinRecord,
    JoinRejected,
    JoinServerCore,
    RejectReason,
    build_join_accept,
)
from services.lorawan.crypto import aes_cmac
from services.lorawan.join import DLSettings, JoinAcceptPayload
from services.lorawan.keys import (
    derive_js_enc_key,
    derive_js_int_key,
    derive_session_keys_10,
    derive_session_keys_11,
)
from services.lorawan.phy_payload import PhyPayload
from services.lorawan.types import EUI64, AES128Key, DevAddr, NetID

from .conftest import (
    APP_KEY,
    DEV_EUI,
    JOIN_EUI,
    NET_ID,
    NWK_KEY,
    join_request,
    join_request_frame,
    make_device,
    make_profile,
    seeded_rng,
)

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "lorawan_frames.json"
ADDR = DevAddr.for_net_id(NET_ID, 0x1234)


def device_side(accept_wire: bytes, mac_version: str, dev_nonce: int) -> JoinAcceptPayload:
    """What the device does with the JoinAccept: decrypt with NwkKey, check the MIC."""
    phy = PhyPayload.from_bytes(accept_wire)
    phy.decrypt_join_accept_payload(NWK_KEY)
    if mac_version.startswith("1.1"):
        js_int_key = derive_js_int_key(NWK_KEY, DEV_EUI)
        assert phy.validate_join_accept_mic(js_int_key, 0xFF, JOIN_EUI, dev_nonce, opt_neg=True)
        # signed with JSIntKey, not with NwkKey
        assert not phy.validate_join_accept_mic(NWK_KEY, 0xFF, JOIN_EUI, dev_nonce)
    else:
        assert phy.validate_join_accept_mic(NWK_KEY)
    assert isinstance(phy.payload, JoinAcceptPayload)
    return phy.payload


@pytest.mark.parametrize(
    ("mac_version", "dev_nonce", "join_nonce", "strict"),
    [
        ("1.0.0", 0x0000, 1, False),
        ("1.0.2", 0xBEEF, 0x000102, False),
        ("1.0.3", 0x1234, 7, False),
        ("1.0.4", 0x0001, 0xFFFFFF, True),
        ("1.1.0", 0x0005, 0x00ABCD, True),
    ],
)
def test_join_accept_decrypts_validates_and_keys_match(
    core: JoinServerCore, mac_version: str, dev_nonce: int, join_nonce: int, strict: bool
) -> None:
    profile = make_profile(mac_version, rx1_delay=3, rx1_dr_offset=2, rx2_dr=3)
    req = join_request(dev_nonce)
    v = core.verify(req, make_device(profile), profile)
    assert v.strict_increasing is strict
    out = core.accept(v, join_nonce=join_nonce, dev_addr=ADDR)

    plain = device_side(out.accept.phy_payload or b"", mac_version, dev_nonce)
    is_11 = mac_version.startswith("1.1")
    assert plain.join_nonce == join_nonce
    assert plain.net_id == NET_ID
    assert plain.dev_addr == ADDR
    assert plain.dl_settings == DLSettings(is_11, 2, 3)
    assert plain.rx_delay == 3
    assert plain.cf_list is not None and plain.cf_list.frequencies == (
        867_100_000,
        867_300_000,
        867_500_000,
        867_700_000,
        867_900_000,
    )

    if is_11:
        keys = derive_session_keys_11(NWK_KEY, APP_KEY, join_nonce, JOIN_EUI, dev_nonce)
        assert len({keys.f_nwk_s_int_key, keys.s_nwk_s_int_key, keys.nwk_s_enc_key}) == 3
    else:
        keys = derive_session_keys_10(NWK_KEY, join_nonce, NET_ID, dev_nonce)
    assert out.keys == keys
    msg = out.accept
    assert msg.accepted and msg.reason is None
    assert msg.f_nwk_s_int_key == str(keys.f_nwk_s_int_key)
    assert msg.s_nwk_s_int_key == str(keys.s_nwk_s_int_key)
    assert msg.nwk_s_enc_key == str(keys.nwk_s_enc_key)
    assert msg.dev_addr == str(ADDR)
    assert msg.join_nonce == join_nonce and msg.dev_nonce == dev_nonce
    assert msg.mac_version == mac_version
    assert (msg.rx1_dr_offset, msg.rx2_dr, msg.rx2_freq_hz, msg.rx_delay_s) == (
        2,
        3,
        869_525_000,
        3,
    )
    assert msg.cf_list == plain.cf_list.to_bytes()
    # the AppSKey goes only to the app handler (clear hex here: no KEK configured)
    assert str(keys.app_s_key) not in msg.model_dump_json()
    assert out.app_s_key.app_s_key_wrapped == str(keys.app_s_key)
    assert out.app_s_key.session_id == msg.session_id == "00000000-0000-0000-0000-000000000001"


def test_join_accept_10_computed_by_hand(core: JoinServerCore) -> None:
    """1.0 JoinAccept re-derived from the specification with raw AES, not PhyPayload."""
    profile = make_profile("1.0.2")
    v = core.verify(join_request(0x0102), make_device(profile), profile)
    wire = core.accept(v, join_nonce=0x030201, dev_addr=ADDR).accept.phy_payload or b""
    cf = bytes.fromhex("184f84e85684b85e84886684586e8400")  # 867.1 .. 867.9 MHz, type 0
    body = (
        bytes.fromhex("010203")
        + NET_ID.to_le()
        + ADDR.to_le()
        + bytes((0x00, 0x01))  # DLSettings (offset 0, RX2 DR0), RxDelay 1
        + cf
    )
    mic = aes_cmac(NWK_KEY.value, b"\x20" + body)[:4]
    decryptor = Cipher(algorithms.AES(NWK_KEY.value), modes.ECB()).decryptor()
    expected = b"\x20" + decryptor.update(body + mic) + decryptor.finalize()
    assert wire == expected


@pytest.mark.parametrize("name", ["ChirpStack 1.0 join-accept", "lora-packet all-zero join-accept"])
def test_build_join_accept_known_answers(name: str) -> None:
    vec = next(v for v in json.loads(VECTORS.read_text())["join_accepts"] if v["name"] == name)
    dl = vec["dl_settings"]
    payload = JoinAcceptPayload(
        vec["join_nonce"],
        NetID.from_hex(vec["net_id"]),
        DevAddr.from_hex(vec["dev_addr"]),
        DLSettings(dl["opt_neg"], dl["rx1_dr_offset"], dl["rx2_dr"]),
        vec["rx_delay"],
    )
    wire = build_join_accept(
        nwk_key=AES128Key.from_hex(vec["key"]),
        dev_eui=DEV_EUI,
        join_eui=JOIN_EUI,
        dev_nonce=0,
        payload=payload,
    )
    assert wire.hex() == vec["phy_encrypted"]


def test_rejoin_answer_is_encrypted_with_js_enc_key() -> None:
    payload = JoinAcceptPayload(5, NET_ID, ADDR, DLSettings(True, 0, 0), 1)
    kwargs = {"nwk_key": NWK_KEY, "dev_eui": DEV_EUI, "join_eui": JOIN_EUI, "dev_nonce": 3}
    wire = build_join_accept(payload=payload, join_req_type=0, **kwargs)  # type: ignore[arg-type]
    phy = PhyPayload.from_bytes(wire)
    phy.decrypt_join_accept_payload(derive_js_enc_key(NWK_KEY, DEV_EUI))
    assert phy.payload == payload
    assert phy.validate_join_accept_mic(derive_js_int_key(NWK_KEY, DEV_EUI), 0, JOIN_EUI, 3)
    assert wire != build_join_accept(payload=payload, **kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- CFList, RX


def test_us915_cf_list_enables_sub_band_2(core: JoinServerCore) -> None:
    profile = make_profile("1.0.4", region="US915")
    v = core.verify(join_request(1, region="US915"), make_device(profile), profile)
    out = core.accept(v, join_nonce=1, dev_addr=ADDR)
    plain = device_side(out.accept.phy_payload or b"", "1.0.4", 1)
    assert plain.cf_list is not None and plain.cf_list.cf_list_type == 1
    assert plain.cf_list.ch_masks[:5] == (0xFF00, 0, 0, 0, 0x0002)  # channels 8-15 and 65
    assert (out.accept.cf_list or b"").hex() == "00ff0000000000000200" + "0000000000" + "01"
    # a profile left at EU868 RX2 values falls back to the region's RX2 (DR8, 923.3 MHz)
    assert (plain.dl_settings.rx2_dr, out.accept.rx2_freq_hz) == (8, 923_300_000)


def test_us915_other_sub_bands_and_old_devices(clock: object) -> None:
    from services.join_server.core import JoinServerCore as Core
    from services.join_server.keywrap import AppSKeyWrapper

    core = Core(net_id=NET_ID, wrapper=AppSKeyWrapper(), clock=clock, sub_bands=(1, 8))  # type: ignore[arg-type]
    profile = make_profile("1.1.0", region="US915")
    v = core.verify(join_request(1, region="US915"), make_device(profile), profile)
    assert v.cf_list is not None and v.cf_list.ch_masks[:5] == (0x00FF, 0, 0, 0xFF00, 0x0081)
    old = make_profile("1.0.2", region="US915")  # RP 1.0.2: no CFList in fixed plans
    assert core.verify(join_request(1, region="US915"), make_device(old), old).cf_list is None
    # no extra channels configured for EU868 here: no CFList
    eu = make_profile("1.0.3")
    assert core.verify(join_request(1), make_device(eu), eu).cf_list is None


def test_invalid_channel_plan_fails_at_construction(clock: object) -> None:
    from services.join_server.keywrap import AppSKeyWrapper
    from services.lorawan.errors import InvalidParameter

    with pytest.raises(InvalidParameter):
        JoinServerCore(
            net_id=NET_ID,
            wrapper=AppSKeyWrapper(),
            clock=clock,  # type: ignore[arg-type]
            cf_list_frequencies={"EU868": [915_000_000]},
        )


# --------------------------------------------------------------------------- DevAddr


@pytest.mark.parametrize("net_id", ["000000", "000013", "600002", "C00017", "E00010"])
def test_dev_addr_belongs_to_net_id(net_id: str) -> None:
    nid = NetID.from_hex(net_id)
    alloc = DevAddrAllocator(nid, seeded_rng(42))
    addrs = [alloc.propose() for _ in range(200)]
    assert all(a.belongs_to(nid) for a in addrs)
    space = 2 ** DevAddr.nwk_addr_bits(nid)  # NetID type 7 has only 128 NwkAddrs
    assert len(set(addrs)) > min(150, space // 2)  # random NwkAddrs


@settings(max_examples=300, deadline=None)
@given(net=st.binary(min_size=3, max_size=3), seed=st.integers(0, 2**32))
def test_dev_addr_property(net: bytes, seed: int) -> None:
    nid = NetID(net)
    assert DevAddrAllocator(nid, seeded_rng(seed)).propose().belongs_to(nid)


# --------------------------------------------------------------------------- rejections


def _reason(core: JoinServerCore, req: object, device: object, profile: object) -> RejectReason:
    with pytest.raises(JoinRejected) as info:
        core.verify(req, device, profile)  # type: ignore[arg-type]
    return info.value.reason


def test_rejections(core: JoinServerCore) -> None:
    p10 = make_profile("1.0.3")
    p11 = make_profile("1.1.0")
    dev = make_device(p10)
    assert _reason(core, join_request(1), None, None) is RejectReason.UNKNOWN_DEVICE
    disabled = make_device(p10, enabled=False)
    assert _reason(core, join_request(1), disabled, p10) is RejectReason.DEVICE_DISABLED
    abp = make_profile("1.0.3", supports_join=False)
    assert _reason(core, join_request(1), make_device(abp), abp) is RejectReason.NOT_OTAA
    assert _reason(core, join_request(1), dev, None) is RejectReason.NOT_OTAA
    no_key = make_device(p10, nwk_key=None)
    assert _reason(core, join_request(1), no_key, p10) is RejectReason.NOT_OTAA
    no_app_key = make_device(p11, app_key=None)
    assert _reason(core, join_request(1), no_app_key, p11) is RejectReason.NOT_OTAA
    bad_key = join_request(1, key=APP_KEY)
    assert _reason(core, bad_key, dev, p10) is RejectReason.MIC_MISMATCH
    other_join_eui = EUI64.from_hex("70B3D57ED0000002")
    mismatch = join_request(1, join_eui=other_join_eui)
    assert _reason(core, mismatch, dev, p10) is RejectReason.JOIN_EUI_MISMATCH
    assert _reason(core, join_request(1, region="XX000"), dev, p10) is (
        RejectReason.UNSUPPORTED_REGION
    )
    bad_version = make_profile("2.0.0")
    assert _reason(core, join_request(1), make_device(bad_version), bad_version) is (
        RejectReason.UNSUPPORTED_MAC_VERSION
    )


@pytest.mark.parametrize(
    "wire",
    [
        b"",
        b"\x00\x01\x02",
        join_request_frame(1)[:-1],  # truncated
        bytes.fromhex("40040302010000010001") + b"\x00" * 4,  # a data frame
        join_request_frame(2),  # the message says DevNonce 1
    ],
)
def test_malformed_frames(core: JoinServerCore, wire: bytes) -> None:
    profile = make_profile("1.0.3")
    req = join_request(1, phy_payload=wire)
    assert _reason(core, req, make_device(profile), profile) is RejectReason.MALFORMED


def test_reject_message(core: JoinServerCore) -> None:
    msg = core.reject(join_request(9, dedup_id="d1"), RejectReason.MIC_MISMATCH)
    assert not msg.accepted and msg.reason == "mic_mismatch" and msg.dedup_id == "d1"
    assert msg.phy_payload is None and msg.f_nwk_s_int_key is None and msg.dev_nonce == 9


def test_replay_rebuilds_the_same_answer(core: JoinServerCore) -> None:
    profile = make_profile("1.1.0")
    req = join_request(3)
    v = core.verify(req, make_device(profile), profile)
    first = core.accept(v, join_nonce=4, dev_addr=ADDR)
    record = JoinRecord.from_dict(json.loads(json.dumps(first.record.to_dict())))
    again = core.replay(v, record)
    assert again.accept == first.accept and again.app_s_key == first.app_s_key
    assert record.phy_payload == (first.accept.phy_payload or b"").hex()
    assert "key" not in "".join(k for k in record.to_dict() if k != "dev_nonce")


@settings(max_examples=300, deadline=None)
@given(wire=st.binary(max_size=40), nonce=st.integers(0, 0xFFFF))
def test_any_bytes_are_rejected_cleanly(wire: bytes, nonce: int) -> None:
    """Whatever the PHYPayload, verify raises only JoinRejected (never IndexError & co)."""
    from services.join_server.core import JoinServerCore as Core
    from services.join_server.keywrap import AppSKeyWrapper

    core = Core(net_id=NET_ID, wrapper=AppSKeyWrapper(), clock=lambda: None)  # type: ignore[arg-type,return-value]
    profile = make_profile("1.0.3")
    with pytest.raises(JoinRejected):
        core.verify(join_request(nonce, phy_payload=wire), make_device(profile), profile)


@pytest.mark.parametrize(
    "kwargs",
    [{"cf_list_frequencies": {"XX000": [867_100_000]}}, {"sub_bands": (9,)}],
)
def test_other_channel_plan_errors_at_construction(kwargs: dict[str, Any]) -> None:
    from services.join_server.keywrap import AppSKeyWrapper
    from services.lorawan.errors import LoRaWANError

    with pytest.raises(LoRaWANError):
        JoinServerCore(net_id=NET_ID, wrapper=AppSKeyWrapper(), clock=lambda: None, **kwargs)  # type: ignore[arg-type,return-value]
