"""IN865-867 (RP002-1.0.4 section 2.12)."""

from __future__ import annotations

from .base import (
    CFLIST_TYPE_FREQUENCIES,
    Channel,
    DynamicChannelRegion,
    PayloadRow,
    SubBand,
    fsk,
    lora,
)

DATA_RATES = (
    lora(0, 12, 125_000, 59),
    lora(1, 11, 125_000, 59),
    lora(2, 10, 125_000, 59),
    lora(3, 9, 125_000, 123),
    lora(4, 8, 125_000, 250),
    lora(5, 7, 125_000, 250),
    fsk(7, 50_000, 250),
)

PAYLOAD_TABLE = (
    PayloadRow(0, 59, 59),
    PayloadRow(1, 59, 59),
    PayloadRow(2, 59, 59),
    PayloadRow(3, 123, 123),
    PayloadRow(4, 250, 230),
    PayloadRow(5, 250, 230),
    PayloadRow(7, 250, 230),
)

# uplink DR -> RX1 DR for RX1DROffset 0..7 (6 and 7 raise the downlink DR by 1 and 2).
# DR6 is RFU in IN865, so the DR7 row steps from DR7 straight to DR5.
RX1_DR_TABLE = {
    0: (0, 0, 0, 0, 0, 0, 1, 2),
    1: (1, 0, 0, 0, 0, 0, 2, 3),
    2: (2, 1, 0, 0, 0, 0, 3, 4),
    3: (3, 2, 1, 0, 0, 0, 4, 5),
    4: (4, 3, 2, 1, 0, 0, 5, 5),
    5: (5, 4, 3, 2, 1, 0, 5, 5),
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
