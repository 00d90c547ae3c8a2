"""Pure MAC command handlers: device session + command -> answers and events.

Each handler takes the working copy of the device session (a storage DeviceSession owned by
the uplink context), one uplink MAC command and a :class:`MacContext`, updates the session and
returns a :class:`MacResult` (downlink answers to send, events to log). Nothing here publishes
or stores.

Requests the network sends (LinkADRReq, DevStatusReq, RXParamSetupReq, ...) are tracked in the
session as JSON-able entries::

    {"cid": "LinkADRReq", "commands": [<MacCommand.to_dict()>, ...],
     "intent": {...values applied when acknowledged...}, "retries": 0, "source": "drcc:<id>"}

``session.pending_mac_commands`` holds entries still to send; once sent they move to
``session.mac_command_state["sent"]``. An answer consumes the oldest sent entry of its request;
an entry left unanswered by the next uplink is queued again (up to ``max_retries``).
``mac_command_state`` also keeps what the device reported or refused (``dev_status``,
``link_adr_rejected``, ``rx_param_rejected``, ``channels``, ``dl_channels``, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from services.bus.messages import RxMetadata
from services.lorawan.errors import InvalidParameter, LoRaWANError
from services.lorawan.maccommand import (
    DeviceTimeAns,
    DeviceTimeReq,
    DevStatusAns,
    DlChannelAns,
    DutyCycleAns,
    LinkADRAns,
    LinkCheckAns,
    LinkCheckReq,
    MacCommand,
    NewChannelAns,
    RekeyConf,
    RekeyInd,
    ResetConf,
    ResetInd,
    RXParamSetupAns,
    RXTimingSetupAns,
    TxParamSetupAns,
    mac_command_from_dict,
)
from services.lorawan.region import Region
from services.lorawan.version import MacVersion
from services.storage.domain import DeviceSession

from .channels import KEEP, link_adr_block

GPS_EPOCH = datetime(1980, 1, 6, tzinfo=UTC)
GPS_UTC_LEAP_SECONDS = 18  # GPS - UTC since 2017-01-01
SENT = "sent"

# The request each uplink answer acknowledges.
ANSWER_OF: dict[str, str] = {
    "LinkADRAns": "LinkADRReq",
    "DutyCycleAns": "DutyCycleReq",
    "RXParamSetupAns": "RXParamSetupReq",
    "DevStatusAns": "DevStatusReq",
    "NewChannelAns": "NewChannelReq",
    "RXTimingSetupAns": "RXTimingSetupReq",
    "TxParamSetupAns": "TxParamSetupReq",
    "DlChannelAns": "DlChannelReq",
    "ADRParamSetupAns": "ADRParamSetupReq",
    "RejoinParamSetupAns": "RejoinParamSetupReq",
}


@dataclass(frozen=True, slots=True)
class MacContext:
    """What the handlers may know about the uplink that carried the commands."""

    region: Region
    dr: int
    rx: Sequence[RxMetadata]
    now: datetime
    f_cnt: int
    mac_version: MacVersion
    max_retries: int = 3


@dataclass(slots=True)
class MacResult:
    answers: list[MacCommand] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def extend(self, other: MacResult) -> None:
        self.answers.extend(other.answers)
        self.events.extend(other.events)


def _event(kind: str, **data: Any) -> dict[str, Any]:
    return {"kind": kind, **data}


# --------------------------------------------------------------------------- pending requests


def _sent(session: DeviceSession) -> list[dict[str, Any]]:
    sent = session.mac_command_state.setdefault(SENT, [])
    assert isinstance(sent, list)
    return sent


def queue_request(
    session: DeviceSession,
    commands: Sequence[MacCommand],
    intent: dict[str, Any] | None = None,
    source: str = "",
    replace: bool = True,
) -> dict[str, Any]:
    """Queue a request (block) to send with the next downlink; ``replace`` drops an older
    pending entry of the same CID (the newest decision wins)."""
    if not commands:
        raise InvalidParameter("queue_request: no command")
    cid = commands[0].name()
    entry: dict[str, Any] = {
        "cid": cid,
        "commands": [c.to_dict() for c in commands],
        "intent": dict(intent or {}),
        "retries": 0,
        "source": source,
    }
    pending = [e for e in session.pending_mac_commands if not (replace and e.get("cid") == cid)]
    pending.append(entry)
    session.pending_mac_commands = pending
    return entry


def entry_commands(entry: dict[str, Any]) -> list[MacCommand]:
    """The MAC commands of a pending entry (rebuilt from their dicts)."""
    return [mac_command_from_dict(dict(d)) for d in entry.get("commands", [])]


def mark_sent(session: DeviceSession, entries: Sequence[dict[str, Any]], f_cnt_down: int) -> None:
    """Move ``entries`` (sent in the downlink with counter ``f_cnt_down``) to the sent list."""
    ids = {id(e) for e in entries}
    session.pending_mac_commands = [e for e in session.pending_mac_commands if id(e) not in ids]
    sent = _sent(session)
    for e in entries:
        sent.append({**e, "f_cnt_down": f_cnt_down})


def take_sent(session: DeviceSession, request_cid: str) -> dict[str, Any] | None:
    """Remove and return the oldest sent entry of ``request_cid`` (None if there is none)."""
    sent = _sent(session)
    for i, entry in enumerate(sent):
        if entry.get("cid") == request_cid:
            return sent.pop(i)
    return None


def requeue_unanswered(session: DeviceSession, max_retries: int) -> list[dict[str, Any]]:
    """Requests sent but not answered by this uplink: queue them again, or give up after
    ``max_retries``. Returns the events."""
    events: list[dict[str, Any]] = []
    sent = _sent(session)
    pending_cids = {e.get("cid") for e in session.pending_mac_commands}
    for entry in sent:
        cid = entry.get("cid")
        retries = int(entry.get("retries", 0)) + 1
        if retries > max_retries:
            events.append(_event("mac_command_unanswered", cid=cid, retries=retries - 1))
            continue
        if cid in pending_cids:  # a newer request of the same kind supersedes it
            continue
        again = {k: v for k, v in entry.items() if k != "f_cnt_down"}
        again["retries"] = retries
        session.pending_mac_commands = [again, *session.pending_mac_commands]
    sent.clear()
    return events


# --------------------------------------------------------------------------- helpers


def gps_time_seconds(rx: Sequence[RxMetadata], now: datetime) -> float:
    """GPS time of the uplink: a gateway's GPS timestamp, else its UTC time, else ``now``."""
    for r in rx:
        if r.tmms is not None:
            return r.tmms / 1000.0
    for r in rx:
        if r.time is not None:
            return (r.time - GPS_EPOCH).total_seconds() + GPS_UTC_LEAP_SECONDS
    return (now - GPS_EPOCH).total_seconds() + GPS_UTC_LEAP_SECONDS


