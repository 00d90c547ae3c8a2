"""The data-uplink steps, as an ordered list of small functions on an :class:`UplinkContext`.

    decode -> select_session (FCnt + MIC per candidate) -> check_f_cnt -> [adapter: advance the
    stored FCnt atomically] -> read_mac_commands -> handle_mac_commands -> set_adr ->
    update_session -> application_uplink / uplink_meta / uplink_event

Everything here is pure: the adapter loads the candidates, persists the session and publishes
what these steps return. Rejections raise services.lorawan errors (MalformedPacket,
MicMismatch, FrameCounterReplay) or UnknownDevAddr.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.bus.messages import ApplicationUplink, GwSignal, RxMetadata, UplinkMeta
from services.lorawan import MType, PhyPayload, full_f_cnt
from services.lorawan.crypto import encrypt_f_opts, encrypt_frm_payload
from services.lorawan.data import MACPayload
from services.lorawan.errors import (
    FrameCounterReplay,
    InvalidParameter,
    LoRaWANError,
    MicMismatch,
)
from services.lorawan.maccommand import MacCommand, parse_mac_commands
from services.lorawan.region import Region
from services.lorawan.types import DevAddr
from services.lorawan.version import MacVersion
from services.storage.domain import DeviceSession

from ..errors import NotAnUplink, UnknownDevAddr
from .maccommands import MacContext, MacResult, handle_uplink_commands

_DATA_UP = (MType.UNCONFIRMED_DATA_UP, MType.CONFIRMED_DATA_UP)


@dataclass(frozen=True, slots=True)
class UplinkFrame:
    """One deduplicated frame: its bytes and every gateway's metadata (best signal first)."""

    dedup_id: str
    phy_payload: bytes
    rx: tuple[RxMetadata, ...]
    received_at: datetime


@dataclass(slots=True)
class UplinkContext:
    frame: UplinkFrame
    region: Region
    now: datetime
    phy: PhyPayload
    mac: MACPayload
    dr: int
    freq_hz: int
    tx_ch: int | None
    # select_session
    session: DeviceSession | None = None  # the working copy of the winning candidate
    stored_f_cnt_up: int | None = None  # f_cnt_up of the candidate before this frame
    f_cnt: int = 0
    # check_f_cnt
    retransmission: bool = False
    f_cnt_advanced: bool = False  # the adapter already advanced the stored counter
    # MAC commands
    mac_commands: list[MacCommand] = field(default_factory=list)
    mac_result: MacResult = field(default_factory=MacResult)
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def dev_addr(self) -> DevAddr:
        return self.mac.fhdr.dev_addr

    @property
    def confirmed(self) -> bool:
        return self.phy.mhdr.m_type is MType.CONFIRMED_DATA_UP

    @property
    def adr(self) -> bool:
        return self.mac.fhdr.f_ctrl.adr

    @property
    def adr_ack_req(self) -> bool:
        return self.mac.fhdr.f_ctrl.adr_ack_req

    @property
    def ack(self) -> bool:
        """The device acknowledges our last confirmed downlink."""
        return self.mac.fhdr.f_ctrl.ack

    @property
    def f_port(self) -> int | None:
        return self.mac.f_port

    @property
    def mac_version(self) -> MacVersion:
        assert self.session is not None
        return MacVersion.parse(self.session.mac_version)

    def require_session(self) -> DeviceSession:
        if self.session is None:
            raise InvalidParameter("uplink step before select_session")
        return self.session


# --------------------------------------------------------------------------- sessions


