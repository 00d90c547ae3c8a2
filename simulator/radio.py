"""Pure radio functions of the simulator: path loss, sensitivity, SNR, interference rules.

Everything here is a plain function of numbers (no state, no RNG apart from an injected one),
so the physics can be tested case by case.

Sources of the constants:
- log-distance path loss with d0 = 40 m, PL(d0) = 127.41 dB, gamma = 2.08: Bor et al.,
  "Do LoRa Low-Power Wide-Area Networks Scale?", MSWiM 2016 (fitted to measurements);
- receiver sensitivity per SF and bandwidth: same paper, Table 3 (measured on SX1272);
- demodulator SNR floors: Semtech SX1276 datasheet, Table 13;
- inter-SF isolation (SIR thresholds, desired SF in rows, interferer SF in columns):
  Croce, Gucciardo, Mangione, Santaromita, Tinnirello, "Impact of LoRa Imperfect
  Orthogonality: Analysis of Link-Level Performance", IEEE Communications Letters 22(4), 2018.
"""

from __future__ import annotations

import math
import random

from services.lorawan.airtime import symbol_time

# --- path loss -------------------------------------------------------------------------------

LORASIM_D0_M = 40.0
LORASIM_PL_D0_DB = 127.41
LORASIM_GAMMA = 2.08


def path_loss_db(
    distance_m: float,
    d0_m: float = LORASIM_D0_M,
    pl_d0_db: float = LORASIM_PL_D0_DB,
    gamma: float = LORASIM_GAMMA,
) -> float:
    """Mean log-distance path loss: PL(d) = PL(d0) + 10 * gamma * log10(d / d0).

    Distances below 1 m are clamped to 1 m (a device on top of a gateway).
    """
    d = max(distance_m, 1.0)
    return pl_d0_db + 10.0 * gamma * math.log10(d / d0_m)


def shadowing_db(rng: random.Random, sigma_db: float) -> float:
    """One log-normal shadowing draw (a zero-mean normal in dB); 0 when sigma is 0."""
    if sigma_db <= 0.0:
        return 0.0
    return rng.gauss(0.0, sigma_db)


def max_distance_m(
    link_budget_db: float,
    d0_m: float = LORASIM_D0_M,
    pl_d0_db: float = LORASIM_PL_D0_DB,
    gamma: float = LORASIM_GAMMA,
) -> float:
    """Distance at which the mean path loss equals ``link_budget_db`` (inverse of path_loss_db)."""
    return float(d0_m * 10.0 ** ((link_budget_db - pl_d0_db) / (10.0 * gamma)))


def rssi_dbm(tx_power_dbm: float, path_loss: float, antenna_gain_db: float = 0.0) -> float:
    """Received power in dBm."""
    return tx_power_dbm + antenna_gain_db - path_loss


# --- receiver --------------------------------------------------------------------------------

#: Receiver sensitivity in dBm, per SF, for 125 / 250 / 500 kHz (Bor et al. 2016, Table 3).
SENSITIVITY_DBM: dict[int, dict[int, float]] = {
    7: {125_000: -126.5, 250_000: -124.25, 500_000: -120.75},
    8: {125_000: -127.25, 250_000: -126.75, 500_000: -124.0},
    9: {125_000: -131.25, 250_000: -128.25, 500_000: -127.5},
    10: {125_000: -132.75, 250_000: -130.25, 500_000: -128.75},
    11: {125_000: -134.5, 250_000: -132.75, 500_000: -128.75},
    12: {125_000: -133.25, 250_000: -132.25, 500_000: -132.25},
}

#: Lowest SNR (dB) at which each SF still demodulates (SX1276 datasheet).
SNR_THRESHOLD_DB: dict[int, float] = {
    7: -7.5,
    8: -10.0,
    9: -12.5,
    10: -15.0,
    11: -17.5,
    12: -20.0,
}

THERMAL_NOISE_DBM_HZ = -174.0


def sensitivity_dbm(sf: int, bw_hz: int = 125_000) -> float:
    """Receiver sensitivity for ``sf`` at ``bw_hz`` (KeyError for an unknown pair)."""
    return SENSITIVITY_DBM[sf][bw_hz]


