"""Device energy model: radio current by TX power, times voltage and time.

TX supply current against output power follows the typical figures of the Semtech SX1276
datasheet (RFO below +14 dBm, PA_BOOST above), linearly interpolated; receive current is the
datasheet's typical LoRa RX current. Sleep and MCU consumption are left out.
"""

from __future__ import annotations

from bisect import bisect_left

#: (output power dBm, supply current mA), increasing power.
TX_CURRENT_MA: tuple[tuple[float, float], ...] = (
    (0.0, 17.0),
    (7.0, 20.0),
    (13.0, 29.0),
    (14.0, 44.0),
    (17.0, 87.0),
    (20.0, 120.0),
)
RX_CURRENT_MA = 11.5


def tx_current_ma(tx_power_dbm: float) -> float:
    """Supply current while transmitting at ``tx_power_dbm`` (clamped to the table)."""
    powers = [p for p, _ in TX_CURRENT_MA]
    if tx_power_dbm <= powers[0]:
        return TX_CURRENT_MA[0][1]
    if tx_power_dbm >= powers[-1]:
        return TX_CURRENT_MA[-1][1]
    i = bisect_left(powers, tx_power_dbm)
    p0, c0 = TX_CURRENT_MA[i - 1]
    p1, c1 = TX_CURRENT_MA[i]
    return c0 + (c1 - c0) * (tx_power_dbm - p0) / (p1 - p0)


def tx_energy_j(tx_power_dbm: float, seconds: float, voltage_v: float = 3.3) -> float:
    """Energy of one transmission in joules."""
    return tx_current_ma(tx_power_dbm) * 1e-3 * voltage_v * seconds


def rx_energy_j(seconds: float, voltage_v: float = 3.3) -> float:
    """Energy of listening for ``seconds`` in joules."""
    return RX_CURRENT_MA * 1e-3 * voltage_v * seconds
