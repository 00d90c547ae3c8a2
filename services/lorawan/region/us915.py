"""US902-928 (RP002-1.0.4 section 2.5): 64 + 8 uplink channels, 8 downlink channels."""

from __future__ import annotations

from .base import (
    CFLIST_TYPE_CHANNEL_MASK,
    FixedChannelRegion,
    PayloadRow,
    SubBand,
    lora,
)
from .tables import lora_500k_downlink, payload_rows_500k_downlink, rx1_dr_table

DATA_RATES = (
    lora(0, 10, 125_000, 19, down=False),
    lora(1, 9, 125_000, 61, down=False),
    lora(2, 8, 125_000, 133, down=False),
    lora(3, 7, 125_000, 250, down=False),
    lora(4, 8, 500_000, 250, down=False),
    *lora_500k_downlink(),
)

PAYLOAD_TABLE = (
    PayloadRow(0, 19, 19),
    PayloadRow(1, 61, 61),
    PayloadRow(2, 133, 133),
    PayloadRow(3, 250, 230),
    PayloadRow(4, 250, 230),
    *payload_rows_500k_downlink(),
)

# uplink DR -> RX1 DR for RX1DROffset 0..3
RX1_DR_TABLE = rx1_dr_table(((dr, dr + 10) for dr in range(5)), 4, low=8, high=13)

US915 = FixedChannelRegion(
    name="US915",
    data_rates=DATA_RATES,
    payload_table=PAYLOAD_TABLE,
    rx1_dr_table=RX1_DR_TABLE,
    tx_power_offsets_db=tuple(-2 * i for i in range(15)),
    max_eirp_dbm=30.0,
    rx2_frequency_hz=923_300_000,
    rx2_dr=8,
    frequency_min_hz=902_000_000,
    frequency_max_hz=928_000_000,
    sub_bands=(SubBand("ISM 902-928", 902_000_000, 928_000_001, 1.0, 30.0),),
    cflist_type=CFLIST_TYPE_CHANNEL_MASK,
    max_channels=72,
    # Class B beacons and ping slots hop over the 8 downlink channels; these are channel 0.
    beacon_frequency_hz=923_300_000,
    beacon_dr=8,
    ping_slot_frequency_hz=923_300_000,
    ping_slot_dr=8,
    uplink_dwell_time_default=True,
    aliases=("US902-928", "US902928", "US_902_928"),
    uplink_125_base_hz=902_300_000,
    uplink_125_min_dr=0,
    uplink_125_max_dr=3,
    uplink_500_base_hz=903_000_000,
    uplink_500_dr=4,
)
