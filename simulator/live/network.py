"""Live mode's :class:`~simulator.network.NetworkSide`: the simulated gateways forward every
frame they demodulated to a running HyperLoRa over Semtech UDP, and the downlinks the server
sends back are delivered to the simulated devices through the radio model.

Uplink: the engine hands over a frame with the gateways that received it; the device builds
the real PHYPayload (:class:`~simulator.live.device.LiveDevice`), and each of those gateways
sends one PUSH_DATA ``rxpk`` stamped with its own ``tmst`` for the end of the frame (computed
from simulated time), the RSSI and SNR the radio model gave, frequency, data rate and coding
rate.

Downlink: a PULL_RESP's ``txpk.tmst`` is matched against the uplinks that gateway forwarded:
it must name the RX1 or RX2 window of one of them (JOIN_ACCEPT_DELAY1/2 for a join request,
the session's RECEIVE_DELAY1 and +1 s otherwise), and the frame must open with that device's
keys (JoinAccept MIC, DevAddr, FCntDown, MIC). The window's radio parameters are checked (RX1:
uplink frequency and the region's RX1 data rate for the session's RX1DROffset; RX2: the
session's RX2 frequency and data rate). A match becomes a ``DownlinkRequest`` in the engine,
which applies the radio model (gateway busy, duty cycle, half duplex, the device's
sensitivity) and answers like a gateway: the verdict goes back in TX_ACK. When the engine says
the device heard it, :meth:`LiveNetwork.on_downlink_received` commits it: session keys from a
JoinAccept; FCntDown, ACK, MAC commands (LinkADRReq changes data rate, power, channels and
NbTrans; the answers ride in the next uplink's FOpts) from a data downlink.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import random
import select
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from services.gateway_bridge.semtech import PullResp, TxAckError
from services.lorawan import EUI64, LoRaWANError, MacVersion, MType
from services.lorawan.region import Region, get_region

from ..network import DownlinkRequest, UplinkFrame
from ..policy import LinkAdrDecision
from ..radio import noise_floor_dbm
from .device import DownlinkRejected, JoinResult, LiveDevice, OpenedDownlink, derive_root_key
from .env import LiveEnvironment
from .gateway import GatewayClient
from .mac import MacEffect, RadioState, evaluate
from .rxpk import build_rxpk, parse_datr
from .timing import U32, match_window, sim_time_of, tmst_at, tmst_delta

if TYPE_CHECKING:
    from ..engine import Simulation

log = logging.getLogger("hyperlora.simulator.live")

HoldPolicy = Literal["none", "expected", "all"]
#: uplinks kept for window matching (simulated seconds; JOIN_ACCEPT_DELAY2 is 6 s)
RECENT_S = 30.0
DEFAULT_JOIN_EUI = "70B3D57ED0000000"

_ENGINE_TO_TX_ACK = {
    None: TxAckError.NONE,
    "too_late": TxAckError.TOO_LATE,
    "collision_packet": TxAckError.COLLISION_PACKET,
    # a Semtech v2 forwarder has no duty-cycle verdict; a busy transmitter is the closest one
    "duty_cycle": TxAckError.COLLISION_PACKET,
}


@dataclass(frozen=True, slots=True)
class LiveOptions:
    speed: float = 10.0
    f_port: int = 1
    #: root keys are derived from this secret and the DevEUI (None: "<scenario>:<seed>")
    key_secret: str | None = None
    join_eui: str = DEFAULT_JOIN_EUI
    mac_version: str = "1.0.3"
    #: first DevNonce of every device (None: derived from the wall clock, so that a later run
    #: against the same server does not reuse nonces)
    dev_nonce_start: int | None = None
    #: which uplinks hold the simulated clock at their RX1 window until the server answered
    hold: HoldPolicy = "expected"
    #: how long (wall seconds after the uplink was forwarded) a hold waits for the server
    answer_timeout_s: float = 1.5
    tolerance_us: int = 2
    keepalive_s: float = 5.0
    stat_interval_s: float = 30.0
    connect_timeout_s: float = 5.0
    #: wall seconds to keep reading after the last event (late PUSH_ACKs and PULL_RESPs)
    drain_s: float = 1.0


@dataclass(slots=True)
class _Sent:
    """One uplink as one gateway forwarded it."""

    dev_idx: int
    tmst: int
    end_s: float
    f_cnt: int  # engine frame number (wire FCnt + 1); 0 for a join request
    join_seq: int  # which join request of the device (join requests only)
    dr: int
    freq_hz: float

    @property
    def join(self) -> bool:
        return self.join_seq > 0


@dataclass(slots=True)
class LiveStats:
    """What the simulator counts on its side of the wire."""

    frames_sent: int = 0  # data frames the devices generated (engine)
    transmissions: int = 0  # data transmissions incl. repetitions (engine)
    uplinks_forwarded: int = 0  # distinct data frames forwarded by >= 1 gateway ("delivered")
    uplink_transmissions_forwarded: int = 0  # transmissions forwarded by >= 1 gateway
    rxpk_forwarded: int = 0  # gateway copies (rxpk objects) sent over UDP
    join_requests_sent: int = 0
    join_requests_forwarded: int = 0
    joined: int = 0  # devices that received and accepted a JoinAccept
    join_accepts_received: int = 0
    downlinks_received: int = 0  # data downlinks the devices heard and accepted
    acks_received: int = 0
    app_downlinks_received: int = 0
    mac_commands_received: dict[str, int] = field(default_factory=dict)
    link_adr_applied: int = 0
    link_adr_rejected: int = 0
    pull_resps: int = 0
    downlinks_matched: int = 0
    downlinks_late: int = 0  # matched, but the simulated clock was already past the window
    downlinks_refused: dict[str, int] = field(default_factory=dict)  # TX_ACK errors we sent
    downlinks_unmatched: dict[str, int] = field(default_factory=dict)
    downlinks_wrong_params: int = 0
    forwarded_per_device: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "frames_sent": self.frames_sent,
            "transmissions": self.transmissions,
            "uplinks_forwarded": self.uplinks_forwarded,
            "uplink_transmissions_forwarded": self.uplink_transmissions_forwarded,
            "rxpk_forwarded": self.rxpk_forwarded,
            "join_requests_sent": self.join_requests_sent,
            "join_requests_forwarded": self.join_requests_forwarded,
            "joined": self.joined,
            "join_accepts_received": self.join_accepts_received,
            "downlinks_received": self.downlinks_received,
            "acks_received": self.acks_received,
            "app_downlinks_received": self.app_downlinks_received,
            "mac_commands_received": dict(self.mac_commands_received),
            "link_adr_applied": self.link_adr_applied,
            "link_adr_rejected": self.link_adr_rejected,
            "pull_resps": self.pull_resps,
            "downlinks_matched": self.downlinks_matched,
            "downlinks_late": self.downlinks_late,
            "downlinks_refused": dict(self.downlinks_refused),
            "downlinks_unmatched": dict(self.downlinks_unmatched),
            "downlinks_wrong_params": self.downlinks_wrong_params,
            "forwarded_per_device": dict(self.forwarded_per_device),
        }


def _bump(d: dict[str, int], key: str, n: int = 1) -> None:
    d[key] = d.get(key, 0) + n


def default_dev_nonce_start() -> int:
    """Increases by one every 10 s of wall clock (wrapping after about a week), so a new run
    against the same server starts above the nonces an earlier run used."""
    return int(time.time() / 10) % 0xF000


class LiveConnectionError(RuntimeError):
    """The server did not answer the gateways' PULL_DATA."""


