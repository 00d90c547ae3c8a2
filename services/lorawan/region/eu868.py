"""EU863-870 (RP002-1.0.4 section 2.1) with the ETSI EN 300 220 duty-cycle sub-bands."""

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
from .tables import lora_125k_ladder, payload_rows_125k, rx1_dr_table

MHZ = 1_000_000

DATA_RATES = (*lora_125k_ladder(), lora(6, 7, 250_000, 250), fsk(7, 50_000, 250))

# dr, M, M repeater-compatible
PAYLOAD_TABLE = (*payload_rows_125k(), PayloadRow(6, 250, 230), PayloadRow(7, 250, 230))

# uplink DR -> RX1 DR for RX1DROffset 0..5
RX1_DR_TABLE = rx1_dr_table(((dr, dr) for dr in range(8)), 6, low=0, high=7)

# ETSI EN 300 220-2 V3.2.1 bands used by LoRaWAN (ERP limits in dBm); 868+ MHz bands keep the
# ERC REC 70-03 names g..g3 LoRaWAN tools use. 869.2-869.4 and 869.65-869.7 are not SRD
# bands for LoRaWAN and belong to no sub-band.
SUB_BANDS = (
    SubBand("863-865", 863_000_000, 865_000_000, 0.001, 14.0),
    SubBand("865-868", 865_000_000, 868_000_000, 0.01, 14.0),
    SubBand("g", 868_000_000, 868_600_000, 0.01, 14.0),
    SubBand("g1", 868_700_000, 869_200_000, 0.001, 14.0),
    SubBand("g2", 869_400_000, 869_650_000, 0.1, 27.0),
    SubBand("g3", 869_700_000, 870_000_001, 0.01, 14.0),
)

EU868 = DynamicChannelRegion(
    name="EU868",
    data_rates=DATA_RATES,
    payload_table=PAYLOAD_TABLE,
    rx1_dr_table=RX1_DR_TABLE,
    tx_power_offsets_db=(0, -2, -4, -6, -8, -10, -12, -14),
    max_eirp_dbm=16.0,
    rx2_frequency_hz=869_525_000,
    rx2_dr=0,
    frequency_min_hz=863 * MHZ,
    frequency_max_hz=870 * MHZ,
    sub_bands=SUB_BANDS,
    cflist_type=CFLIST_TYPE_FREQUENCIES,
    max_channels=16,
    beacon_frequency_hz=869_525_000,
    beacon_dr=3,
    ping_slot_frequency_hz=869_525_000,
    ping_slot_dr=3,
    aliases=("EU863-870", "EU863870", "EU_863_870"),
    default_channel_table=(
        Channel(0, 868_100_000, 0, 5),
        Channel(1, 868_300_000, 0, 5),
        Channel(2, 868_500_000, 0, 5),
    ),
)
