"""The pure core: FRMPayload crypto (known answers), counter reservation, AppSKey unwrap,
ledger records, events and settings."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

from services.app_handler.core import (
    DeviceInfo,
    ack_event,
    decrypt_uplink,
    encrypt_downlink,
    join_event,
    join_record,
    next_f_cnt_down,
    reported_counter,
    session_uuid,
    unwrap_app_s_key,
    uplink_event,
    uplink_record,
)
from services.app_handler.errors import CounterExhausted, InsecureSettings, InvalidDownlink
from services.app_handler.settings import AppHandlerSettings
from services.bus.messages import (
    ApplicationUplink,
    DownlinkAck,
    JoinEvent,
    RxMetadata,
)
from services.lorawan.data import MACPayload
from services.lorawan.errors import InvalidKey
from services.lorawan.fcnt import full_f_cnt
from services.lorawan.fhdr import FHDR, FCtrl
from services.lorawan.mhdr import MHDR, MType
from services.lorawan.phy_payload import PhyPayload
from services.lorawan.types import AES128Key, DevAddr

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "lorawan_frames.json"
T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _frames_with_app_payload(direction: str = "Up") -> list[dict[str, object]]:
    frames = json.loads(VECTORS.read_text())["data_frames"]
    return [
        f
        for f in frames
        if "app_s_key" in f and "frm_payload_plain" in f and str(f["m_type"]).endswith(direction)
    ]


# ------------------------------------------------------------------ FRMPayload


@pytest.mark.parametrize("case", _frames_with_app_payload(), ids=lambda c: str(c["name"]))
def test_decrypt_published_vectors(case: dict[str, str]) -> None:
    # tests/vectors/lorawan_frames.json (lora-packet vectors, source named in the file)
    phy = PhyPayload.from_bytes(bytes.fromhex(case["phy"]))
    mac = phy.mac_payload()
    plain = decrypt_uplink(
        AES128Key.from_hex(case["app_s_key"]),
        DevAddr.from_hex(case["dev_addr"]),
        int(case["f_cnt"]),
        mac.f_port,
        mac.frm_payload,
    )
    assert plain == bytes.fromhex(case["frm_payload_plain"])


@pytest.mark.parametrize("case", _frames_with_app_payload("Down"), ids=lambda c: str(c["name"]))
def test_encrypt_published_downlink_vectors(case: dict[str, str]) -> None:
    mac = PhyPayload.from_bytes(bytes.fromhex(case["phy"])).mac_payload()
    assert mac.f_port is not None
    encrypted = encrypt_downlink(
        AES128Key.from_hex(case["app_s_key"]),
        DevAddr.from_hex(case["dev_addr"]),
        int(case["f_cnt"]),
        mac.f_port,
        bytes.fromhex(case["frm_payload_plain"]),
    )
    assert encrypted == mac.frm_payload


def test_decrypt_frame_built_with_lorawan_and_32_bit_counter() -> None:
    app_s_key = AES128Key.from_hex("000102030405060708090A0B0C0D0E0F")
    nwk_s_key = AES128Key.from_hex("0F0E0D0C0B0A09080706050403020100")
    dev_addr = DevAddr.from_hex("26011BDA")
    f_cnt = 0x0001_0005  # only 0x0005 goes on the air
    plain = b"\x03\x67\x01\x10\x05\x67\x00\xff hello, world"
    phy = PhyPayload(
        MHDR(MType.UNCONFIRMED_DATA_UP),
        MACPayload(FHDR(dev_addr, FCtrl(), f_cnt), 10, plain),
    )
    phy.encrypt_frm_payload(app_s_key)
    phy.set_uplink_data_mic("1.0.3", 0, 0, 0, nwk_s_key)
    received = PhyPayload.from_bytes(phy.to_bytes())
    mac = received.mac_payload()
    assert mac.fhdr.f_cnt == 5 and mac.frm_payload != plain
    full = full_f_cnt(mac.fhdr.f_cnt, 0x0001_0002)
    assert decrypt_uplink(app_s_key, dev_addr, full, mac.f_port, mac.frm_payload) == plain
    # the 16-bit wire counter alone gives another key stream
    assert decrypt_uplink(app_s_key, dev_addr, 5, mac.f_port, mac.frm_payload) != plain


@pytest.mark.parametrize("f_port", [None, 0])
def test_no_application_payload(f_port: int | None) -> None:
    key = AES128Key(bytes(16))
    assert decrypt_uplink(key, DevAddr.from_hex("01020304"), 1, f_port, b"\x01\x02") == b""


def test_downlink_encryption_matches_the_device_side() -> None:
    app_s_key = AES128Key.from_hex("2B7E151628AED2A6ABF7158809CF4F3C")
    nwk_s_key = AES128Key.from_hex("44024241ED4CE9A68C6A8BC055233FD3")
    dev_addr = DevAddr.from_hex("49BE7DF1")
    enc = encrypt_downlink(app_s_key, dev_addr, 7, 2, b"switch on")
    # what a device does with the frame the NS builds from it
    phy = PhyPayload(
        MHDR(MType.UNCONFIRMED_DATA_DOWN), MACPayload(FHDR(dev_addr, FCtrl(), 7), 2, enc)
    )
    phy.set_downlink_data_mic("1.0.3", 0, nwk_s_key)
    got = PhyPayload.from_bytes(phy.to_bytes())
    got.decrypt_frm_payload(app_s_key)
    assert got.mac_payload().frm_payload == b"switch on"
    # direction matters: the uplink key stream differs
    assert decrypt_uplink(app_s_key, dev_addr, 7, 2, enc) != b"switch on"


@pytest.mark.parametrize("f_port", [0, 224, 255])
def test_downlink_port_checked(f_port: int) -> None:
    with pytest.raises(InvalidDownlink):
        encrypt_downlink(AES128Key(bytes(16)), DevAddr.from_hex("01020304"), 0, f_port, b"x")


# ------------------------------------------------------------------ counters

# (mac_version, reported n_f_cnt_down, reported a_f_cnt_down, last reserved, expected)
RESERVATIONS = [
    ("1.0.3", None, None, None, 0),  # nothing known: start at 0
    ("1.0.3", 5, None, None, 5),  # the NS's next counter
    ("1.0.3", 5, 99, None, 5),  # 1.0.x: NFCntDown, the AFCntDown report is irrelevant
    ("1.0.3", 5, None, 5, 6),  # already reserved 5: the next one
    ("1.0.3", 5, None, 9, 10),  # several queued: keep counting
    ("1.0.3", 20, None, 9, 20),  # the NS moved past the reservations (MAC-only frames)
    ("1.0.4", 0, None, 0, 1),
    ("1.1.0", 99, 3, None, 3),  # 1.1: AFCntDown
    ("1.1.0", 99, 3, 3, 4),
    ("1.1", None, 7, 2, 7),
    ("1.1.0", None, None, 0xFFFFFFFE, 0xFFFFFFFF),
]


@pytest.mark.parametrize(("version", "n", "a", "last", "expected"), RESERVATIONS)
def test_reservation_rule(
    version: str, n: int | None, a: int | None, last: int | None, expected: int
) -> None:
    assert next_f_cnt_down(reported_counter(version, n, a), last) == expected


def test_reservation_exhausted() -> None:
    with pytest.raises(CounterExhausted):
        next_f_cnt_down(0, 0xFFFFFFFF)
    with pytest.raises(CounterExhausted):
        next_f_cnt_down(0x1_0000_0000, None)


# ------------------------------------------------------------------ AppSKey delivery

KEK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
APP_S_KEY = AES128Key.from_hex("00112233445566778899AABBCCDDEEFF")


def test_unwrap_rfc3394_known_answer() -> None:
    # RFC 3394 section 4.1: 128-bit key data wrapped with a 128-bit KEK
    wrapped = "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5"
    key = unwrap_app_s_key("kek1", wrapped, my_kek_label="kek1", my_kek=KEK, allow_clear=False)
    assert key == APP_S_KEY


def test_unwrap_round_trip_and_refusals() -> None:
    wrapped = aes_key_wrap(KEK, APP_S_KEY.value).hex()
    ok = unwrap_app_s_key("k", wrapped, my_kek_label="k", my_kek=KEK, allow_clear=False)
    assert ok == APP_S_KEY
    with pytest.raises(InvalidKey, match="unknown KEK"):
        unwrap_app_s_key("other", wrapped, my_kek_label="k", my_kek=KEK, allow_clear=True)
    with pytest.raises(InvalidKey, match="unwrap"):
        unwrap_app_s_key("k", wrapped, my_kek_label="k", my_kek=bytes(16), allow_clear=True)
    with pytest.raises(InvalidKey, match="hexadecimal"):
        unwrap_app_s_key("k", "xyz", my_kek_label="k", my_kek=KEK, allow_clear=True)
    clear = APP_S_KEY.value.hex()
    assert unwrap_app_s_key("", clear, my_kek_label="", my_kek=None, allow_clear=True) == APP_S_KEY
    with pytest.raises(InvalidKey, match="clear"):
        unwrap_app_s_key("", clear, my_kek_label="", my_kek=None, allow_clear=False)
    with pytest.raises(InvalidKey, match="16 bytes"):
        unwrap_app_s_key("", clear[:30], my_kek_label="", my_kek=None, allow_clear=True)


def test_session_uuid() -> None:
    u = uuid.uuid4()
    assert session_uuid(str(u)) == u and session_uuid(u.hex) == u
    assert session_uuid("abc") == session_uuid("abc") != session_uuid("abd")


# ------------------------------------------------------------------ ledger and events


def _rx(gw: str, zone: str | None, rssi: float, snr: float) -> RxMetadata:
    return RxMetadata(
        gw_eui=gw, freq_hz=868_100_000, rssi=rssi, snr=snr, size=20, received_at=T0, zone=zone
    )


def _uplink(rx: list[RxMetadata]) -> ApplicationUplink:
    return ApplicationUplink(
        dedup_id="d1",
        dev_eui="0102030405060708",
        dev_addr="26011BDA",
        session_id="s1",
        f_cnt=70000,
        f_port=2,
        frm_payload=b"\x00",
        dr=5,
        freq_hz=868_100_000,
        rx=rx,
        received_at=T0,
    )


def test_uplink_ledger_record() -> None:
    up = _uplink(
        [_rx("AA555A0000000001", "zone-a", -80, 7.5), _rx("AA555A0000000002", "b", -90, 1)]
    )
    rec = uplink_record(up, "s1", b"\x01\x02")
    assert rec.channel == "application" and rec.kind == "uplink" and rec.zone == "zone-a"
    assert rec.key == "0102030405060708/70000"
    assert rec.idempotency_key == "up:0102030405060708:s1:70000"
    assert rec.payload == {
        "dev_eui": "0102030405060708",
        "f_cnt": 70000,
        "received_at": T0.isoformat(),
        "gateways": ["AA555A0000000001", "AA555A0000000002"],
        "payload_sha256": hashlib.sha256(b"\x01\x02").hexdigest(),
        "payload": "0102",
    }
    no_zone = uplink_record(_uplink([_rx("AA555A0000000001", None, -80, 1)]), "s1", b"")
    assert no_zone.zone == "default"
    assert uplink_record(_uplink([]), "s1", b"", default_zone="z9").zone == "z9"


def test_uplink_event_with_codec_and_every_gateway() -> None:
    up = _uplink([_rx("AA555A0000000001", "a", -80, 7.5), _rx("AA555A0000000002", None, -99, -3)])
    device = DeviceInfo(dev_eui=up.dev_eui, tenant_id="t", application_id="a", codec="cayenne_lpp")
    payload = bytes.fromhex("03670110")
    ev = uplink_event(up, device, "s1", payload).to_dict()
    assert ev["event"] == "up" and ev["application_id"] == "a" and ev["tenant_id"] == "t"
    assert (ev["f_cnt"], ev["f_port"], ev["dr"], ev["freq_hz"]) == (70000, 2, 5, 868_100_000)
    assert [(r["gw_eui"], r["rssi"], r["snr"]) for r in ev["rx"]] == [
        ("AA555A0000000001", -80, 7.5),
        ("AA555A0000000002", -99, -3),
    ]
    assert base64.b64decode(ev["data"]) == payload
    assert ev["object"] == {"measurements": [{"channel": 3, "type": "temperature", "value": 27.2}]}
    assert ev["codec_error"] is None
    bad = uplink_event(up, DeviceInfo(dev_eui=up.dev_eui, codec="nope"), "s1", payload)
    assert bad.object is None and bad.codec_error is not None and "nope" in bad.codec_error
    plain = uplink_event(up, None, "s1", payload)
    assert plain.object is None and plain.codec_error is None and plain.application_id is None


def test_join_event_and_record() -> None:
    join = JoinEvent(
        dedup_id="j1",
        dev_eui="0102030405060708",
        join_eui="70B3D57ED0000000",
        dev_addr="26011BDA",
        session_id="s9",
        mac_version="1.0.3",
        rx=[_rx("AA555A0000000001", "north", -70, 9)],
        received_at=T0,
    )
    ev = join_event(join, DeviceInfo(dev_eui=join.dev_eui, application_id="a")).to_dict()
    assert ev["event"] == "join" and ev["dev_addr"] == "26011BDA" and ev["session_id"] == "s9"
    rec = join_record(join)
    assert (rec.channel, rec.kind, rec.zone) == ("device", "join", "north")
    assert rec.idempotency_key == "join:0102030405060708:s9"
    assert rec.payload["join_eui"] == "70B3D57ED0000000"


def test_ack_event() -> None:
    ack = DownlinkAck(dev_eui="0102030405060708", request_id="r1", acknowledged=False, reason="x")
    ev = ack_event(ack, None).to_dict()
    assert ev["event"] == "ack" and ev["acknowledged"] is False and ev["reason"] == "x"


# ------------------------------------------------------------------ settings


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYPERLORA_APP_MQTT__PORT", "1999")
    monkeypatch.setenv("HYPERLORA_APP_MQTT__ENABLED", "false")
    monkeypatch.setenv("HYPERLORA_APP_WEBHOOK__MAX_RETRIES", "7")
    monkeypatch.setenv("HYPERLORA_APP_KEK_LABEL", "kek1")
    monkeypatch.setenv("HYPERLORA_APP_KEK", KEK.hex())
    s = AppHandlerSettings()
    assert s.mqtt.port == 1999 and s.mqtt.enabled is False and s.mqtt.host == "127.0.0.1"
    assert s.webhook.max_retries == 7 and s.kek_bytes == KEK


def test_settings_refuse_clear_keys_outside_development() -> None:
    with pytest.raises(InsecureSettings):
        AppHandlerSettings(environment="production")
    with pytest.raises(ValueError, match="together"):
        AppHandlerSettings(kek_label="k")
    s = AppHandlerSettings(environment="production", kek_label="k", kek=KEK.hex())
    assert s.kek_label == "k"
