"""Channel plans, RX1 frequencies, LinkADRReq ChMask application and CFLists."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.lorawan.errors import InvalidParameter
from services.lorawan.region import (
    DynamicChannelRegion,
    FixedChannelRegion,
    get_region,
    list_regions,
)


def fixed(name: str) -> FixedChannelRegion:
    region = get_region(name)
    assert isinstance(region, FixedChannelRegion)
    return region


def dynamic(name: str) -> DynamicChannelRegion:
    region = get_region(name)
    assert isinstance(region, DynamicChannelRegion)
    return region


ALL_72 = frozenset(range(72))

# ---- fixed plans: uplink / downlink frequencies ----


@pytest.mark.parametrize(
    ("name", "channel", "freq", "min_dr", "max_dr"),
    [
        ("US915", 0, 902_300_000, 0, 3),
        ("US915", 1, 902_500_000, 0, 3),
        ("US915", 8, 903_900_000, 0, 3),
        ("US915", 63, 914_900_000, 0, 3),
        ("US915", 64, 903_000_000, 4, 4),
        ("US915", 65, 904_600_000, 4, 4),
        ("US915", 71, 914_200_000, 4, 4),
        ("AU915", 0, 915_200_000, 0, 5),
        ("AU915", 8, 916_800_000, 0, 5),
        ("AU915", 63, 927_800_000, 0, 5),
        ("AU915", 64, 915_900_000, 6, 6),
        ("AU915", 71, 927_100_000, 6, 6),
    ],
)
def test_fixed_uplink_channels(
    name: str, channel: int, freq: int, min_dr: int, max_dr: int
) -> None:
    region = fixed(name)
    ch = region.uplink_channel(channel)
    assert (ch.frequency_hz, ch.min_dr, ch.max_dr) == (freq, min_dr, max_dr)
    assert region.uplink_channel_index(freq) == channel


@pytest.mark.parametrize(
    ("name", "uplink_channel", "downlink_freq"),
    [
        ("US915", 0, 923_300_000),
        ("US915", 1, 923_900_000),
        ("US915", 7, 927_500_000),
        ("US915", 8, 923_300_000),
        ("US915", 15, 927_500_000),
        ("US915", 63, 927_500_000),
        ("US915", 64, 923_300_000),
        ("US915", 65, 923_900_000),
        ("US915", 71, 927_500_000),
        ("AU915", 0, 923_300_000),
        ("AU915", 9, 923_900_000),
        ("AU915", 70, 926_900_000),
    ],
)
def test_fixed_downlink_frequency(name: str, uplink_channel: int, downlink_freq: int) -> None:
    region = fixed(name)
    assert region.downlink_frequency(uplink_channel) == downlink_freq
    up = region.uplink_channel(uplink_channel).frequency_hz
    assert region.rx1_frequency(up) == downlink_freq


def test_us915_downlink_channels() -> None:
    chans = fixed("US915").downlink_channels()
    assert [c.frequency_hz for c in chans] == [923_300_000 + 600_000 * k for k in range(8)]
    assert all((c.min_dr, c.max_dr) == (8, 13) for c in chans)


@pytest.mark.parametrize(
    ("name", "freq"),
    [
        ("US915", 902_400_000),
        ("US915", 915_100_000),
        ("US915", 868_100_000),
        ("AU915", 902_300_000),
    ],
)
def test_fixed_unknown_uplink_frequency(name: str, freq: int) -> None:
    with pytest.raises(InvalidParameter):
        fixed(name).rx1_frequency(freq)


@pytest.mark.parametrize("bad", [-1, 72, 100])
def test_fixed_unknown_channel(bad: int) -> None:
    with pytest.raises(InvalidParameter):
        fixed("US915").uplink_channel(bad)
    with pytest.raises(InvalidParameter):
        fixed("US915").downlink_frequency(bad)


@pytest.mark.parametrize(
    ("sub_band", "channels"),
    [
        (1, (0, 1, 2, 3, 4, 5, 6, 7, 64)),
        (2, (8, 9, 10, 11, 12, 13, 14, 15, 65)),
        (8, (56, 57, 58, 59, 60, 61, 62, 63, 71)),
    ],
)
def test_fixed_sub_bands(sub_band: int, channels: tuple[int, ...]) -> None:
    assert fixed("US915").sub_band_channels(sub_band) == channels
    assert fixed("AU915").sub_band_channels(sub_band) == channels


@pytest.mark.parametrize("bad", [0, 9])
def test_fixed_sub_band_out_of_range(bad: int) -> None:
    with pytest.raises(InvalidParameter):
        fixed("US915").sub_band_channels(bad)


def test_us915_join_channels() -> None:
    chans = fixed("US915").join_channels()
    assert len(chans) == 72
    assert all(c.min_dr == c.max_dr == 0 for c in chans[:64])
    assert all(c.min_dr == c.max_dr == 4 for c in chans[64:])


@pytest.mark.parametrize("name", ["EU868", "AS923", "AS923-3", "IN865", "KR920"])
def test_dynamic_rx1_frequency_is_uplink_frequency(name: str) -> None:
    region = get_region(name)
    for ch in region.default_channels():
        assert region.rx1_frequency(ch.frequency_hz) == ch.frequency_hz
    with pytest.raises(InvalidParameter):
        region.rx1_frequency(region.frequency_max_hz + 1)


# ---- LinkADRReq ChMask: US915 / AU915 ----

SB2 = frozenset([*range(8, 16), 65])


@pytest.mark.parametrize(
    ("enabled", "ch_mask", "cntl", "expected"),
    [
        # ChMaskCntl 0..3: blocks of 16 channels, the rest untouched
        (ALL_72, 0x0000, 0, ALL_72 - frozenset(range(16))),
        (ALL_72, 0xFF00, 0, ALL_72 - frozenset(range(8))),
        (frozenset(), 0xFF00, 0, frozenset(range(8, 16))),
        (frozenset([64]), 0x0001, 3, frozenset([48, 64])),
        (frozenset(range(16)), 0x8001, 1, frozenset([*range(16), 16, 31])),
        # ChMaskCntl 4: channels 64..71 from bits 0..7
        (frozenset(range(8)), 0x0002, 4, frozenset([*range(8), 65])),
        (frozenset([0, 64, 65]), 0x0000, 4, frozenset([0])),
        # ChMaskCntl 5: bit k switches bank k (8k..8k+7) and 500 kHz channel 64+k
        (ALL_72, 0x0002, 5, SB2),
        (frozenset(), 0x0081, 5, frozenset([*range(8), *range(56, 64), 64, 71])),
        # ChMaskCntl 6: all 125 kHz on, ChMask is channels 64..71
        (frozenset(), 0x0000, 6, frozenset(range(64))),
        (frozenset([70]), 0x00FF, 6, ALL_72),
        (SB2, 0x0001, 6, frozenset([*range(64), 64])),
        # ChMaskCntl 7: all 125 kHz off, ChMask is channels 64..71
        (ALL_72, 0x0002, 7, frozenset([65])),
        (frozenset(range(16)), 0x00FF, 7, frozenset(range(64, 72))),
    ],
)
def test_us915_ch_mask(
    enabled: frozenset[int], ch_mask: int, cntl: int, expected: frozenset[int]
) -> None:
    assert fixed("US915").apply_ch_mask(enabled, ch_mask, cntl) == expected
    assert fixed("AU915").apply_ch_mask(enabled, ch_mask, cntl) == expected


@pytest.mark.parametrize(
    ("enabled", "ch_mask", "cntl"),
    [
        (ALL_72, 0x0000, 7),  # everything off
        (frozenset(range(16)), 0x0000, 0),  # disables the only enabled block
        (ALL_72, 0x0100, 4),  # channel 72 does not exist
        (ALL_72, 0x0100, 6),  # bits 8..15 with ChMaskCntl 6
        (ALL_72, 0x0100, 5),  # ChMaskCntl 5 uses bits 0..7 only
        (ALL_72, 0x0000, 5),  # every bank off
        (ALL_72, 0xFFFF, 8),  # ChMaskCntl is 3 bits
        (ALL_72, 0x10000, 0),  # ChMask is 16 bits
    ],
)
def test_us915_ch_mask_rejected(enabled: frozenset[int], ch_mask: int, cntl: int) -> None:
    with pytest.raises(InvalidParameter):
        fixed("US915").apply_ch_mask(enabled, ch_mask, cntl)


def test_us915_link_adr_block_selects_sub_band_2() -> None:
    # The classic network-server sequence: all 125 kHz off (+ 500 kHz ch 65), then block 0.
    block = [(0x0002, 7), (0xFF00, 0)]
    assert fixed("US915").apply_link_adr_block(ALL_72, block) == SB2


def test_us915_link_adr_block_can_pass_through_empty() -> None:
    # Intermediate empty state is fine; only the block result counts.
    assert fixed("US915").apply_link_adr_block(ALL_72, [(0, 7), (0x00FF, 0)]) == frozenset(range(8))
    with pytest.raises(InvalidParameter):
        fixed("US915").apply_link_adr_block(ALL_72, [])


def test_ch_mask_as_bools() -> None:
    bits = [False] * 16
    bits[1] = True
    assert fixed("US915").apply_ch_mask(ALL_72, bits, 7) == frozenset([65])
    with pytest.raises(InvalidParameter):
        fixed("US915").apply_ch_mask(ALL_72, bits[:8], 7)


@settings(max_examples=300, deadline=None)
@given(
    enabled=st.frozensets(st.integers(0, 71)),
    ch_mask=st.integers(0, 0xFFFF),
    cntl=st.integers(0, 7),
)
def test_us915_ch_mask_property(enabled: frozenset[int], ch_mask: int, cntl: int) -> None:
    region = fixed("US915")
    try:
        out = region.apply_ch_mask(enabled, ch_mask, cntl)
    except InvalidParameter:
        return
    assert out and out <= ALL_72
    if cntl <= 4:
        block = frozenset(range(cntl * 16, min(cntl * 16 + 16, 72)))
        assert out - block == enabled - block  # channels outside the block untouched
        assert out & block == frozenset(c for c in block if ch_mask >> (c - cntl * 16) & 1)


# ---- LinkADRReq ChMask: EU868-like ----

EU_DEFINED = frozenset(range(8))


@pytest.mark.parametrize(
    ("enabled", "ch_mask", "cntl", "defined", "expected"),
    [
        (frozenset(range(3)), 0x0001, 0, None, frozenset([0])),
        (frozenset(range(3)), 0x0006, 0, None, frozenset([1, 2])),
        (frozenset([0]), 0x0007, 0, None, frozenset(range(3))),
        (frozenset(range(3)), 0x00F0, 0, EU_DEFINED, frozenset(range(4, 8))),
        (frozenset([0]), 0x0000, 6, None, frozenset(range(3))),
        (frozenset([0]), 0xFFFF, 6, EU_DEFINED, EU_DEFINED),
    ],
)
def test_eu868_ch_mask(
    enabled: frozenset[int],
    ch_mask: int,
    cntl: int,
    defined: frozenset[int] | None,
    expected: frozenset[int],
) -> None:
    assert dynamic("EU868").apply_ch_mask(enabled, ch_mask, cntl, defined) == expected


@pytest.mark.parametrize(
    ("ch_mask", "cntl", "defined"),
    [
        (0x0000, 0, None),  # all off
        (0x0008, 0, None),  # channel 3 is not defined
        (0x0100, 0, EU_DEFINED),  # channel 8 is not defined
        (0x0001, 1, None),  # RFU
        (0x0001, 5, None),  # RFU
        (0x0001, 7, None),  # RFU
    ],
)
def test_eu868_ch_mask_rejected(ch_mask: int, cntl: int, defined: frozenset[int] | None) -> None:
    with pytest.raises(InvalidParameter):
        dynamic("EU868").apply_ch_mask(frozenset(range(3)), ch_mask, cntl, defined)


# ---- CFList ----


def test_eu868_cflist_round_trip() -> None:
    region = dynamic("EU868")
    freqs = [867_100_000, 867_300_000, 867_500_000, 867_700_000, 867_900_000]
    data = region.encode_cflist(freqs)
    # TTN's EU868 plan: 867.1 MHz = 8671000 * 100 Hz = 0x844F18, sent little-endian
    assert data.hex() == "184f84e85684b85e84886684586e8400"
    assert region.decode_cflist(data) == tuple(freqs)
    chans = region.channels_from_cflist(freqs)
    assert [c.index for c in chans] == [3, 4, 5, 6, 7]
    assert all((c.min_dr, c.max_dr) == (0, 5) for c in chans)


def test_cflist_partial_and_errors() -> None:
    region = dynamic("EU868")
    data = region.encode_cflist([867_100_000])
    assert len(data) == 16 and data[15] == 0
    assert region.decode_cflist(data) == (867_100_000, 0, 0, 0, 0)
    gap = region.encode_cflist([867_100_000, 0, 867_500_000])
    assert region.decode_cflist(gap) == (867_100_000, 0, 867_500_000, 0, 0)
    chans = region.channels_from_cflist(region.decode_cflist(gap))
    assert [(c.index, c.frequency_hz) for c in chans] == [(3, 867_100_000), (5, 867_500_000)]
    with pytest.raises(InvalidParameter):
        region.encode_cflist([915_000_000])
    with pytest.raises(InvalidParameter):
        region.encode_cflist([867_100_050])
    with pytest.raises(InvalidParameter):
        region.encode_cflist([867_100_000] * 6)
    with pytest.raises(InvalidParameter):
        region.decode_cflist(data[:15])
    with pytest.raises(InvalidParameter):
        region.decode_cflist(data[:15] + b"\x01")


def test_us915_cflist_channel_masks() -> None:
    region = fixed("US915")
    words = region.cflist_ch_masks(SB2)
    assert words == (0xFF00, 0, 0, 0, 0x0002)
    data = region.encode_cflist(words)
    assert data.hex() == "00ff000000000000020000000000" + "0001"
    assert region.decode_cflist(data) == words
    assert region.enabled_from_cflist_ch_masks(words) == SB2
    with pytest.raises(InvalidParameter):
        region.enabled_from_cflist_ch_masks((0, 0, 0, 0, 0x0100))
    with pytest.raises(InvalidParameter):
        region.encode_cflist((0, 0, 0))
    with pytest.raises(InvalidParameter):
        region.decode_cflist(bytes(16))  # type 0 is not a US915 CFList


@pytest.mark.parametrize("name", list_regions())
def test_cflist_type_matches_plan(name: str) -> None:
    region = get_region(name)
    if isinstance(region, FixedChannelRegion):
        assert (region.cflist_type, region.max_channels) == (1, 72)
    else:
        assert isinstance(region, DynamicChannelRegion)
        assert (region.cflist_type, region.max_channels) == (0, 16)
