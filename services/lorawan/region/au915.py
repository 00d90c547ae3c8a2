"""AU915-928 (RP002-1.0.4 section 2.7): US-like fixed plan, with an uplink dwell-time table."""

from __future__ import annotations

from .base import (
    CFLIST_TYPE_CHANNEL_MASK,
    FixedChannelRegion,
    PayloadRow,
    SubBand,
    lora,
)
from .tables import (
    lora_125k_ladder,
    lora_500k_downlink,
    payload_rows_125k,
    payload_rows_500k_downlink,
    rx1_dr_table,
)

DATA_RATES = (
    *lora_125k_ladder(down=False),
    lora(6, 8, 500_000, 250, down=False),
    *lora_500k_downlink(),
)

# dr, M, M repeater, M with UplinkDwellTime=1, M with dwell time and repeater
PAYLOAD_TABLE = (
    *payload_rows_125k(dwell=True),
    PayloadRow(6, 250, 230, 250, 230),
    *payload_rows_500k_downlink(dwell_columns=True),
)

# uplink DR -> RX1 DR for RX1DROffset 0..5
RX1_DR_TABLE = rx1_dr_table(((dr, dr + 8) for dr in range(7)), 6, low=8, high=13)

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
