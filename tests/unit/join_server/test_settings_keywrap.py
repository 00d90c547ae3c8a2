"""Settings validation, AppSKey wrapping (RFC 3394) and RX settings fallbacks."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.join_server import AppSKeyWrapper, InsecureSettings, JoinServerSettings
from services.join_server.channel_plan import RxDefaults, RxSettings, rx_settings
from services.lorawan.errors import InvalidKey
from services.lorawan.region import get_region
from services.lorawan.types import AES128Key

from .conftest import make_profile

# RFC 3394 section 4.1: 128-bit key data wrapped with a 128-bit KEK
RFC3394_KEK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
RFC3394_KEY = AES128Key.from_hex("00112233445566778899AABBCCDDEEFF")
RFC3394_WRAPPED = "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5"
# RFC 3394 section 4.3: 128-bit key data, 256-bit KEK
RFC3394_KEK256 = bytes(range(32))
RFC3394_WRAPPED256 = "64E8C3F9CE0F5BA263E9777905818A2A93C8191E7D6E8AE7"


def test_rfc3394_known_answers() -> None:
    assert AppSKeyWrapper("k1", RFC3394_KEK).wrap(RFC3394_KEY) == RFC3394_WRAPPED
    assert AppSKeyWrapper("k2", RFC3394_KEK256).wrap(RFC3394_KEY) == RFC3394_WRAPPED256
    assert AppSKeyWrapper("k1", RFC3394_KEK).unwrap("k1", RFC3394_WRAPPED) == RFC3394_KEY


def test_unwrap_refuses_other_kek_or_tampering() -> None:
    w = AppSKeyWrapper("k1", RFC3394_KEK)
    with pytest.raises(InvalidKey):
        w.unwrap("k2", RFC3394_WRAPPED)
    with pytest.raises(InvalidKey):
        w.unwrap("k1", "00" + RFC3394_WRAPPED[2:])
    with pytest.raises(InvalidKey):
        AppSKeyWrapper("k1", bytes(16)).unwrap("k1", RFC3394_WRAPPED)


def test_clear_key_without_kek() -> None:
    w = AppSKeyWrapper()
    assert w.wrap(RFC3394_KEY) == "00112233445566778899AABBCCDDEEFF"
    assert w.unwrap("", "00112233445566778899aabbccddeeff") == RFC3394_KEY
    with pytest.raises(InvalidKey):
        AppSKeyWrapper("label-only")


def test_settings_defaults_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    s = JoinServerSettings()
    assert s.net_id == "000000" and s.kek_label == "" and s.kek_bytes is None
    assert s.sub_bands == [2] and s.cf_list_frequencies["EU868"][0] == 867_100_000
    monkeypatch.setenv("HYPERLORA_JS_NET_ID", "00001a")
    monkeypatch.setenv("HYPERLORA_JS_KEK_LABEL", "kek1")
    monkeypatch.setenv("HYPERLORA_JS_KEK", RFC3394_KEK.hex())
    monkeypatch.setenv("HYPERLORA_JS_SUB_BANDS", "[1, 1]")
    s = JoinServerSettings()
    assert s.net_id == "00001A" and s.kek_bytes == RFC3394_KEK and s.sub_bands == [1]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"net_id": "0001"},
        {"net_id": "zzzzzz"},
        {"kek_label": "k", "kek": "00" * 15},
        {"kek_label": "k"},
        {"kek": "00" * 16},
        {"sub_bands": [0]},
        {"sub_bands": []},
    ],
)
def test_settings_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        JoinServerSettings(**kwargs)  # type: ignore[arg-type]


def test_clear_app_s_key_refused_outside_development() -> None:
    with pytest.raises((InsecureSettings, ValidationError)):
        JoinServerSettings(environment="production")
    ok = JoinServerSettings(environment="production", kek_label="k", kek="11" * 16)
    assert ok.kek_label == "k"


@pytest.mark.parametrize(
    ("region", "profile_kw", "defaults", "expected"),
    [
        ("EU868", {}, RxDefaults(), RxSettings(1, 0, 0, 869_525_000)),
        (
            "EU868",
            {"rx1_delay": 5, "rx1_dr_offset": 3, "rx2_dr": 3, "rx2_freq": 869_525_000},
            RxDefaults(),
            RxSettings(5, 3, 3, 869_525_000),
        ),
        # out of range values: settings defaults, then the region's
        (
            "EU868",
            {"rx1_delay": 0, "rx1_dr_offset": 7, "rx2_dr": 9},
            RxDefaults(2, 1),
            RxSettings(2, 1, 0, 869_525_000),
        ),
        ("US915", {}, RxDefaults(), RxSettings(1, 0, 8, 923_300_000)),
        (
            "US915",
            {"rx1_dr_offset": 3, "rx2_dr": 10, "rx2_freq": 923_900_000},
            RxDefaults(),
            RxSettings(1, 3, 10, 923_900_000),
        ),
        ("US915", {"rx1_dr_offset": 4}, RxDefaults(rx2_dr=12), RxSettings(1, 0, 12, 923_300_000)),
    ],
)
def test_rx_settings(
    region: str, profile_kw: dict[str, int], defaults: RxDefaults, expected: RxSettings
) -> None:
    profile = make_profile("1.0.3", region, **profile_kw)
    assert rx_settings(get_region(region), profile, defaults) == expected


def test_rx_settings_without_profile() -> None:
    got = rx_settings(get_region("EU868"), None, RxDefaults(3, 2, 5, 869_525_000))
    assert got == RxSettings(3, 2, 5, 869_525_000)
