"""IN865-867 (RP002-1.0.4 section 2.12)."""

from __future__ import annotations

from .base import (
    CFLIST_TYPE_FREQUENCIES,
    Channel,
    DynamicChannelRegion,
    PayloadRow,
    SubBand,
    fsk,
)
from .tables import lora_125k_ladder, payload_rows_125k, rx1_dr_table

DATA_RATES = (*lora_125k_ladder(), fsk(7, 50_000, 250))

PAYLOAD_TABLE = (*payload_rows_125k(), PayloadRow(7, 250, 230))

# uplink DR -> RX1 DR for RX1DROffset 0..7 (6 and 7 raise the downlink DR by 1 and 2).
# DR6 is RFU in IN865, so the DR7 row steps from DR7 straight to DR5.
RX1_DR_TABLE = {
    **rx1_dr_table(((dr, dr) for dr in range(6)), 8, low=0, high=5),
    7: (7, 5, 5, 4, 3, 2, 7, 7),
}

IN865 = DynamicChannelRegion(
    name="IN865",
    data_rates=DATA_RATES,
    payload_table=PAYLOAD_TABLE,
    rx1_dr_table=RX1_DR_TABLE,
    tx_power_offsets_db=tuple(-2 * i for i in range(11)),
    max_eirp_dbm=30.0,
    rx2_frequency_hz=866_550_000,
    rx2_dr=2,
    frequency_min_hz=865_000_000,
    frequency_max_hz=867_000_000,
    sub_bands=(SubBand("IN865", 865_000_000, 867_000_001, 1.0, 30.0),),
    cflist_type=CFLIST_TYPE_FREQUENCIES,
    max_channels=16,
    beacon_frequency_hz=866_550_000,
    beacon_dr=4,
    ping_slot_frequency_hz=866_550_000,
    ping_slot_dr=4,
    aliases=("IN865-867", "IN865867", "IN_865_867"),
    default_channel_table=(
        Channel(0, 865_062_500, 0, 5),
        Channel(1, 865_402_500, 0, 5),
        Channel(2, 865_985_000, 0, 5),
    ),
)