def snr_sensitivity_dbm(sf: int, bw_hz: int = 125_000, noise_figure_db: float = 6.0) -> float:
    """Sensitivity from the noise floor and the SF's demodulation SNR floor."""
    return noise_floor_dbm(bw_hz, noise_figure_db) + SNR_THRESHOLD_DB[sf]


def noise_floor_dbm(bw_hz: int = 125_000, noise_figure_db: float = 6.0) -> float:
    """Thermal noise power in the channel: -174 dBm/Hz + 10 log10(BW) + NF."""
    return THERMAL_NOISE_DBM_HZ + 10.0 * math.log10(bw_hz) + noise_figure_db


def snr_db(rssi: float, bw_hz: int = 125_000, noise_figure_db: float = 6.0) -> float:
    """Signal-to-noise ratio of a frame received at ``rssi`` dBm."""
    return rssi - noise_floor_dbm(bw_hz, noise_figure_db)


def above_sensitivity(rssi: float, sf: int, bw_hz: int = 125_000) -> bool:
    """True when a frame at ``rssi`` can be demodulated without interference."""
    return rssi >= sensitivity_dbm(sf, bw_hz)


# --- interference ----------------------------------------------------------------------------


def frequency_overlap(f1_hz: float, bw1_hz: int, f2_hz: float, bw2_hz: int) -> bool:
    """True when two LoRa signals share spectrum: their centre distance is below half the
    sum of their bandwidths."""
    return abs(f1_hz - f2_hz) < (bw1_hz + bw2_hz) / 2.0


def time_overlap(start1: float, end1: float, start2: float, end2: float) -> bool:
    """True when [start1, end1) and [start2, end2) intersect."""
    return start1 < end2 and start2 < end1


def preamble_grace_s(
    sf: int, bw_hz: int = 125_000, preamble_symbols: int = 8, lock_symbols: int = 5
) -> float:
    """Length of the start of a frame that an interferer may overlap without harm.

    The receiver locks on the last ``lock_symbols`` preamble symbols; the first
    ``preamble_symbols - lock_symbols`` may be lost (LoRaSim: all but the last 5 symbols of an
    8-symbol preamble, i.e. 3 symbols).
    """
    return max(preamble_symbols - lock_symbols, 0) * symbol_time(sf, bw_hz)


def saved_by_preamble(later_start: float, earlier_end: float, grace_s: float) -> bool:
    """Preamble-overlap rule: the pair does not collide when the earlier frame ends inside the
    grace period at the start of the later frame."""
    return earlier_end <= later_start + grace_s


def captured(rssi_wanted: float, rssi_interferer: float, threshold_db: float | None) -> bool:
    """Capture effect between two same-SF frames: the wanted frame survives when it is at least
    ``threshold_db`` stronger. ``None`` disables capture (every overlap destroys both)."""
    if threshold_db is None:
        return False
    return rssi_wanted - rssi_interferer >= threshold_db


#: SIR thresholds in dB (Croce et al. 2018): row = wanted SF 7..12, column = interferer SF 7..12.
CROCE_SIR_THRESHOLD_DB: tuple[tuple[float, ...], ...] = (
    (1.0, -8.0, -9.0, -9.0, -9.0, -9.0),
    (-11.0, 1.0, -11.0, -12.0, -13.0, -13.0),
    (-15.0, -13.0, 1.0, -13.0, -14.0, -15.0),
    (-19.0, -18.0, -17.0, 1.0, -17.0, -18.0),
    (-22.0, -22.0, -21.0, -20.0, 1.0, -20.0),
    (-25.0, -25.0, -25.0, -24.0, -23.0, 1.0),
)


def sir_threshold_db(sf_wanted: int, sf_interferer: int) -> float:
    """Minimum signal-to-interference ratio for ``sf_wanted`` to survive ``sf_interferer``."""
    return CROCE_SIR_THRESHOLD_DB[sf_wanted - 7][sf_interferer - 7]


def survives_inter_sf(
    rssi_wanted: float, sf_wanted: int, rssi_interferer: float, sf_interferer: int
) -> bool:
    """Imperfect orthogonality: a frame survives an interferer on another SF when its SIR is
    at least the Croce et al. threshold."""
    return rssi_wanted - rssi_interferer >= sir_threshold_db(sf_wanted, sf_interferer)
