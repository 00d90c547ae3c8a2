"""KR920-923 (RP002-1.0.4 section 2.11)."""

from __future__ import annotations

from .base import (
    CFLIST_TYPE_FREQUENCIES,
    Channel,
    DynamicChannelRegion,
    PayloadRow,
    SubBand,
    lora,
)

DATA_RATES = (
    lora(0, 12, 125_000, 59),
    lora(1, 11, 125_000, 59),
    lora(2, 10, 125_000, 59),
    lora(3, 9, 125_000, 123),
    lora(4, 8, 125_000, 250),
    lora(5, 7, 125_000, 250),
)

PAYLOAD_TABLE = (
    PayloadRow(0, 59, 59),
    PayloadRow(1, 59, 59),
    PayloadRow(2, 59, 59),
    PayloadRow(3, 123, 123),
    PayloadRow(4, 250, 230),
    PayloadRow(5, 250, 230),
)

RX1_DR_TABLE = {
    0: (0, 0, 0, 0, 0, 0),
    1: (1, 0, 0, 0, 0, 0),
    2: (2, 1, 0, 0, 0, 0),
    3: (3, 2, 1, 0, 0, 0),
    4: (4, 3, 2, 1, 0, 0),
    5: (5, 4, 3, 2, 1, 0),
}

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