class LiveNetwork:
    """The network side of live mode (see the module docstring)."""

    wants_all_uplinks = True

    def __init__(self, server: tuple[str, int], options: LiveOptions | None = None) -> None:
        self.server = server
        self.options = options or LiveOptions()
        self.stats = LiveStats()
        self.sim: Simulation | None = None
        self.env: LiveEnvironment | None = None
        self.region: Region | None = None
        self.devices: list[LiveDevice] = []
        self.gateways: list[GatewayClient] = []
        self._offsets: list[int] = []
        self._recent: list[deque[_Sent]] = []
        self._join_seq: list[int] = []
        self._last_forwarded: list[int] = []
        self._pending: dict[int, tuple[float, JoinResult | tuple[OpenedDownlink, MacEffect]]] = {}
        self._tokens = itertools.count(1)
        self._payload_cache: dict[int, bytes] = {}

    # ------------------------------------------------------------------ set-up

    def attach(self, sink: object) -> None:
        from ..engine import Simulation

        assert isinstance(sink, Simulation), "live mode runs on simulator.engine.Simulation"
        self.sim = sink
        if not isinstance(sink.env, LiveEnvironment):
            raise TypeError("live mode needs Simulation(..., env=LiveEnvironment(speed))")
        self.env = sink.env
        sc = sink.sc
        self.region = get_region(sc.region)
        o = self.options
        secret = o.key_secret if o.key_secret is not None else f"{sc.name}:{sc.seed}"
        version = MacVersion.parse(o.mac_version)
        start = o.dev_nonce_start if o.dev_nonce_start is not None else default_dev_nonce_start()
        join_eui = EUI64.from_hex(o.join_eui)
        for dev in sink.devices:
            self.devices.append(
                LiveDevice(
                    dev_eui=EUI64.from_hex(dev.dev_eui),
                    join_eui=join_eui,
                    nwk_key=derive_root_key(secret, dev.dev_eui, "nwk_key"),
                    app_key=derive_root_key(secret, dev.dev_eui, "app_key")
                    if version.is_11
                    else None,
                    mac_version=version,
                    next_dev_nonce=start,
                )
            )
        rng = random.Random(f"{sc.seed}:tmst")
        self._offsets = [rng.randrange(U32) for _ in sink.gateways]
        self._recent = [deque() for _ in sink.gateways]
        self._join_seq = [0] * len(sink.devices)
        self._last_forwarded = [-1] * len(sink.devices)

    def connect(self) -> None:
        """Open one UDP socket per gateway and wait for the server's PULL_ACKs."""
        sim = self.sim
        assert sim is not None, "attach() first"
        o = self.options
        for gw in sim.gateways:
            self.gateways.append(
                GatewayClient(
                    gw.gw_eui,
                    self.server,
                    keepalive_s=o.keepalive_s,
                    stat_interval_s=o.stat_interval_s,
                )
            )
        deadline = time.monotonic() + o.connect_timeout_s
        for g in self.gateways:
            g.pull_data()
        while any(g.counters.pull_acks == 0 for g in self.gateways):
            if time.monotonic() > deadline:
                self.close()
                raise LiveConnectionError(
                    f"no PULL_ACK from {self.server[0]}:{self.server[1]} within "
                    f"{o.connect_timeout_s} s: is HyperLoRa running there?"
                )
            self.pump(0.05)
            for g in self.gateways:
                if g.counters.pull_acks == 0 and g.counters.pull_data < 20:
                    g.pull_data()

    def close(self) -> None:
        for g in self.gateways:
            g.close()
        self.gateways = []

    def device_keys(self) -> list[dict[str, str]]:
        """What provisioning needs for every device: dev_eui, join_eui, nwk_key (app_key)."""
        out = []
        for d in self.devices:
            item = {
                "dev_eui": str(d.dev_eui),
                "join_eui": str(d.join_eui),
                "nwk_key": d.nwk_key.value.hex(),
            }
            if d.app_key is not None:
                item["app_key"] = d.app_key.value.hex()
            out.append(item)
        return out

    # ------------------------------------------------------------------ uplink

    def _payload(self, dev_idx: int, f_cnt: int, size: int) -> bytes:
        head = f_cnt.to_bytes(4, "big") + dev_idx.to_bytes(4, "big")
        return (head * (size // 8 + 1))[:size]

    def on_uplink(self, now: float, frame: UplinkFrame) -> None:
        sim, env, region = self.sim, self.env, self.region
        assert sim is not None and env is not None and region is not None
        i = frame.dev_idx
        ld = self.devices[i]
        st = self.stats
        if frame.join_request:
            phy = ld.join_request()
            self._join_seq[i] += 1
            join_seq = self._join_seq[i]
            f_cnt = 0
            st.join_requests_forwarded += 1
            delay = float(region.join_accept_delay1_s)
        else:
            s = ld.session
            if s is None:  # cannot happen: the engine sends data only once joined
                log.warning("simulator.live.not_joined dev_eui=%s", frame.dev_eui)
                return
            join_seq = 0
            f_cnt = frame.f_cnt
            ch_index = next((k for k, f in s.channels.items() if f == round(frame.freq_hz)), 0)
            max_n = region.max_payload(frame.dr).n - 15
            size = min(sim.sc.devices.traffic.payload_bytes, max(max_n, 0))
            phy = ld.uplink(
                f_cnt=frame.f_cnt - 1,
                f_port=self.options.f_port,
                payload=self._payload(i, frame.f_cnt - 1, size),
                confirmed=frame.confirmed,
                dr=frame.dr,
                ch_index=ch_index,
            )
            st.uplink_transmissions_forwarded += 1
            if self._last_forwarded[i] != frame.f_cnt:
                self._last_forwarded[i] = frame.f_cnt
                st.uplinks_forwarded += 1
                _bump(st.forwarded_per_device, str(ld.dev_eui))
            delay = float(s.rx.rx1_delay_s)
        cr = sim.sc.devices.cr
        for g in frame.gateways:
            tmst = tmst_at(self._offsets[g.gw_idx], frame.end_s)
            rxpk = build_rxpk(
                phy,
                tmst=tmst,
                freq_hz=frame.freq_hz,
                sf=frame.sf,
                bw_hz=frame.bw_hz,
                cr=cr,
                rssi_dbm=g.rssi_dbm,
                snr_db=g.snr_db,
                chan=0,
            )
            self.gateways[g.gw_idx].push([rxpk])
            st.rxpk_forwarded += 1
            self._recent[g.gw_idx].append(
                _Sent(i, tmst, frame.end_s, f_cnt, join_seq, frame.dr, frame.freq_hz)
            )
        hold = self.options.hold
        if hold == "all" or (hold == "expected" and (frame.join_request or frame.confirmed)):
            env.hold(("dev", i), frame.end_s + delay, self.options.answer_timeout_s)

    # ------------------------------------------------------------------ I/O pump

    def pump(self, timeout: float) -> None:
        """Read what the server sent (waiting up to ``timeout`` wall seconds for something),
        answer it, and send the keepalives that are due."""
        if not self.gateways:
            return
        if timeout > 0:
            with contextlib.suppress(InterruptedError):
                select.select(self.gateways, [], [], timeout)
        for idx, g in enumerate(self.gateways):
            for resp in g.poll():
                self._on_pull_resp(idx, resp)
            g.tick()

    def drain(self, seconds: float | None = None) -> None:
        end = time.monotonic() + (self.options.drain_s if seconds is None else seconds)
        while time.monotonic() < end:
            self.pump(min(0.05, max(0.0, end - time.monotonic())))

    # ------------------------------------------------------------------ downlink

    def _expected_params(self, sent: _Sent, window: str, ld: LiveDevice) -> tuple[int, int]:
        """(frequency Hz, data rate) the device listens on in ``window`` of ``sent``."""
        region = self.region
        assert region is not None
        s = ld.session
        if window == "rx1":
            offset = 0 if sent.join or s is None else s.rx.rx1_dr_offset
            return region.rx1_frequency(round(sent.freq_hz)), region.rx1_dr(sent.dr, offset)
        if sent.join or s is None:
            return region.rx2_frequency_hz, region.rx2_dr
        return s.rx.rx2_freq_hz, s.rx.rx2_dr

    def _on_pull_resp(self, gw_idx: int, resp: PullResp) -> None:
        sim, env, region = self.sim, self.env, self.region
        assert sim is not None and env is not None and region is not None
        st = self.stats
        st.pull_resps += 1
        client = self.gateways[gw_idx]
        txpk = resp.txpk
        now = env.now
        gw_tmst_now = tmst_at(self._offsets[gw_idx], now)
        recent = self._recent[gw_idx]
        while recent and recent[0].end_s < now - RECENT_S:
            recent.popleft()
        for tok in [t for t, (at, _) in self._pending.items() if at < now - RECENT_S]:
            del self._pending[tok]
        data = txpk.data
        reason = "no_window"
        if txpk.tmst is None or not data:
            reason = "no_tmst"
        else:
            is_join = data[0] >> 5 == MType.JOIN_ACCEPT.value
            for sent in reversed(recent):
                ld = self.devices[sent.dev_idx]
                if sent.join != is_join:
                    continue
                s = ld.session
                delay = region.join_accept_delay1_s if sent.join else (s.rx.rx1_delay_s if s else 1)
                window = match_window(txpk.tmst, sent.tmst, delay, self.options.tolerance_us)
                if window is None:
                    continue
                if sent.join and sent.join_seq != self._join_seq[sent.dev_idx]:
                    reason = "stale_join_request"
                    continue
                if not sent.join and sent.f_cnt != self._last_forwarded[sent.dev_idx]:
                    reason = "stale_uplink"
                    continue
                try:
                    opened: JoinResult | OpenedDownlink = (
                        ld.open_join_accept(data) if sent.join else ld.open_downlink(data)
                    )
                except DownlinkRejected as exc:
                    reason = exc.reason
                    continue
                self._deliver(gw_idx, resp, sent, window, opened)
                return
        _bump(st.downlinks_unmatched, reason)
        late = txpk.tmst is not None and tmst_delta(txpk.tmst, gw_tmst_now) < 0
        client.tx_ack(resp.token, TxAckError.TOO_LATE if late else TxAckError.NONE)

    def _deliver(
        self,
        gw_idx: int,
        resp: PullResp,
        sent: _Sent,
        window: Literal["rx1", "rx2"],
        opened: JoinResult | OpenedDownlink,
    ) -> None:
        sim, env, region = self.sim, self.env, self.region
        assert sim is not None and env is not None and region is not None
        st = self.stats
        st.downlinks_matched += 1
        client = self.gateways[gw_idx]
        ld = self.devices[sent.dev_idx]
        txpk = resp.txpk
        assert txpk.tmst is not None
        freq_hz = round((txpk.freq or 0.0) * 1e6)
        try:
            sf_bw = parse_datr(txpk.datr)
        except LoRaWANError:
            sf_bw = None
        want_freq, want_dr = self._expected_params(sent, window, ld)
        try:
            got_dr = region.dr_for(sf_bw[0], sf_bw[1], uplink=False) if sf_bw else -1
        except LoRaWANError:
            got_dr = -1
        env.release(("dev", sent.dev_idx))
        if abs(freq_hz - want_freq) > 100 or got_dr != want_dr or sf_bw is None:
            st.downlinks_wrong_params += 1
            log.warning(
                "simulator.live.downlink_wrong_params dev_eui=%s window=%s freq_hz=%d/%d "
                "dr=%d/%d",
                ld.dev_eui, window, freq_hz, want_freq, got_dr, want_dr,
            )  # fmt: skip
            client.tx_ack(resp.token, TxAckError.NONE)
            return
        start = sim_time_of(txpk.tmst, sent.tmst, sent.end_s)
        if start < env.now:
            st.downlinks_late += 1
            start = env.now
        link_adr = None
        payload: JoinResult | tuple[OpenedDownlink, MacEffect]
        if isinstance(opened, JoinResult):
            payload = opened
            ack = False
        else:
            eff = self._evaluate(sent.dev_idx, opened, gw_idx)
            payload = (opened, eff)
            ack = opened.ack
            if eff.radio is not None and ld.session is not None:
                chans = ld.session.channels
                link_adr = LinkAdrDecision(
                    dr=eff.radio.dr,
                    tx_power_index=eff.radio.tx_power_index,
                    channels_hz=tuple(float(chans[k]) for k in sorted(eff.radio.enabled)),
                    nb_trans=eff.radio.nb_trans,
                )
        token = next(self._tokens)
        self._pending[token] = (env.now, payload)
        req = DownlinkRequest(
            dev_idx=sent.dev_idx,
            gw_idx=gw_idx,
            window=window,
            start_s=start,
            freq_hz=float(freq_hz),
            sf=sf_bw[0],
            bw_hz=sf_bw[1],
            tx_power_dbm=float(
                txpk.powe if txpk.powe is not None else sim.region.rx1_gateway_power_dbm
            ),
            phy_len=len(txpk.data),
            f_cnt_up=sent.f_cnt if not sent.join else 0,
            ack=ack,
            link_adr=link_adr,
            join_accept=sent.join,
            token=token,
        )
        verdict = sim.schedule_downlink(req)
        error = _ENGINE_TO_TX_ACK.get(verdict, TxAckError.COLLISION_PACKET)
        if verdict is not None:
            self._pending.pop(token, None)
            _bump(st.downlinks_refused, error.value)
            if window == "rx1" and self.options.hold != "none":
                # the server retries in RX2 on a TX_ACK error: wait for that one too
                rx2_start = sim_time_of((txpk.tmst + 1_000_000) % U32, sent.tmst, sent.end_s)
                env.hold(("dev", sent.dev_idx), rx2_start, self.options.answer_timeout_s)
        client.tx_ack(resp.token, error)

    def _evaluate(self, dev_idx: int, dl: OpenedDownlink, gw_idx: int) -> MacEffect:
        sim, region = self.sim, self.region
        assert sim is not None and region is not None
        dev = sim.devices[dev_idx]
        s = self.devices[dev_idx].session
        assert s is not None
        radio = RadioState(
            dr=sim.region.dr_of(dev.sf, dev.bw_hz),
            tx_power_index=sim.region.tx_power_index_of(dev.tx_power_dbm),
            nb_trans=dev.nb_trans,
            enabled=frozenset(k for k, f in s.channels.items() if f in dev.channels_hz),
        )
        loss = dev.links[gw_idx][1]
        snr = sim.region.rx1_gateway_power_dbm - loss - noise_floor_dbm(dev.bw_hz)
        return evaluate(
            dl.commands,
            radio=radio,
            rx=s.rx,
            channels=s.channels,
            region=region,
            sim=sim.region,
            margin_db=snr,
        )

    # ------------------------------------------------------------------ engine hook

    def on_downlink_received(self, now: float, req: DownlinkRequest) -> None:
        """Called by the engine when the device heard ``req`` (commit its effects)."""
        item = self._pending.pop(req.token, None)
        if item is None:
            return
        region = self.region
        assert region is not None
        ld = self.devices[req.dev_idx]
        st = self.stats
        payload = item[1]
        if isinstance(payload, JoinResult):
            defaults = {c.index: c.frequency_hz for c in region.default_channels()}
            ld.commit_join(payload, defaults, region.rx2_frequency_hz)
            st.joined += 1
            st.join_accepts_received += 1
            return
        opened, eff = payload
        ld.commit_downlink(opened, eff.answers)
        s = ld.session
        assert s is not None
        if eff.rx is not None:
            s.rx = eff.rx
        if eff.channels is not None:
            s.channels = eff.channels
        st.downlinks_received += 1
        if opened.ack:
            st.acks_received += 1
        if opened.app_frame:
            st.app_downlinks_received += 1
        for cmd in opened.commands:
            _bump(st.mac_commands_received, type(cmd).__name__)
        st.link_adr_rejected += eff.link_adr_rejected
        if eff.radio is not None:
            st.link_adr_applied += 1

    # ------------------------------------------------------------------ results

    def finish(self) -> LiveStats:
        sim, env = self.sim, self.env
        assert sim is not None and env is not None
        m = sim.metrics
        st = self.stats
        st.frames_sent = m.frames
        st.transmissions = m.transmissions
        st.join_requests_sent = m.join_requests
        return st

    def gateway_counters(self) -> dict[str, dict[str, object]]:
        return {str(g.gw_eui): g.counters.as_dict() for g in self.gateways}
