"""The ``rxpk`` a simulated gateway reports for one received frame (pure).

Built with the gateway bridge's own codec (services.gateway_bridge.semtech), so the simulator
speaks exactly the protocol the server reads: ``tmst`` from simulated time, ``freq`` in MHz,
``datr`` ``SF<sf>BW<kHz>``, ``codr`` ``4/<4+cr>``, integer ``rssi``, ``lsnr`` in dB.
"""

from __future__ import annotations

from datetime import UTC, datetime

from services.gateway_bridge.semtech import CrcStatus, LoRaDataRate, Modulation, RxPk

#: a gateway reports an SNR no better than this (SX1301 saturates around +10..+13 dB)
MAX_LSNR_DB = 13.5


def datr_of(sf: int, bw_hz: int) -> str:
    return str(LoRaDataRate(sf, bw_hz // 1000))


def parse_datr(datr: str | int | None) -> tuple[int, int] | None:
    """(sf, bw_hz) of a LoRa ``datr``; None for FSK or absent."""
    if not isinstance(datr, str):
        return None
    d = LoRaDataRate.parse(datr)
    return d.spreading_factor, d.bandwidth_hz


def codr_of(cr: int) -> str:
    """Coding-rate index (1 = 4/5 ... 4 = 4/8) as the forwarder writes it."""
    return f"4/{4 + cr}"


def build_rxpk(
    phy_payload: bytes,
    *,
    tmst: int,
    freq_hz: float,
    sf: int,
    bw_hz: int,
    cr: int,
    rssi_dbm: float,
    snr_db: float,
    chan: int,
    wall_time: datetime | None = None,
) -> RxPk:
    return RxPk(
        data=phy_payload,
        tmst=tmst,
        time=(wall_time or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        freq=round(freq_hz / 1e6, 6),
        chan=chan,
        rfch=0,
        stat=CrcStatus.OK,
        modu=Modulation.LORA,
        datr=datr_of(sf, bw_hz),
        codr=codr_of(cr),
        rssi=round(rssi_dbm),
        lsnr=round(min(snr_db, MAX_LSNR_DB), 1),
    )