def _copy_doc(value: Any) -> Any:
    """A deep copy of JSON-like data (dicts, lists, scalars): what sessions keep in their
    mutable fields. Much cheaper than copy.deepcopy on the uplink path."""
    if isinstance(value, dict):
        return {k: _copy_doc(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_doc(v) for v in value]
    return value


def copy_session(s: DeviceSession) -> DeviceSession:
    """A working copy of a session: its mutable fields copied, the rest (keys, ids, numbers,
    timestamps: immutable) shared."""
    return dataclasses.replace(
        s,
        enabled_channels=list(s.enabled_channels),
        pending_mac_commands=_copy_doc(s.pending_mac_commands),
        mac_command_state=_copy_doc(s.mac_command_state),
    )


# --------------------------------------------------------------------------- radio facts


def uplink_dr(region: Region, rx: RxMetadata) -> int:
    """The region's data-rate index of the uplink (LoRa SF/BW or FSK bit rate)."""
    if rx.modulation == "FSK":
        if rx.bitrate is None:
            raise InvalidParameter("FSK uplink without bit rate")
        return region.dr_for_fsk(rx.bitrate)
    if rx.sf is None or rx.bw_hz is None:
        raise InvalidParameter("LoRa uplink without SF/BW")
    return region.dr_for(rx.sf, rx.bw_hz)


def channel_index(region: Region, freq_hz: int, session: DeviceSession | None = None) -> int | None:
    """Index of the uplink channel (TxCh of the 1.1 MIC): the region's plan, then the
    channels the device was given with NewChannelReq (kept in mac_command_state)."""
    try:
        return region.uplink_channel_index(freq_hz)
    except InvalidParameter:
        pass
    if session is not None:
        for index, ch in session.mac_command_state.get("channels", {}).items():
            if isinstance(ch, dict) and ch.get("freq") == freq_hz:
                return int(index)
        cflist = session.mac_command_state.get("cflist_channels", {})
        for index, freq in cflist.items():
            if freq == freq_hz:
                return int(index)
    return None


# --------------------------------------------------------------------------- steps


def decode(frame: UplinkFrame, region: Region, now: datetime) -> UplinkContext:
    """Step 1: decode the PHYPayload; it must be a data uplink."""
    if not frame.rx:
        raise InvalidParameter("uplink without gateway metadata")
    phy = PhyPayload.from_bytes(frame.phy_payload)
    if phy.mhdr.m_type not in _DATA_UP:
        raise NotAnUplink(f"{phy.mhdr.m_type.label} is not a data uplink")
    mac = phy.mac_payload()
    best = frame.rx[0]
    dr = uplink_dr(region, best)
    return UplinkContext(
        frame=frame,
        region=region,
        now=now,
        phy=phy,
        mac=mac,
        dr=dr,
        freq_hz=best.freq_hz,
        tx_ch=channel_index(region, best.freq_hz),
    )


def _mic_ok(ctx: UplinkContext, s: DeviceSession, f_cnt: int, tx_ch: int) -> bool:
    ctx.mac.fhdr.f_cnt = f_cnt
    return ctx.phy.validate_uplink_data_mic(
        s.mac_version,
        s.conf_f_cnt,
        ctx.dr,
        tx_ch,
        s.f_nwk_s_int_key,
        s.s_nwk_s_int_key,
    )


def _replay_values(wire: int, last: int | None) -> list[int]:
    """Earlier full counters with these low 16 bits (this 64K block and the one before)."""
    if last is None:
        return []
    base = last & 0xFFFF0000
    out = [v for v in (base | wire, base - 0x10000 + wire) if 0 <= v <= last]
    return out


def select_session(ctx: UplinkContext, candidates: Sequence[DeviceSession]) -> UplinkContext:
    """Step 2: per candidate, the full 32-bit FCnt and the MIC; the first valid one wins.

    No candidate: UnknownDevAddr. No valid MIC: FrameCounterReplay if a candidate's MIC holds
    with an already-used counter, else MicMismatch.
    """
    if not candidates:
        raise UnknownDevAddr(f"DevAddr {ctx.dev_addr}: no session")
    wire = ctx.mac.fhdr.f_cnt & 0xFFFF
    for cand in candidates:
        tx_ch = ctx.tx_ch if ctx.tx_ch is not None else channel_index(ctx.region, ctx.freq_hz, cand)
        f_cnt = full_f_cnt(wire, cand.f_cnt_up)
        if _mic_ok(ctx, cand, f_cnt, tx_ch or 0):
            ctx.session = copy_session(cand)
            ctx.stored_f_cnt_up = cand.f_cnt_up
            ctx.f_cnt = f_cnt
            ctx.tx_ch = tx_ch
            ctx.mac_commands = []
            return ctx
    for cand in candidates:
        tx_ch = ctx.tx_ch if ctx.tx_ch is not None else channel_index(ctx.region, ctx.freq_hz, cand)
        for old in _replay_values(wire, cand.f_cnt_up):
            if old != cand.f_cnt_up and _mic_ok(ctx, cand, old, tx_ch or 0):
                raise FrameCounterReplay(
                    f"DevEUI {cand.dev_eui}: FCnt {old} not greater than last {cand.f_cnt_up}"
                )
    ctx.mac.fhdr.f_cnt = wire
    raise MicMismatch(f"DevAddr {ctx.dev_addr}: no candidate of {len(candidates)} has a valid MIC")


def check_f_cnt(ctx: UplinkContext) -> UplinkContext:
    """Step 3: the counter must exceed the last accepted one; equal = NbTrans repetition."""
    last = ctx.stored_f_cnt_up
    if last is None or ctx.f_cnt > last:
        return ctx
    if ctx.f_cnt == last:
        ctx.retransmission = True
        return ctx
    raise FrameCounterReplay(f"DevAddr {ctx.dev_addr}: FCnt {ctx.f_cnt} wrapped below {last}")


def read_mac_commands(ctx: UplinkContext) -> UplinkContext:
    """Step 4: MAC commands from FOpts (1.1: decrypted with NwkSEncKey) or an FPort-0
    FRMPayload (decrypted with NwkSEncKey). The frame itself is left as received."""
    s = ctx.require_session()
    fhdr = ctx.mac.fhdr
    data = b""
    if ctx.f_port == 0 and ctx.mac.frm_payload:
        data = encrypt_frm_payload(
            s.nwk_s_enc_key, fhdr.dev_addr, ctx.f_cnt, True, ctx.mac.frm_payload
        )
    elif fhdr.f_opts:
        data = fhdr.f_opts
        if ctx.mac_version.is_11:
            data = encrypt_f_opts(s.nwk_s_enc_key, fhdr.dev_addr, ctx.f_cnt, True, data)
    if data:
        try:
            ctx.mac_commands = parse_mac_commands(data, uplink=True)
        except LoRaWANError as exc:
            ctx.events.append({"kind": "mac_command_parse_error", "error": str(exc)})
            ctx.mac_commands = []
    return ctx


def handle_mac_commands(ctx: UplinkContext, max_retries: int = 3) -> UplinkContext:
    """Step 5: the pure handlers of services.network_server.core.maccommands."""
    s = ctx.require_session()
    mctx = MacContext(
        region=ctx.region,
        dr=ctx.dr,
        rx=ctx.frame.rx,
        now=ctx.now,
        f_cnt=ctx.f_cnt,
        mac_version=ctx.mac_version,
        max_retries=max_retries,
    )
    ctx.mac_result = handle_uplink_commands(s, ctx.mac_commands, mctx)
    ctx.events.extend(ctx.mac_result.events)
    return ctx


def set_adr(ctx: UplinkContext, allow_adr: bool = True) -> UplinkContext:
    """Step 6: remember whether the device runs ADR (the network echoes the bit)."""
    s = ctx.require_session()
    s.adr = ctx.adr and allow_adr
    if not s.adr:
        s.dr = ctx.dr  # without ADR the device picks its data rate: track what it uses
    return ctx


def update_session(ctx: UplinkContext) -> UplinkContext:
    """Step 7: the accepted counter and the last-seen radio facts."""
    s = ctx.require_session()
    s.f_cnt_up = ctx.f_cnt
    state = s.mac_command_state
    state["last_uplink"] = {
        "f_cnt": ctx.f_cnt,
        "dr": ctx.dr,
        "freq_hz": ctx.freq_hz,
        "gw_cnt": len(ctx.frame.rx),
        "at": ctx.frame.received_at.isoformat(),
    }
    if ctx.adr_ack_req:
        state["adr_ack_req_f_cnt"] = ctx.f_cnt
    return ctx


def process(ctx: UplinkContext, *, allow_adr: bool = True, max_retries: int = 3) -> UplinkContext:
    """Steps 4-7 on a selected, counter-checked frame (re-runnable on a fresh session copy)."""
    if not ctx.retransmission:
        read_mac_commands(ctx)
        handle_mac_commands(ctx, max_retries)
        set_adr(ctx, allow_adr)
        update_session(ctx)
    return ctx


def rebase(ctx: UplinkContext, fresh: DeviceSession) -> UplinkContext:
    """Restart steps 4-7 on a freshly read session (after an optimistic-lock conflict)."""
    ctx.session = copy_session(fresh)
    ctx.mac_result = MacResult()
    ctx.events = []
    return ctx


def rebase_checked(ctx: UplinkContext, fresh: DeviceSession) -> UplinkContext:
    """:func:`rebase` after the counter check against the fresh session: a frame whose
    counter the fresh session already reached (accepted meanwhile, e.g. by another
    instance) is a replay; a retransmission must still repeat the last accepted frame."""
    stored = fresh.f_cnt_up
    if ctx.retransmission:
        if stored != ctx.f_cnt:
            raise FrameCounterReplay(
                f"DevEUI {fresh.dev_eui}: FCnt {ctx.f_cnt} repeated, but last is now {stored}"
            )
    elif not ctx.f_cnt_advanced and stored is not None and stored >= ctx.f_cnt:
        raise FrameCounterReplay(
            f"DevEUI {fresh.dev_eui}: FCnt {ctx.f_cnt} not greater than last {stored}"
        )
    ctx.stored_f_cnt_up = stored if not ctx.f_cnt_advanced else ctx.stored_f_cnt_up
    return rebase(ctx, fresh)


# --------------------------------------------------------------------------- outputs


def application_uplink(
    ctx: UplinkContext, application_id: str | None = None, *, again: bool = False
) -> ApplicationUplink | None:
    """The ns.up message (FRMPayload still AppSKey-encrypted); None for MAC-only frames
    (FPort 0) and for retransmissions unless ``again``: a repetition of a frame this instance
    did not forward itself (it crashed, or another instance owned the partition, after the
    counter was stored and before ns.up went out) is forwarded again, and the application
    handler drops a copy it already has (its uplink log is idempotent)."""
    s = ctx.require_session()
    if (ctx.retransmission and not again) or ctx.f_port == 0:
        return None
    return ApplicationUplink(
        dedup_id=ctx.frame.dedup_id,
        dev_eui=str(s.dev_eui),
        dev_addr=str(s.dev_addr),
        session_id=str(s.session_id),
        application_id=application_id,
        f_cnt=ctx.f_cnt,
        f_port=ctx.f_port,
        frm_payload=ctx.mac.frm_payload,
        confirmed=ctx.confirmed,
        adr=ctx.adr,
        dr=ctx.dr,
        freq_hz=ctx.freq_hz,
        region=ctx.region.name,
        mac_version=s.mac_version,
        rx=list(ctx.frame.rx),
        received_at=ctx.frame.received_at,
        # the next NFCntDown / AFCntDown this session will use (after any answer to this
        # uplink), from which the app handler reserves counters for application downlinks
        n_f_cnt_down=s.n_f_cnt_down,
        a_f_cnt_down=s.a_f_cnt_down,
    )


def uplink_meta(ctx: UplinkContext) -> UplinkMeta | None:
    """The ns.up.meta message for DRCC/ADR (not for retransmissions)."""
    s = ctx.require_session()
    if ctx.retransmission:
        return None
    return UplinkMeta(
        dedup_id=ctx.frame.dedup_id,
        dev_eui=str(s.dev_eui),
        dev_addr=str(s.dev_addr),
        f_cnt=ctx.f_cnt,
        adr=ctx.adr,
        dr=ctx.dr,
        tx_power_index=s.tx_power_index,
        nb_trans=s.nb_trans,
        freq_hz=ctx.freq_hz,
        channel=ctx.tx_ch,
        region=ctx.region.name,
        signals=[GwSignal(gw_eui=r.gw_eui, rssi=r.rssi, snr=r.snr) for r in ctx.frame.rx],
        gw_count=len(ctx.frame.rx),
        received_at=ctx.frame.received_at,
        enabled_channels=list(s.enabled_channels),
        size=len(ctx.frame.phy_payload),
    )


def uplink_event(ctx: UplinkContext) -> dict[str, Any]:
    """A structured event (logs / event store) describing the accepted uplink."""
    s = ctx.require_session()
    return {
        "kind": "retransmission" if ctx.retransmission else "uplink",
        "dev_eui": str(s.dev_eui),
        "dev_addr": str(s.dev_addr),
        "f_cnt": ctx.f_cnt,
        "f_port": ctx.f_port,
        "dr": ctx.dr,
        "freq_hz": ctx.freq_hz,
        "confirmed": ctx.confirmed,
        "adr": ctx.adr,
        "adr_ack_req": ctx.adr_ack_req,
        "ack": ctx.ack,
        "gw_eui": [r.gw_eui for r in ctx.frame.rx],
        "mac_commands": [c.name() for c in ctx.mac_commands],
        "events": ctx.events,
    }