def link_margin(region: Region, dr: int, rx: Sequence[RxMetadata]) -> int:
    """LinkCheckAns margin: best SNR minus the demodulation floor of ``dr``, 0..254 dB."""
    snrs = [r.snr for r in rx if r.snr is not None]
    if not snrs:
        return 0
    try:
        floor = region.required_snr(dr)
    except InvalidParameter:
        return 0
    return max(0, min(254, round(max(snrs) - floor)))


# --------------------------------------------------------------------------- handlers

Handler = Callable[[DeviceSession, Any, MacContext], MacResult]


def handle_link_check_req(session: DeviceSession, cmd: LinkCheckReq, ctx: MacContext) -> MacResult:
    ans = LinkCheckAns(margin=link_margin(ctx.region, ctx.dr, ctx.rx), gw_cnt=min(255, len(ctx.rx)))
    return MacResult([ans], [_event("link_check", margin=ans.margin, gw_cnt=ans.gw_cnt)])


def handle_link_adr_ans(session: DeviceSession, cmd: LinkADRAns, ctx: MacContext) -> MacResult:
    entry = take_sent(session, "LinkADRReq")
    if entry is None:
        return MacResult(events=[_event("mac_answer_unexpected", cid="LinkADRAns")])
    intent = entry.get("intent", {})
    state = session.mac_command_state
    if cmd.all_ack:
        dr, power = intent.get("dr", KEEP), intent.get("tx_power_index", KEEP)
        if dr != KEEP:
            session.dr = int(dr)
        if power != KEEP:
            session.tx_power_index = int(power)
        if intent.get("channels") is not None:
            session.enabled_channels = sorted(int(c) for c in intent["channels"])
        if intent.get("nb_trans"):
            session.nb_trans = int(intent["nb_trans"])
        state.pop("link_adr_rejected", None)
        return MacResult(
            events=[
                _event(
                    "link_adr_applied",
                    dr=session.dr,
                    tx_power_index=session.tx_power_index,
                    nb_trans=session.nb_trans,
                    channels=session.enabled_channels,
                )
            ]
        )
    rejected: dict[str, Any] = {"f_cnt": ctx.f_cnt}
    if not cmd.data_rate_ack:
        rejected["dr"] = intent.get("dr")
    if not cmd.power_ack:
        rejected["tx_power_index"] = intent.get("tx_power_index")
    if not cmd.channel_mask_ack:
        rejected["channels"] = intent.get("channels")
    state["link_adr_rejected"] = rejected
    return MacResult(
        events=[
            _event(
                "link_adr_rejected",
                power_ack=cmd.power_ack,
                data_rate_ack=cmd.data_rate_ack,
                channel_mask_ack=cmd.channel_mask_ack,
                **{k: v for k, v in rejected.items() if k != "f_cnt"},
            )
        ]
    )


