"""AS923 (RP002-1.0.4 section 2.8) and its frequency-offset variants AS923-2/-3/-4."""

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

DATA_RATES = (*lora_125k_ladder(), lora(6, 7, 250_000, 250), fsk(7, 50_000, 250))

# dr, M, M repeater, M with DwellTime=1 (400 ms), M with dwell time and repeater
PAYLOAD_TABLE = (
    *payload_rows_125k(dwell=True),
    PayloadRow(6, 250, 230, 250, 230),
    PayloadRow(7, 250, 230, 250, 230),
)

# RX1 DR = MIN(7, MAX(MinDR, uplink DR - effective offset)); offsets 6 and 7 mean +1 and +2;
# MinDR is 0 without and 2 with the downlink dwell-time limit.
RX1_DR_TABLE = rx1_dr_table(((dr, dr) for dr in range(8)), 8, low=0, high=7)
RX1_DR_TABLE_DWELL = rx1_dr_table(((dr, dr) for dr in range(8)), 8, low=2, high=7)

# AS923_FREQ_OFFSET per variant, in Hz (AS923-1 has none).
FREQ_OFFSETS_HZ = {
    "AS923": 0,
    "AS923-2": -1_800_000,
    "AS923-3": -6_600_000,
    "AS923-4": -5_900_000,
}


def _as923(name: str, aliases: tuple[str, ...]) -> DynamicChannelRegion:
    off = FREQ_OFFSETS_HZ[name]
    return DynamicChannelRegion(
        name=name,
        data_rates=DATA_RATES,
        payload_table=PAYLOAD_TABLE,
        rx1_dr_table=RX1_DR_TABLE,
        rx1_dr_table_dwell=RX1_DR_TABLE_DWELL,
        tx_power_offsets_db=(0, -2, -4, -6, -8, -10, -12, -14),
        max_eirp_dbm=16.0,
        rx2_frequency_hz=923_200_000 + off,
        rx2_dr=2,
        frequency_min_hz=915_000_000,
        frequency_max_hz=928_000_000,
        # Duty cycle, LBT and dwell time follow each country's rules; none enforced here.
        sub_bands=(SubBand("AS923", 915_000_000, 928_000_001, 1.0, 16.0),),
        cflist_type=CFLIST_TYPE_FREQUENCIES,
        max_channels=16,
        beacon_frequency_hz=923_400_000 + off,
        beacon_dr=3,
        ping_slot_frequency_hz=923_400_000 + off,
        ping_slot_dr=3,
        uplink_dwell_time_default=True,
        aliases=aliases,
        default_channel_table=(
            Channel(0, 923_200_000 + off, 0, 5),
            Channel(1, 923_400_000 + off, 0, 5),
        ),
    )


AS923 = _as923("AS923", ("AS923-1", "AS923_1", "AS923-925"))
AS923_2 = _as923("AS923-2", ("AS923_2",))
AS923_3 = _as923("AS923-3", ("AS923_3",))
AS923_4 = _as923("AS923-4", ("AS923_4",))
