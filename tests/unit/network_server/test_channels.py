"""LinkADRReq channel-mask blocks: applying the block yields exactly the requested channels."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.lorawan.errors import InvalidParameter
from services.lorawan.region import get_region
from services.network_server.core.channels import link_adr_block

EU = get_region("EU868")
US = get_region("US915")


@pytest.mark.parametrize(
    ("region", "channels", "pairs"),
    [
        (EU, [0, 1, 2], [(0x0007, 0)]),
        (EU, [0, 2, 5, 7], [(0x00A5, 0)]),
        (US, list(range(72)), [(0x00FF, 6)]),
        (US, list(range(64)), [(0x0000, 6)]),
        (US, [*range(8), 64], [(0x0001, 7), (0x00FF, 0)]),  # sub-band 1
        (US, [*range(8, 16), 65], [(0x0002, 7), (0xFF00, 0)]),  # sub-band 2
        (US, [0, 17, 40, 63], [(0x0000, 7), (0x0001, 0), (0x0002, 1), (0x0100, 2), (0x8000, 3)]),
    ],
)
def test_blocks(region, channels, pairs) -> None:  # type: ignore[no-untyped-def]
    block = link_adr_block(region, channels, dr=3, tx_power_index=1, nb_trans=2)
    assert [(c.ch_mask, c.ch_mask_cntl) for c in block] == pairs
    assert all((c.data_rate, c.tx_power, c.nb_trans) == (3, 1, 2) for c in block)
    start = [c.index for c in region.default_channels()]
    masks = [(c.ch_mask, c.ch_mask_cntl) for c in block]
    defined = range(16) if region is EU else None  # CFList / NewChannelReq channels
    assert region.apply_link_adr_block(start, masks, defined) == frozenset(channels)


@settings(max_examples=200, deadline=None)
@given(st.sets(st.integers(0, 71), min_size=1))
def test_us915_any_channel_set_round_trips(channels: set[int]) -> None:
    block = link_adr_block(US, channels, 2, 0)
    masks = [(c.ch_mask, c.ch_mask_cntl) for c in block]
    assert US.apply_link_adr_block(range(72), masks) == frozenset(channels)


@pytest.mark.parametrize(("region", "channels"), [(EU, []), (EU, [16]), (US, [72])])
def test_invalid_channel_sets(region, channels) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidParameter):
        link_adr_block(region, channels, 0, 0)