def handle_dev_status_ans(session: DeviceSession, cmd: DevStatusAns, ctx: MacContext) -> MacResult:
    take_sent(session, "DevStatusReq")
    session.mac_command_state["dev_status"] = {
        "battery": cmd.battery,
        "margin": cmd.margin,
        "f_cnt": ctx.f_cnt,
        "at": ctx.now.isoformat(),
    }
    return MacResult(events=[_event("dev_status", battery=cmd.battery, margin=cmd.margin)])


def handle_rx_param_setup_ans(
    session: DeviceSession, cmd: RXParamSetupAns, ctx: MacContext
) -> MacResult:
    entry = take_sent(session, "RXParamSetupReq")
    if entry is None:  # the device repeats the answer until it hears a downlink
        return MacResult()
    intent = entry.get("intent", {})
    if cmd.all_ack:
        session.rx1_dr_offset = int(intent["rx1_dr_offset"])
        session.rx2_dr = int(intent["rx2_dr"])
        session.rx2_freq = int(intent["rx2_freq"])
        session.mac_command_state.pop("rx_param_rejected", None)
        return MacResult(events=[_event("rx_param_setup_applied", **intent)])
    session.mac_command_state["rx_param_rejected"] = {**intent, "f_cnt": ctx.f_cnt}
    return MacResult(events=[_event("rx_param_setup_rejected", **cmd.to_dict())])


def handle_rx_timing_setup_ans(
    session: DeviceSession, cmd: RXTimingSetupAns, ctx: MacContext
) -> MacResult:
    entry = take_sent(session, "RXTimingSetupReq")
    if entry is None:
        return MacResult()
    session.rx1_delay = max(1, int(entry.get("intent", {}).get("rx1_delay", 1)))
    return MacResult(events=[_event("rx_timing_setup_applied", rx1_delay=session.rx1_delay)])


