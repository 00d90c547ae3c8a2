"""Class A downlinks (pure): when to answer, which gateway, RX1/RX2 parameters, the frame.

* :func:`downlink_reasons` — why an uplink needs an answer (empty list: it does not);
* :func:`select_gateway` — best SNR, then RSSI, among the copies carrying a ``tmst``;
* :func:`class_a_windows` / :func:`join_accept_windows` — RX1 and RX2 timing, frequency,
  data rate and TX power from the region and the session;
* :func:`build_data_downlink` — the downlink PHYPayload (FCtrl ACK/ADR/FPending, MAC commands
  in FOpts or on FPort 0, LoRaWAN 1.1 FOpts encryption, MIC with ConfFCnt) and the session's
  downlink counters;
* :func:`gateway_downlink` — the gw.down message for one window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from services.bus.messages import GatewayDownlink, RxMetadata
from services.lorawan import FHDR, MHDR, FCtrl, MType, PhyPayload
from services.lorawan.data import MACPayload
from services.lorawan.errors import InvalidParameter
from services.lorawan.maccommand import MacCommand, encode_mac_commands
from services.lorawan.region import Modulation, Region
from services.lorawan.version import MacVersion
from services.storage.domain import DeviceSession

from ..errors import DownlinkNotPossible
from .maccommands import entry_commands

US = 1_000_000
U32 = 1 << 32
FSK_FDEV_HZ = 25_000


# --------------------------------------------------------------------------- decisions


def downlink_reasons(
    *,
    confirmed_uplink: bool,
    adr_ack_req: bool,
    mac_answers: Sequence[MacCommand],
    pending_mac: Sequence[dict[str, Any]],
    queued_item: bool,
) -> list[str]:
    """Why a class A downlink is needed after this uplink (empty: no downlink)."""
    reasons = []
    if confirmed_uplink:
        reasons.append("ack")
    if adr_ack_req:
        reasons.append("adr_ack_req")
    if mac_answers:
        reasons.append("mac_answers")
    if pending_mac:
        reasons.append("mac_requests")
    if queued_item:
        reasons.append("queue")
    return reasons


def select_gateway(rx: Sequence[RxMetadata]) -> RxMetadata:
    """The copy with the best SNR, then RSSI, among those with a concentrator timestamp."""
    usable = [r for r in rx if r.tmst is not None]
    if not usable:
        raise DownlinkNotPossible("no gateway copy carries a tmst")
    return max(usable, key=lambda r: (r.snr if r.snr is not None else float("-inf"), r.rssi))


# --------------------------------------------------------------------------- windows


@dataclass(frozen=True, slots=True)
class TxParams:
    """One transmit opportunity on one gateway."""

    window: str  # "RX1" / "RX2"
    gw_eui: str
    tmst: int
    delay_s: int
    freq_hz: int
    dr: int
    power_dbm: int
    context: bytes = b""


def downlink_power(region: Region, freq_hz: int, override: int | None = None) -> int:
    """TX power (dBm) of a downlink: the override, else the region default (EU868 14 dBm,
    27 dBm on 869.525 MHz; US915/AU915 20 dBm; others 14 dBm)."""
    if override is not None:
        return override
    if region.name == "EU868":
        return 27 if freq_hz == 869_525_000 else 14
    if region.name in ("US915", "AU915"):
        return 20
    return 14


def _tx(window: str, rx: RxMetadata, delay_s: int, freq: int, dr: int, power: int) -> TxParams:
    assert rx.tmst is not None
    return TxParams(
        window=window,
        gw_eui=rx.gw_eui,
        tmst=(rx.tmst + delay_s * US) % U32,
        delay_s=delay_s,
        freq_hz=freq,
        dr=dr,
        power_dbm=power,
        context=bytes(rx.context),
    )


def class_a_windows(
    region: Region,
    rx: RxMetadata,
    *,
    uplink_dr: int,
    rx1_delay: int,
    rx1_dr_offset: int,
    rx2_dr: int,
    rx2_freq_hz: int,
    power_override: int | None = None,
) -> tuple[TxParams | None, TxParams]:
    """RX1 (None when the region has no RX1 for this uplink) and RX2 of a data uplink."""
    if rx.tmst is None:
        raise DownlinkNotPossible(f"gateway {rx.gw_eui}: no tmst")
    delay = max(1, rx1_delay)
    rx1: TxParams | None
    try:
        f1 = region.rx1_frequency(rx.freq_hz)
        dr1 = region.rx1_dr(uplink_dr, rx1_dr_offset)
        rx1 = _tx("RX1", rx, delay, f1, dr1, downlink_power(region, f1, power_override))
    except InvalidParameter:
        rx1 = None
    rx2 = _tx(
        "RX2",
        rx,
        delay + 1,
        rx2_freq_hz,
        rx2_dr,
        downlink_power(region, rx2_freq_hz, power_override),
    )
    return rx1, rx2


def join_accept_windows(
    region: Region,
    rx: RxMetadata,
    *,
    uplink_dr: int,
    rx2_dr: int | None = None,
    rx2_freq_hz: int | None = None,
    power_override: int | None = None,
) -> tuple[TxParams | None, TxParams]:
    """RX1 at JOIN_ACCEPT_DELAY1 (RX1DROffset 0) and RX2 at JOIN_ACCEPT_DELAY2 (region RX2
    defaults unless overridden)."""
    if rx.tmst is None:
        raise DownlinkNotPossible(f"gateway {rx.gw_eui}: no tmst")
    rx1: TxParams | None
    try:
        f1 = region.rx1_frequency(rx.freq_hz)
        dr1 = region.rx1_dr(uplink_dr, 0)
        rx1 = _tx(
            "RX1",
            rx,
            region.join_accept_delay1_s,
            f1,
            dr1,
            downlink_power(region, f1, power_override),
        )
    except InvalidParameter:
        rx1 = None
    f2 = region.rx2_frequency_hz if rx2_freq_hz is None else rx2_freq_hz
    dr2 = region.rx2_dr if rx2_dr is None else rx2_dr
    rx2 = _tx(
        "RX2",
        rx,
        region.join_accept_delay2_s,
        f2,
        dr2,
        downlink_power(region, f2, power_override),
    )
    return rx1, rx2


def gateway_downlink(
    region: Region,
    tx: TxParams,
    phy_payload: bytes,
    downlink_id: str,
    dev_eui: str | None = None,
    retry: bytes = b"",
) -> GatewayDownlink:
    """The gw.down message for ``tx`` (radio parameters from the region's DataRate);
    ``retry`` is the opaque retry context (core/retry_context.py) the bridge echoes back."""
    rate = region.data_rate(tx.dr)
    common: dict[str, Any] = {
        "downlink_id": downlink_id,
        "gw_eui": tx.gw_eui,
        "phy_payload": phy_payload,
        "tmst": tx.tmst,
        "freq_hz": tx.freq_hz,
        "power_dbm": tx.power_dbm,
        "invert_polarity": True,
        "no_crc": True,
        "context": tx.context,
        "dev_eui": dev_eui,
        "retry": retry,
    }
    if rate.modulation is Modulation.FSK:
        return GatewayDownlink(
            modulation="FSK", bitrate=rate.bitrate, fdev_hz=FSK_FDEV_HZ, **common
        )
    assert rate.sf is not None and rate.bw_hz is not None
    return GatewayDownlink(
        modulation="LORA",
        sf=rate.sf,
        bw_hz=rate.bw_hz,
        dr=f"SF{rate.sf}BW{rate.bw_hz // 1000}",
        code_rate="4/5",
        **common,
    )


# --------------------------------------------------------------------------- frames


@dataclass(frozen=True, slots=True)
class QueuedPayload:
    """An application downlink from the device queue, already AppSKey-encrypted for
    ``f_cnt_down``."""

    item_id: str
    request_id: str
    f_port: int
    frm_payload: bytes
    f_cnt_down: int
    confirmed: bool = False


@dataclass(slots=True)
class DataDownlinkFrame:
    phy_payload: bytes
    f_cnt: int
    a_f_cnt: bool  # LoRaWAN 1.1 application counter (AFCntDown) used
    confirmed: bool
    ack: bool
    f_pending: bool
    mac_commands: list[MacCommand] = field(default_factory=list)
    sent_entries: list[dict[str, Any]] = field(default_factory=list)
    item: QueuedPayload | None = None
    mac_on_f_port_0: bool = False


def next_counter(session: DeviceSession) -> int:
    """The counter an application downlink must use at least (AFCntDown in 1.1)."""
    if MacVersion.parse(session.mac_version).is_11:
        return session.a_f_cnt_down
    return session.n_f_cnt_down


def item_counter_ok(session: DeviceSession, f_cnt_down: int) -> bool:
    """False when the queue item's counter was already used (the item is stale)."""
    return f_cnt_down >= next_counter(session)


def _fill(
    answers: Sequence[MacCommand], entries: Sequence[dict[str, Any]], budget: int
) -> tuple[list[MacCommand], list[dict[str, Any]], bool]:
    """Answers first, then request blocks (atomic), in order, within ``budget`` bytes."""
    cmds: list[MacCommand] = []
    sent: list[dict[str, Any]] = []
    used = 0
    left_out = False
    for a in answers:
        n = len(a.to_bytes())
        if used + n <= budget:
            cmds.append(a)
            used += n
        else:
            left_out = True
    for e in entries:
        block = entry_commands(e)
        n = sum(len(c.to_bytes()) for c in block)
        if used + n <= budget:
            cmds.extend(block)
            sent.append(e)
            used += n
        else:
            left_out = True
    return cmds, sent, left_out


def _size(answers: Sequence[MacCommand], entries: Sequence[dict[str, Any]]) -> int:
    return sum(len(a.to_bytes()) for a in answers) + sum(
        len(c.to_bytes()) for e in entries for c in entry_commands(e)
    )


def build_data_downlink(
    session: DeviceSession,
    *,
    ack: bool,
    conf_f_cnt: int = 0,
    adr: bool = False,
    more_queued: bool = False,
    answers: Sequence[MacCommand] = (),
    pending: Sequence[dict[str, Any]] = (),
    item: QueuedPayload | None = None,
    f_opts_max: int = 15,
    max_frm_payload: int = 51,
) -> DataDownlinkFrame:
    """Build a class A data downlink and advance the session's downlink counters.

    MAC commands go in FOpts (at most ``f_opts_max`` bytes) when there is an application
    payload or when they fit; otherwise on FPort 0 (encrypted with NwkSEncKey, at most
    ``max_frm_payload`` bytes). Under LoRaWAN 1.1 FOpts are encrypted with NwkSEncKey and the
    MIC uses SNwkSIntKey with ConfFCnt (the acknowledged uplink counter) when ACK is set.
    """
    version = MacVersion.parse(session.mac_version)
    on_f_port_0 = False
    if item is not None or _size(answers, pending) <= f_opts_max:
        cmds, sent, left = _fill(answers, pending, f_opts_max)
    else:
        cmds, sent, left = _fill(answers, pending, max_frm_payload)
        on_f_port_0 = bool(cmds)
    mac_bytes = encode_mac_commands(cmds) if cmds else b""
    if item is not None:
        f_cnt, a_cnt = item.f_cnt_down, version.is_11
    else:
        f_cnt, a_cnt = session.n_f_cnt_down, False
    f_pending = more_queued or left
    fhdr = FHDR(
        session.dev_addr,
        FCtrl(adr=adr, ack=ack, f_pending=f_pending),
        f_cnt,
        b"" if on_f_port_0 else mac_bytes,
    )
    if item is not None:
        mac = MACPayload(fhdr, item.f_port, item.frm_payload)
    elif on_f_port_0:
        mac = MACPayload(fhdr, 0, mac_bytes)
    else:
        mac = MACPayload(fhdr)
    confirmed = item is not None and item.confirmed
    m_type = MType.CONFIRMED_DATA_DOWN if confirmed else MType.UNCONFIRMED_DATA_DOWN
    phy = PhyPayload(MHDR(m_type), mac)
    if on_f_port_0:
        phy.encrypt_frm_payload(session.nwk_s_enc_key)
    if version.is_11 and fhdr.f_opts:
        phy.encrypt_f_opts(session.nwk_s_enc_key)
    phy.set_downlink_data_mic(version, conf_f_cnt if ack else 0, session.s_nwk_s_int_key)
    if a_cnt:
        session.a_f_cnt_down = f_cnt + 1
    else:
        session.n_f_cnt_down = f_cnt + 1
    if confirmed:
        session.conf_f_cnt = f_cnt
    return DataDownlinkFrame(
        phy_payload=phy.to_bytes(),
        f_cnt=f_cnt,
        a_f_cnt=a_cnt,
        confirmed=confirmed,
        ack=ack,
        f_pending=f_pending,
        mac_commands=cmds,
        sent_entries=sent,
        item=item,
        mac_on_f_port_0=on_f_port_0,
    )


def max_frm_payload(region: Region, dr: int) -> int:
    """Largest FRMPayload at ``dr`` (N of the region's table); 51 if the region has none."""
    try:
        return region.max_payload(dr).n
    except InvalidParameter:
        return 51
