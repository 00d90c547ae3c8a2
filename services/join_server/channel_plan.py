"""What a JoinAccept tells the device about its radio: RX settings and the CFList (pure).

* RX settings come from the device profile. A value that does not fit the region (an RX2 data
  rate the region cannot send, an RX2 frequency outside its band, an RX1 DR offset it does not
  define) falls back to the join server's settings, then to the region's defaults, so a
  profile left at EU868 values still yields a valid US915 JoinAccept.
* CFList: dynamic-plan regions (EU868, ...) get a type-0 list of the configured extra channel
  frequencies (EU868: 867.1..867.9 MHz); fixed-plan regions (US915, AU915) a type-1 list of
  channel masks enabling the configured sub-bands (default sub-band 2: channels 8-15 and 65).
  Fixed-plan CFLists exist since Regional Parameters 1.0.3 (LoRaWAN 1.0.3); older devices
  ignore them, so none is sent to 1.0.0-1.0.2 devices there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from services.lorawan.errors import InvalidParameter
from services.lorawan.join import CFList
from services.lorawan.region import DynamicChannelRegion, FixedChannelRegion, Region
from services.lorawan.version import MacVersion
from services.storage.domain import DeviceProfile

_NO_FIXED_CFLIST = (MacVersion.V1_0_0, MacVersion.V1_0_1, MacVersion.V1_0_2)


@dataclass(frozen=True, slots=True)
class RxSettings:
    rx1_delay_s: int = 1
    rx1_dr_offset: int = 0
    rx2_dr: int = 0
    rx2_freq_hz: int = 869_525_000


@dataclass(frozen=True, slots=True)
class RxDefaults:
    """Join-server-wide defaults (settings); None: the region's."""

    rx1_delay_s: int = 1
    rx1_dr_offset: int = 0
    rx2_dr: int | None = None
    rx2_freq_hz: int | None = None


def _rx2_fits(region: Region, dr: int | None, freq: int | None) -> bool:
    return (
        dr is not None
        and freq is not None
        and region.frequency_min_hz <= freq <= region.frequency_max_hz
        and dr in region.downlink_data_rates()
    )


def rx_settings(region: Region, profile: DeviceProfile | None, defaults: RxDefaults) -> RxSettings:
    """RX settings of a JoinAccept: profile, else settings defaults, else region defaults."""
    delays = [defaults.rx1_delay_s, 1]
    offsets = [defaults.rx1_dr_offset, 0]
    rx2 = [
        (defaults.rx2_dr, defaults.rx2_freq_hz),
        (region.rx2_dr, region.rx2_frequency_hz),
    ]
    if profile is not None:
        delays.insert(0, profile.rx1_delay)
        offsets.insert(0, profile.rx1_dr_offset)
        rx2.insert(0, (profile.rx2_dr, profile.rx2_freq))
    rx2 = [
        (region.rx2_dr if d is None else d, region.rx2_frequency_hz if f is None else f)
        for d, f in rx2
    ]
    delay = next(d for d in delays if 1 <= d <= 15)
    offset = next(o for o in offsets if o in region.rx1_dr_offsets())
    rx2_dr, rx2_freq = next((d, f) for d, f in rx2 if _rx2_fits(region, d, f))
    assert rx2_dr is not None and rx2_freq is not None
    return RxSettings(delay, offset, rx2_dr, rx2_freq)


def cf_list(
    region: Region,
    mac_version: MacVersion,
    frequencies: Mapping[str, Sequence[int]],
    sub_bands: Sequence[int],
) -> CFList | None:
    """The CFList for a device of ``mac_version`` in ``region`` (None: no CFList)."""
    if isinstance(region, FixedChannelRegion):
        if mac_version in _NO_FIXED_CFLIST:
            return None
        enabled: list[int] = []
        for sb in sub_bands:
            enabled.extend(region.sub_band_channels(sb))
        return CFList.from_bytes(region.encode_cflist(region.cflist_ch_masks(enabled)))
    if isinstance(region, DynamicChannelRegion):
        freqs = list(frequencies.get(region.name, ()))
        if not freqs:
            return None
        if len(freqs) > 5:
            raise InvalidParameter(f"{region.name}: a CFList holds at most 5 frequencies")
        return CFList.from_bytes(region.encode_cflist(freqs))
    return None
