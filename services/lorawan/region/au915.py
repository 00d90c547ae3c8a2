"""AU915-928 (RP002-1.0.4 section 2.7): US-like fixed plan, with an uplink dwell-time table."""

from __future__ import annotations

from .base import (
    CFLIST_TYPE_CHANNEL_MASK,
    FixedChannelRegion,
    PayloadRow,
    SubBand,
    lora,
)

DATA_RATES = (
    lora(0, 12, 125_000, 59, down=False),
    lora(1, 11, 125_000, 59, down=False),
    lora(2, 10, 125_000, 59, down=False),
    lora(3, 9, 125_000, 123, down=False),
    lora(4, 8, 125_000, 250, down=False),
    lora(5, 7, 125_000, 250, down=False),
    lora(6, 8, 500_000, 250, down=False),
    lora(8, 12, 500_000, 61, up=False),
    lora(9, 11, 500_000, 137, up=False),
    lora(10, 10, 500_000, 250, up=False),
    lora(11, 9, 500_000, 250, up=False),
    lora(12, 8, 500_000, 250, up=False),
    lora(13, 7, 500_000, 250, up=False),
)

# dr, M, M repeater, M with UplinkDwellTime=1, M with dwell time and repeater
PAYLOAD_TABLE = (
    PayloadRow(0, 59, 59, None, None),
    PayloadRow(1, 59, 59, None, None),
    PayloadRow(2, 59, 59, 19, 19),
    PayloadRow(3, 123, 123, 61, 61),
    PayloadRow(4, 250, 230, 133, 133),
    PayloadRow(5, 250, 230, 250, 230),
    PayloadRow(6, 250, 230, 250, 230),
    PayloadRow(8, 61, 41, 61, 41),
    PayloadRow(9, 137, 117, 137, 117),
    PayloadRow(10, 250, 230, 250, 230),
    PayloadRow(11, 250, 230, 250, 230),
    PayloadRow(12, 250, 230, 250, 230),
    PayloadRow(13, 250, 230, 250, 230),
)

# uplink DR -> RX1 DR for RX1DROffset 0..5
RX1_DR_TABLE = {
    0: (8, 8, 8, 8, 8, 8),
    1: (9, 8, 8, 8, 8, 8),
    2: (10, 9, 8, 8, 8, 8),
    3: (11, 10, 9, 8, 8, 8),
    4: (12, 11, 10, 9, 8, 8),
    5: (13, 12, 11, 10, 9, 8),
    6: (13, 13, 12, 11, 10, 9),
}

AU915 = FixedChannelRegion(
    name="AU915",
    data_rates=DATA_RATES,
    payload_table=PAYLOAD_TABLE,
    rx1_dr_table=RX1_DR_TABLE,
    tx_power_offsets_db=tuple(-2 * i for i in range(15)),
    max_eirp_dbm=30.0,
    rx2_frequency_hz=923_300_000,
    rx2_dr=8,
    frequency_min_hz=915_000_000,
    frequency_max_hz=928_000_000,
    sub_bands=(SubBand("ISM 915-928", 915_000_000, 928_000_001, 1.0, 30.0),),
    cflist_type=CFLIST_TYPE_CHANNEL_MASK,
    max_channels=72,
    beacon_frequency_hz=923_300_000,
    beacon_dr=8,
    ping_slot_frequency_hz=923_300_000,
    ping_slot_dr=8,
    aliases=("AU915-928", "AU915928", "AU_915_928"),
    uplink_125_base_hz=915_200_000,
    uplink_125_min_dr=0,
    uplink_125_max_dr=5,
    uplink_500_base_hz=915_900_000,
    uplink_500_dr=6,
)
