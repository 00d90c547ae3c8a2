"""Pure translation between Semtech packets and bus messages.

No I/O, no clock, no randomness: the adapter (services.gateway_bridge.server) passes the
reception time, the identifiers and the zone in.

* ``drop_reason(rxpk)`` — why an rxpk is not forwarded (CRC failed / absent), or None;
* ``rxpk_to_uplink(...)`` — rxpk -> GatewayUplink (gw.up) with the radio metadata;
* ``stat_to_stats(...)`` — stat -> GatewayStats (gw.stats);
* ``downlink_to_txpk(...)`` — GatewayDownlink (gw.down) -> txpk;
* ``tx_ack_to_message(...)`` — TX_ACK -> GatewayTxAck (gw.tx_ack).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import ValidationError

from services.bus.messages import (
    GatewayDownlink,
    GatewayStats,
    GatewayTxAck,
    GatewayUplink,
    RxMetadata,
)
from services.lorawan.errors import MalformedPacket
from services.lorawan.types import EUI64

from .errors import InvalidDownlink, TranslationError, UnsupportedUplink
from .semtech import CrcStatus, LoRaDataRate, Modulation, RSig, RxPk, Stat, TxAck, TxPk

MHZ = 1_000_000


class DropReason(StrEnum):
    CRC_FAIL = "crc_fail"
    NO_CRC = "no_crc"
    CRC_MISSING = "crc_missing"


def drop_reason(rxpk: RxPk) -> DropReason | None:
    """Only frames whose PHY CRC was checked and found good go on to the network server."""
    if rxpk.stat is CrcStatus.OK:
        return None
    if rxpk.stat is CrcStatus.FAIL:
        return DropReason.CRC_FAIL
    if rxpk.stat is CrcStatus.NO_CRC:
        return DropReason.NO_CRC
    return DropReason.CRC_MISSING


def parse_rx_time(text: str | None) -> datetime | None:
    """rxpk ``time`` (ISO 8601 compact, UTC, us or ns precision) as aware UTC, else None."""
    if not text:
        return None
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    if "." in value:  # Python reads at most 6 fraction digits; forwarders may send 9
        head, _, rest = value.partition(".")
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        value = f"{head}.{(digits + '000000')[:6]}{rest}"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_stat_time(text: str | None) -> datetime | None:
    """stat ``time``: "2014-01-12 08:59:28 GMT" (packet_forwarder) or ISO 8601."""
    if not text:
        return None
    value = text.strip()
    if value.endswith((" GMT", " UTC")):
        try:
            naive = datetime.strptime(value[:-4], "%Y-%m-%d %H:%M:%S")
        except ValueError:
            return None
        return naive.replace(tzinfo=UTC)
    return parse_rx_time(value)


def best_signal(rsig: tuple[RSig, ...]) -> RSig | None:
    """The antenna with the best SNR (then RSSI) among those that report a signal."""
    usable = [r for r in rsig if r.rssic is not None or r.rssis is not None]
    if not usable:
        return None

    def rank(r: RSig) -> tuple[float, float]:
        snr = r.lsnr if r.lsnr is not None else float("-inf")
        rssi = r.rssic if r.rssic is not None else (r.rssis if r.rssis is not None else -1e9)
        return snr, float(rssi)

    return max(usable, key=rank)


def rxpk_to_uplink(
    rxpk: RxPk,
    gw_eui: EUI64,
    received_at: datetime,
    uplink_id: str,
    zone: str | None = None,
) -> GatewayUplink:
    """One rxpk as a gw.up message. Raises UnsupportedUplink when a required field is missing."""
    if rxpk.freq is None:
        raise UnsupportedUplink("missing_field", "rxpk has no freq")
    chan, rssi, snr = rxpk.chan, rxpk.rssi, rxpk.lsnr
    if rxpk.rsig:
        best = best_signal(rxpk.rsig)
        if best is not None:
            chan = best.chan if best.chan is not None else chan
            rssi = best.rssic if best.rssic is not None else best.rssis
            snr = best.lsnr
    if rssi is None:
        rssi = rxpk.rssis
    if rssi is None:
        raise UnsupportedUplink("missing_field", "rxpk has no rssi")

    sf = bw_hz = bitrate = None
    dr: str | None = None
    if rxpk.modu is Modulation.LORA:
        if not isinstance(rxpk.datr, str):
            raise UnsupportedUplink("missing_field", "LoRa rxpk has no datr")
        try:
            lora = LoRaDataRate.parse(rxpk.datr)
        except MalformedPacket as exc:  # pragma: no cover - the codec already checked it
            raise UnsupportedUplink("bad_datr", str(exc)) from exc
        sf, bw_hz, dr = lora.spreading_factor, lora.bandwidth_hz, rxpk.datr
    elif rxpk.modu is Modulation.FSK:
        if not isinstance(rxpk.datr, int):
            raise UnsupportedUplink("missing_field", "FSK rxpk has no bit rate")
        bitrate = rxpk.datr
    else:
        raise UnsupportedUplink("unsupported_modulation", f"modulation {rxpk.modu}")

    try:
        rx = RxMetadata(
            gw_eui=gw_eui.value.hex().upper(),
            tmst=rxpk.tmst,
            time=parse_rx_time(rxpk.time),
            tmms=rxpk.tmms,
            freq_hz=round(rxpk.freq * MHZ),
            chan=chan,
            rf_chain=rxpk.rfch,
            crc_ok=rxpk.stat is CrcStatus.OK,
            modulation="LORA" if rxpk.modu is Modulation.LORA else "FSK",
            sf=sf,
            bw_hz=bw_hz,
            dr=dr,
            bitrate=bitrate,
            code_rate=rxpk.codr,
            rssi=float(rssi),
            snr=None if snr is None else float(snr),
            size=rxpk.size,
            received_at=received_at,
            zone=zone,
        )
        return GatewayUplink(uplink_id=uplink_id, phy_payload=rxpk.data, rx=rx)
    except ValidationError as exc:  # a value the bus model refuses (out of its ranges)
        raise UnsupportedUplink("invalid_metadata", str(exc)) from exc


def stat_to_stats(
    stat: Stat,
    gw_eui: EUI64,
    received_at: datetime,
    ip: str | None = None,
    zone: str | None = None,
) -> GatewayStats:
    """One stat object as gw.stats. Raises TranslationError if the bus model refuses it."""
    try:
        return _stats(stat, gw_eui, received_at, ip, zone)
    except ValidationError as exc:
        raise TranslationError("invalid_stats", str(exc)) from exc


def _stats(
    stat: Stat, gw_eui: EUI64, received_at: datetime, ip: str | None, zone: str | None
) -> GatewayStats:
    return GatewayStats(
        gw_eui=gw_eui.value.hex().upper(),
        time=parse_stat_time(stat.time),
        latitude=stat.lati,
        longitude=stat.long,
        altitude_m=None if stat.alti is None else float(stat.alti),
        rx_received=stat.rxnb or 0,
        rx_ok=stat.rxok or 0,
        rx_forwarded=stat.rxfw or 0,
        ack_ratio_pct=stat.ackr,
        tx_requested=stat.dwnb or 0,
        tx_emitted=stat.txnb or 0,
        ip=ip,
        zone=zone,
        received_at=received_at,
    )


def downlink_to_txpk(msg: GatewayDownlink) -> TxPk:
    """A gw.down message as the txpk of a PULL_RESP. Raises InvalidDownlink."""
    if not msg.immediately and msg.tmst is None and msg.tmms is None:
        raise InvalidDownlink(f"downlink {msg.downlink_id}: not immediate and no tmst/tmms")
    if msg.freq_hz <= 0:
        raise InvalidDownlink(f"downlink {msg.downlink_id}: frequency {msg.freq_hz} Hz")
    datr: str | int
    if msg.modulation == "LORA":
        if msg.dr is not None:
            datr = msg.dr
        elif msg.sf is not None and msg.bw_hz is not None:
            datr = f"SF{msg.sf}BW{msg.bw_hz // 1000}"
        else:
            raise InvalidDownlink(f"downlink {msg.downlink_id}: LoRa without dr or sf/bw")
        try:
            LoRaDataRate.parse(datr)
        except MalformedPacket as exc:
            raise InvalidDownlink(f"downlink {msg.downlink_id}: {exc}") from exc
        modu = Modulation.LORA
    else:
        if msg.bitrate is None or msg.bitrate <= 0:
            raise InvalidDownlink(f"downlink {msg.downlink_id}: FSK without bit rate")
        datr, modu = msg.bitrate, Modulation.FSK
    lora = modu is Modulation.LORA
    return TxPk(
        data=msg.phy_payload,
        imme=True if msg.immediately else None,
        tmst=None if msg.immediately else msg.tmst,
        tmms=None if msg.immediately or msg.tmst is not None else msg.tmms,
        freq=msg.freq_hz / MHZ,
        rfch=msg.rf_chain,
        powe=msg.power_dbm,
        modu=modu,
        datr=datr,
        codr=msg.code_rate if lora else None,
        fdev=None if lora else msg.fdev_hz,
        ipol=msg.invert_polarity if lora else None,
        prea=msg.preamble,
        ncrc=True if msg.no_crc else None,
    )


def tx_ack_to_message(
    ack: TxAck, gw_eui: EUI64, downlink_id: str, received_at: datetime, retry: bytes = b""
) -> GatewayTxAck:
    """A TX_ACK as gw.tx_ack: ``error`` None when the gateway programmed the downlink;
    ``retry`` is the downlink's retry context, echoed unchanged."""
    return GatewayTxAck(
        downlink_id=downlink_id,
        gw_eui=gw_eui.value.hex().upper(),
        error=None if ack.ok else ack.error.value,
        received_at=received_at,
        retry=retry,
    )
