"""The network side of the simulator, behind one small interface.

The radio engine hands every frame that at least one gateway demodulated to a
:class:`NetworkSide` (all gateway copies together) and offers it a :class:`DownlinkSink` to
ask gateways for class A downlinks. Two implementations are planned:

- :class:`PureNetwork` (here): an in-process stand-in for the network server — cross-gateway
  deduplication is implicit, confirmed frames are acknowledged, the rate-control policy is
  consulted and its LinkADRReq is sent; gateway choice is the best SNR, RX1 then RX2.
- live mode (later): forwards each gateway copy as a Semtech UDP PUSH_DATA to the real
  gateway bridge and turns its PULL_RESP messages into ``schedule_downlink`` calls, running on
  ``simpy.rt.RealtimeEnvironment``. ``schedule_downlink`` answers like a TX_ACK: ``None`` when
  accepted, else the refusal reason.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal, Protocol

from services.lorawan.airtime import time_on_air

from .frames import DOWNLINK_BASE_BYTES, JOIN_ACCEPT_BYTES, LINK_ADR_REQ_BYTES
from .frames import JOIN_REQUEST_BYTES as JOIN_REQUEST_BYTES  # (re-exported)
from .policy import LinkAdrDecision, PolicyRequest, RateControlPolicy, StaticPolicy, UplinkRecord
from .region import SimRegion


@dataclass(frozen=True, slots=True)
class GatewayRx:
    gw_idx: int
    gw_eui: str
    rssi_dbm: float
    snr_db: float


@dataclass(frozen=True, slots=True)
class UplinkFrame:
    dev_idx: int
    dev_eui: str
    f_cnt: int
    start_s: float
    end_s: float
    freq_hz: float
    sf: int
    bw_hz: int
    dr: int
    tx_power_index: int
    confirmed: bool
    link_adr_ans: bool
    channels_hz: tuple[float, ...]
    nb_trans: int
    gateways: tuple[GatewayRx, ...]
    join_request: bool = False


@dataclass(frozen=True, slots=True)
class DownlinkRequest:
    dev_idx: int
    gw_idx: int
    window: Literal["rx1", "rx2"]
    start_s: float
    freq_hz: float
    sf: int
    bw_hz: int
    tx_power_dbm: float
    phy_len: int
    f_cnt_up: int
    ack: bool
    link_adr: LinkAdrDecision | None
    join_accept: bool = False
    #: the network side's reference to this downlink (live mode), echoed to its
    #: ``on_downlink_received`` hook when the device hears it
    token: int = 0

    @property
    def duration_s(self) -> float:
        return time_on_air(self.phy_len, self.sf, self.bw_hz, crc=False)


class DownlinkSink(Protocol):
    def schedule_downlink(self, request: DownlinkRequest) -> str | None:
        """Ask a gateway to transmit; ``None`` when accepted, else why not (TX_ACK-like)."""
        ...


class NetworkSide(Protocol):
    """Receives the delivered uplinks. An implementation may set ``wants_all_uplinks = False``
    to be given only confirmed frames (the pure static case, a fast path)."""

    def attach(self, sink: DownlinkSink) -> None: ...

    def on_uplink(self, now: float, frame: UplinkFrame) -> None: ...


@dataclass(slots=True)
class _DeviceView:
    dr: int
    tx_power_index: int
    channels_hz: tuple[float, ...]
    nb_trans: int
    pending: LinkAdrDecision | None
    history: deque[UplinkRecord]


class PureNetwork:
    """In-process network server stand-in used in pure mode."""

    def __init__(self, region: SimRegion, policy: RateControlPolicy) -> None:
        self.region = region
        self.policy = policy
        self._static = isinstance(policy, StaticPolicy)
        self.wants_all_uplinks = not self._static
        self._sink: DownlinkSink | None = None
        self._views: dict[int, _DeviceView] = {}
        self._channel_airtime: dict[float, float] = {}
        self.decisions = 0

    def attach(self, sink: DownlinkSink) -> None:
        self._sink = sink

    def on_uplink(self, now: float, frame: UplinkFrame) -> None:
        if frame.join_request:
            self._send_downlink(frame, ack=False, link_adr=None, join_accept=True)
            return
        link_adr = None if self._static else self._rate_control(now, frame)
        if not frame.confirmed and link_adr is None:
            return
        self._send_downlink(frame, ack=frame.confirmed, link_adr=link_adr)

    # -- rate control ---------------------------------------------------------------------

    def _rate_control(self, now: float, frame: UplinkFrame) -> LinkAdrDecision | None:
        view = self._views.get(frame.dev_idx)
        if view is None:
            view = _DeviceView(
                frame.dr,
                frame.tx_power_index,
                frame.channels_hz,
                frame.nb_trans,
                None,
                deque(maxlen=max(self.policy.history_length, 1)),
            )
            self._views[frame.dev_idx] = view
        if frame.link_adr_ans and view.pending is not None:
            p = view.pending
            view.dr, view.tx_power_index, view.channels_hz, view.nb_trans = (
                p.dr,
                p.tx_power_index,
                p.channels_hz,
                p.nb_trans,
            )
            view.pending = None
        best = max(frame.gateways, key=lambda g: g.snr_db)
        airtime = frame.end_s - frame.start_s
        self._channel_airtime[frame.freq_hz] = (
            self._channel_airtime.get(frame.freq_hz, 0.0) + airtime
        )
        if self.policy.history_length > 0:
            view.history.append(
                UplinkRecord(
                    time_s=frame.end_s,
                    f_cnt=frame.f_cnt,
                    dr=frame.dr,
                    tx_power_index=frame.tx_power_index,
                    freq_hz=frame.freq_hz,
                    gateway_count=len(frame.gateways),
                    max_snr_db=best.snr_db,
                    max_rssi_dbm=max(g.rssi_dbm for g in frame.gateways),
                )
            )
        load = {f: a / now for f, a in self._channel_airtime.items()} if now > 0 else {}
        decision = self.policy.decide(
            PolicyRequest(
                dev_eui=frame.dev_eui,
                region=self.region.name,
                dr=view.dr,
                tx_power_index=view.tx_power_index,
                nb_trans=view.nb_trans,
                channels_hz=view.channels_hz,
                history=tuple(view.history),
                channel_load=load,
            )
        )
        if decision is None:
            return view.pending
        same = (
            decision.dr == view.dr
            and decision.tx_power_index == view.tx_power_index
            and tuple(decision.channels_hz) == tuple(view.channels_hz)
            and decision.nb_trans == view.nb_trans
        )
        if same:
            view.pending = None
            return None
        self.decisions += 1
        view.pending = decision
        return decision

    # -- downlink -------------------------------------------------------------------------

    def _send_downlink(
        self,
        frame: UplinkFrame,
        ack: bool,
        link_adr: LinkAdrDecision | None,
        join_accept: bool = False,
    ) -> None:
        assert self._sink is not None, "attach() the network to a simulation first"
        phy_len = DOWNLINK_BASE_BYTES + (LINK_ADR_REQ_BYTES if link_adr is not None else 0)
        if join_accept:
            phy_len = JOIN_ACCEPT_BYTES
        ranked = sorted(frame.gateways, key=lambda g: (-g.snr_db, g.gw_idx))
        r = self.region
        rx1_delay = r.join_accept_delay1_s if join_accept else r.rx1_delay_s
        for g in ranked:
            req = DownlinkRequest(
                dev_idx=frame.dev_idx,
                gw_idx=g.gw_idx,
                window="rx1",
                start_s=frame.end_s + rx1_delay,
                freq_hz=frame.freq_hz,
                sf=frame.sf,
                bw_hz=frame.bw_hz,
                tx_power_dbm=r.rx1_gateway_power_dbm,
                phy_len=phy_len,
                f_cnt_up=frame.f_cnt,
                ack=ack,
                link_adr=link_adr,
                join_accept=join_accept,
            )
            if self._sink.schedule_downlink(req) is None:
                return
        rx2 = r.data_rates[r.rx2_dr]
        for g in ranked:
            req = DownlinkRequest(
                dev_idx=frame.dev_idx,
                gw_idx=g.gw_idx,
                window="rx2",
                start_s=frame.end_s + rx1_delay + 1.0,
                freq_hz=r.rx2_freq_hz,
                sf=rx2.sf,
                bw_hz=rx2.bw_hz,
                tx_power_dbm=r.rx2_gateway_power_dbm,
                phy_len=phy_len,
                f_cnt_up=frame.f_cnt,
                ack=ack,
                link_adr=link_adr,
                join_accept=join_accept,
            )
            if self._sink.schedule_downlink(req) is None:
                return
