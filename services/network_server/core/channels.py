"""LinkADRReq blocks: the ChMask/ChMaskCntl pairs that enable exactly a set of channels.

* dynamic plans (EU868-like): one command, ChMaskCntl 0, bit i = channel i (0..15);
* fixed plans (US915, AU915): all 64 125 kHz channels on -> ChMaskCntl 6 with the 500 kHz
  channels in the mask; otherwise ChMaskCntl 7 (every 125 kHz channel off, 500 kHz mask) then
  one ChMaskCntl 0..3 command per bank of 16 channels that has an enabled one.

The DataRate, TXPower and NbTrans fields are the same in every command of a block (the device
applies the values of the last one).
"""

from __future__ import annotations

from collections.abc import Iterable

from services.lorawan.errors import InvalidParameter
from services.lorawan.maccommand import LinkADRReq
from services.lorawan.region import FixedChannelRegion, Region

KEEP = 15  # DataRate / TXPower value meaning "keep the current one" (1.0.4, 1.1)


def link_adr_block(
    region: Region,
    channels: Iterable[int],
    dr: int,
    tx_power_index: int,
    nb_trans: int = 1,
) -> list[LinkADRReq]:
    """The LinkADRReq commands that set ``dr``, ``tx_power_index``, ``nb_trans`` and enable
    exactly ``channels`` (indices in the region's channel plan)."""
    wanted = sorted(set(channels))
    if not wanted:
        raise InvalidParameter("LinkADRReq: at least one channel must stay enabled")
    if not 0 <= nb_trans <= 15:
        raise InvalidParameter(f"LinkADRReq: nb_trans {nb_trans} outside 0..15")

    def req(mask: int, cntl: int) -> LinkADRReq:
        return LinkADRReq(
            data_rate=dr,
            tx_power=tx_power_index,
            ch_mask=mask,
            ch_mask_cntl=cntl,
            nb_trans=nb_trans,
        )

    if isinstance(region, FixedChannelRegion):
        n125, n500 = region.NUM_125, region.NUM_500
        if wanted[-1] >= n125 + n500 or wanted[0] < 0:
            raise InvalidParameter(f"{region.name}: channel index outside 0..{n125 + n500 - 1}")
        mask_500 = 0
        for ch in wanted:
            if ch >= n125:
                mask_500 |= 1 << (ch - n125)
        low = [ch for ch in wanted if ch < n125]
        if len(low) == n125:
            return [req(mask_500, 6)]
        block = [req(mask_500, 7)]
        for bank in range(n125 // 16):
            mask = 0
            for ch in low:
                if bank * 16 <= ch < bank * 16 + 16:
                    mask |= 1 << (ch - bank * 16)
            if mask:
                block.append(req(mask, bank))
        return block
    if wanted[-1] > 15 or wanted[0] < 0:
        raise InvalidParameter(f"{region.name}: channel index outside 0..15 for ChMaskCntl 0")
    return [req(LinkADRReq.ch_mask_from_channels(wanted), 0)]


def default_enabled_channels(region: Region) -> list[int]:
    """The channels a device has enabled right after activation (no CFList)."""
    return [c.index for c in region.default_channels()]
