"""KR920-923 (RP002-1.0.4 section 2.11)."""

from __future__ import annotations

from .base import (
    CFLIST_TYPE_FREQUENCIES,
    Channel,
    DynamicChannelRegion,
    SubBand,
)
from .tables import lora_125k_ladder, payload_rows_125k, rx1_dr_table

DATA_RATES = lora_125k_ladder()

PAYLOAD_TABLE = payload_rows_125k()

RX1_DR_TABLE = rx1_dr_table(((dr, dr) for dr in range(6)), 6, low=0, high=5)

KR920 = DynamicChannelRegion(
    name="KR920",
    data_rates=DATA_RATES,
    payload_table=PAYLOAD_TABLE,
    rx1_dr_table=RX1_DR_TABLE,
    tx_power_offsets_db=(0, -2, -4, -6, -8, -10, -12, -14),
    max_eirp_dbm=14.0,
    rx2_frequency_hz=921_900_000,
    rx2_dr=0,
    frequency_min_hz=920_900_000,
    frequency_max_hz=923_300_000,
    # Korea requires listen-before-talk rather than a duty cycle.
    sub_bands=(SubBand("KR920", 920_900_000, 923_300_001, 1.0, 14.0),),
    cflist_type=CFLIST_TYPE_FREQUENCIES,
    max_channels=16,
    beacon_frequency_hz=923_100_000,
    beacon_dr=3,
    ping_slot_frequency_hz=923_100_000,
    ping_slot_dr=3,
    aliases=("KR920-923", "KR920923", "KR_920_923"),
    default_channel_table=(
        Channel(0, 922_100_000, 0, 5),
        Channel(1, 922_300_000, 0, 5),
        Channel(2, 922_500_000, 0, 5),
    ),
)
