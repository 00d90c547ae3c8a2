"""The few regional parameters the simulator needs, as data (LoRaWAN RP002-1.0.3, EU868).

Kept here, small and simulator-shaped, so pure mode does not depend on the full regional
parameter tables; the values agree with services.lorawan.region.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DataRate:
    sf: int
    bw_hz: int


@dataclass(frozen=True, slots=True)
class SubBand:
    """An ETSI sub-band with its duty-cycle limit (fraction of time on air)."""

    name: str
    low_hz: float
    high_hz: float
    duty_cycle: float

    def contains(self, freq_hz: float) -> bool:
        return self.low_hz <= freq_hz < self.high_hz


@dataclass(frozen=True, slots=True)
class SimRegion:
    name: str
    data_rates: tuple[DataRate, ...]
    default_channels_hz: tuple[float, ...]
    sub_bands: tuple[SubBand, ...]
    max_eirp_dbm: float
    tx_power_step_db: float
    max_tx_power_index: int
    rx1_delay_s: float
    join_accept_delay1_s: float
    rx2_freq_hz: float
    rx2_dr: int
    rx1_gateway_power_dbm: float
    rx2_gateway_power_dbm: float

    def dr_of(self, sf: int, bw_hz: int) -> int:
        for i, d in enumerate(self.data_rates):
            if d.sf == sf and d.bw_hz == bw_hz:
                return i
        raise KeyError(f"no data rate with SF{sf}/{bw_hz} Hz in {self.name}")

    def tx_power_dbm(self, tx_power_index: int) -> float:
        return self.max_eirp_dbm - self.tx_power_step_db * tx_power_index

    def tx_power_index_of(self, dbm: float) -> int:
        """Smallest index whose power does not exceed ``dbm`` (clamped to the table)."""
        for i in range(self.max_tx_power_index + 1):
            if self.tx_power_dbm(i) <= dbm + 1e-9:
                return i
        return self.max_tx_power_index

    def sub_band_of(self, freq_hz: float) -> SubBand | None:
        for b in self.sub_bands:
            if b.contains(freq_hz):
                return b
        return None


EU868 = SimRegion(
    name="EU868",
    data_rates=(
        DataRate(12, 125_000),
        DataRate(11, 125_000),
        DataRate(10, 125_000),
        DataRate(9, 125_000),
        DataRate(8, 125_000),
        DataRate(7, 125_000),
        DataRate(7, 250_000),
    ),
    default_channels_hz=(868_100_000.0, 868_300_000.0, 868_500_000.0),
    sub_bands=(
        SubBand("g", 863_000_000.0, 868_000_000.0, 0.01),
        SubBand("g1", 868_000_000.0, 868_600_000.0, 0.01),
        SubBand("g2", 868_700_000.0, 869_200_000.0, 0.001),
        SubBand("g3", 869_400_000.0, 869_650_000.0, 0.10),
        SubBand("g4", 869_700_000.0, 870_000_000.0, 0.01),
    ),
    max_eirp_dbm=16.0,
    tx_power_step_db=2.0,
    max_tx_power_index=7,
    rx1_delay_s=1.0,
    join_accept_delay1_s=5.0,
    rx2_freq_hz=869_525_000.0,
    rx2_dr=0,
    rx1_gateway_power_dbm=14.0,
    rx2_gateway_power_dbm=27.0,
)

REGIONS: dict[str, SimRegion] = {"EU868": EU868}


def get_sim_region(name: str) -> SimRegion:
    try:
        return REGIONS[name.upper()]
    except KeyError:
        raise KeyError(f"unsupported simulator region {name!r}; known: {sorted(REGIONS)}") from None