def handle_new_channel_ans(
    session: DeviceSession, cmd: NewChannelAns, ctx: MacContext
) -> MacResult:
    entry = take_sent(session, "NewChannelReq")
    if entry is None:
        return MacResult(events=[_event("mac_answer_unexpected", cid="NewChannelAns")])
    intent = entry.get("intent", {})
    if not (cmd.data_rate_range_ok and cmd.channel_freq_ok):
        return MacResult(events=[_event("new_channel_rejected", **cmd.to_dict(), **intent)])
    index, freq = int(intent["ch_index"]), int(intent["freq"])
    channels = session.mac_command_state.setdefault("channels", {})
    enabled = set(session.enabled_channels)
    if freq == 0:
        channels.pop(str(index), None)
        enabled.discard(index)
    else:
        channels[str(index)] = {
            "freq": freq,
            "min_dr": int(intent.get("min_dr", 0)),
            "max_dr": int(intent.get("max_dr", 5)),
        }
        enabled.add(index)
    session.enabled_channels = sorted(enabled)
    return MacResult(events=[_event("new_channel_applied", **intent)])


def handle_duty_cycle_ans(session: DeviceSession, cmd: DutyCycleAns, ctx: MacContext) -> MacResult:
    entry = take_sent(session, "DutyCycleReq")
    if entry is None:
        return MacResult()
    value = int(entry.get("intent", {}).get("max_duty_cycle", 0))
    session.mac_command_state["max_duty_cycle"] = value
    return MacResult(events=[_event("duty_cycle_applied", max_duty_cycle=value)])


def handle_dl_channel_ans(session: DeviceSession, cmd: DlChannelAns, ctx: MacContext) -> MacResult:
    entry = take_sent(session, "DlChannelReq")
    if entry is None:
        return MacResult()
    intent = entry.get("intent", {})
    if not (cmd.uplink_freq_exists and cmd.channel_freq_ok):
        return MacResult(events=[_event("dl_channel_rejected", **cmd.to_dict(), **intent)])
    dl = session.mac_command_state.setdefault("dl_channels", {})
    dl[str(int(intent["ch_index"]))] = int(intent["freq"])
    return MacResult(events=[_event("dl_channel_applied", **intent)])


def handle_tx_param_setup_ans(
    session: DeviceSession, cmd: TxParamSetupAns, ctx: MacContext
) -> MacResult:
    entry = take_sent(session, "TxParamSetupReq")
    if entry is None:
        return MacResult()
    session.mac_command_state["tx_param"] = dict(entry.get("intent", {}))
    return MacResult(events=[_event("tx_param_setup_applied", **entry.get("intent", {}))])


def handle_device_time_req(
    session: DeviceSession, cmd: DeviceTimeReq, ctx: MacContext
) -> MacResult:
    ans = DeviceTimeAns.from_gps_time(gps_time_seconds(ctx.rx, ctx.now))
    return MacResult([ans], [_event("device_time", gps_time=ans.gps_time)])


def handle_reset_ind(session: DeviceSession, cmd: ResetInd, ctx: MacContext) -> MacResult:
    """LoRaWAN 1.1 ABP device reset: answer with our minor version, reset the MAC state."""
    minor = min(cmd.minor_version, 1)
    session.pending_mac_commands = []
    session.mac_command_state = {}
    session.dr = ctx.dr
    session.tx_power_index = 0
    session.nb_trans = 1
    session.enabled_channels = [c.index for c in ctx.region.default_channels()]
    return MacResult([ResetConf(minor_version=minor)], [_event("reset", minor_version=minor)])


def handle_rekey_ind(session: DeviceSession, cmd: RekeyInd, ctx: MacContext) -> MacResult:
    """LoRaWAN 1.1 OTAA: the device confirms the new security context."""
    minor = min(cmd.minor_version, 1)
    session.mac_command_state.pop("rekey_pending", None)
    return MacResult([RekeyConf(minor_version=minor)], [_event("rekey", minor_version=minor)])


def handle_simple_answer(session: DeviceSession, cmd: MacCommand, ctx: MacContext) -> MacResult:
    """Answers that only close their request (ADRParamSetupAns, RejoinParamSetupAns, ...)."""
    request = ANSWER_OF.get(cmd.name())
    if request is not None:
        take_sent(session, request)
    return MacResult(events=[_event("mac_answer", **cmd.to_dict())])


HANDLERS: dict[type[MacCommand], Handler] = {
    LinkCheckReq: handle_link_check_req,
    LinkADRAns: handle_link_adr_ans,
    DevStatusAns: handle_dev_status_ans,
    RXParamSetupAns: handle_rx_param_setup_ans,
    RXTimingSetupAns: handle_rx_timing_setup_ans,
    NewChannelAns: handle_new_channel_ans,
    DutyCycleAns: handle_duty_cycle_ans,
    DlChannelAns: handle_dl_channel_ans,
    TxParamSetupAns: handle_tx_param_setup_ans,
    DeviceTimeReq: handle_device_time_req,
    ResetInd: handle_reset_ind,
    RekeyInd: handle_rekey_ind,
}


def _collapse_link_adr_answers(commands: Sequence[MacCommand]) -> list[MacCommand]:
    """A LinkADRReq block is answered by one LinkADRAns per request: merge consecutive ones
    (a bit is acknowledged only if every answer acknowledges it)."""
    out: list[MacCommand] = []
    for cmd in commands:
        prev = out[-1] if out else None
        if isinstance(cmd, LinkADRAns) and isinstance(prev, LinkADRAns):
            out[-1] = LinkADRAns(
                power_ack=prev.power_ack and cmd.power_ack,
                data_rate_ack=prev.data_rate_ack and cmd.data_rate_ack,
                channel_mask_ack=prev.channel_mask_ack and cmd.channel_mask_ack,
            )
        else:
            out.append(cmd)
    return out


def handle_uplink_commands(
    session: DeviceSession, commands: Sequence[MacCommand], ctx: MacContext
) -> MacResult:
    """Run every uplink MAC command through its handler, then requeue unanswered requests."""
    result = MacResult()
    for cmd in _collapse_link_adr_answers(commands):
        handler = HANDLERS.get(type(cmd))
        try:
            if handler is not None:
                result.extend(handler(session, cmd, ctx))
            elif cmd.name() in ANSWER_OF:
                result.extend(handle_simple_answer(session, cmd, ctx))
            else:
                result.events.append(_event("mac_command_ignored", cid=cmd.name()))
        except (LoRaWANError, KeyError, TypeError, ValueError) as exc:  # corrupt stored intent
            result.events.append(_event("mac_command_error", cid=cmd.name(), error=str(exc)))
    result.events.extend(requeue_unanswered(session, ctx.max_retries))
    return result


# --------------------------------------------------------------------------- request builders


def queue_link_adr(
    session: DeviceSession,
    region: Region,
    dr: int,
    tx_power_index: int,
    channels: Sequence[int],
    nb_trans: int = 1,
    source: str = "",
) -> dict[str, Any] | None:
    """Queue a LinkADRReq block for a link-adaptation decision.

    A value the device refused last time (``mac_command_state["link_adr_rejected"]``) is not
    sent again blindly: the current one is kept instead. Returns None (nothing queued) when
    the decision changes nothing.
    """
    rejected = session.mac_command_state.get("link_adr_rejected", {})
    wanted = sorted(set(channels)) or sorted(session.enabled_channels)
    if rejected.get("dr") == dr:
        dr = session.dr
    if rejected.get("tx_power_index") == tx_power_index:
        tx_power_index = session.tx_power_index
    if rejected.get("channels") is not None and sorted(rejected["channels"]) == wanted:
        wanted = sorted(session.enabled_channels)
    current = (
        session.dr,
        session.tx_power_index,
        sorted(session.enabled_channels),
        session.nb_trans,
    )
    if (dr, tx_power_index, wanted, nb_trans) == current:
        return None
    block = link_adr_block(region, wanted, dr, tx_power_index, nb_trans)
    intent = {"dr": dr, "tx_power_index": tx_power_index, "channels": wanted, "nb_trans": nb_trans}
    return queue_request(session, block, intent, source)
