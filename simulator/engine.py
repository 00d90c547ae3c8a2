"""The radio engine: an event-driven core on a SimPy environment.

SimPy is the clock and the event queue; packets are not SimPy processes. Each transmission
costs two events (start, end) plus, only when needed, one at the end of its receive windows
and one per downlink. Interference is checked against the frames on air at the same gateway
on overlapping frequencies (``Gateway.active``, one short list per frequency), never by
scanning all frames. Using ``simpy.Environment`` means live mode can swap in
``simpy.rt.RealtimeEnvironment`` and run the same engine against the real server.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, cast

from services.lorawan.airtime import symbol_time, time_on_air

from . import radio
from .energy import rx_energy_j, tx_energy_j
from .entities import Device, Gateway, Reception, Transmission
from .frames import JOIN_REQUEST_BYTES
from .metrics import MetricsCollector, SimulationResult
from .placement import place_gateways, uniform_in_area
from .region import get_sim_region
from .results import build_result
from .scenario import Scenario

if TYPE_CHECKING:
    import simpy

    # the network side and the policy registry are imported by the event engine only (a
    # fast-path run, open loop and always the static policy, needs neither)
    from .network import DownlinkRequest, NetworkSide
    from .policy import RateControlPolicy

#: symbols a class A device listens for a preamble in a receive window with nothing in it
RX_WINDOW_SYMBOLS = 6


@dataclass(slots=True)
class _Profile:
    toa: float
    energy_j: float
    join_toa: float
    join_energy_j: float
    reach: list[tuple[Gateway, float]]
    chan_bands: tuple[tuple[float, str, float], ...]
    #: the sub-band shared by all channels, if they share one (fast path)
    one_band: str | None
    grace: float


def _new_environment() -> simpy.Environment:
    import simpy

    return simpy.Environment()


@lru_cache(maxsize=4096)
def _toa(phy_len: int, sf: int, bw_hz: int, cr: int) -> float:
    return time_on_air(phy_len, sf, bw_hz, cr=cr)


class Simulation:
    """One scenario run. Build it, then :meth:`run` it once."""

    def __init__(
        self,
        scenario: Scenario,
        network: NetworkSide | None = None,
        policy: RateControlPolicy | None = None,
        env: simpy.Environment | None = None,
    ) -> None:
        self.sc = scenario
        self.region = get_sim_region(scenario.region)
        from .fast import choose_engine

        custom = network is not None or policy is not None or env is not None
        #: "fast" (vectorized open-loop path, simulator/fast.py) or "simpy"
        self.engine = choose_engine(scenario, custom, self.region)
        if env is not None or self.engine == "simpy":
            self.env = env if env is not None else _new_environment()
        if self.engine == "simpy":  # (a caller's network, policy or environment means simpy)
            from .network import PureNetwork
            from .policy import get_policy

            self.policy = policy if policy is not None else get_policy(scenario.policy)
            self.network = network if network is not None else PureNetwork(self.region, self.policy)
        seed = scenario.seed
        self._rng = random.Random(f"{seed}:traffic")
        rc = scenario.reception
        self._capture = rc.capture_threshold_db
        self._preamble_rule = rc.preamble_rule
        self._inter_sf = rc.inter_sf
        self._paths = rc.demodulator_paths
        self._half_duplex = rc.half_duplex
        self._nf = rc.noise_figure_db
        tr = scenario.devices.traffic
        self._phy_len = tr.payload_bytes + tr.phy_overhead_bytes
        self._period = tr.period_s
        self._poisson = tr.kind == "poisson"
        self._jitter = tr.jitter_s
        self._gap_after_tx = tr.interval_after_tx
        self._confirmed = tr.confirmed
        self._max_retx = tr.max_retransmissions
        self._class_a = scenario.class_a
        self._duty = scenario.duty_cycle
        self._voltage = scenario.devices.voltage_v
        self._end = scenario.duration_s
        self._noise: dict[int, float] = {}
        self._listen: dict[int, tuple[float, float]] = {}
        self._bin_scale = scenario.time_bins / scenario.duration_s
        self._last_bin = scenario.time_bins - 1
        self._neighbours: dict[tuple[float, int], tuple[float, ...]] = {}
        self._freqs: set[float] = set()
        self._band_cache: dict[float, tuple[str, float]] = {}
        self.metrics = MetricsCollector(scenario.duration_s, scenario.time_bins)
        self.gateways: list[Gateway] = []
        self.devices: list[Device] = []
        self._build()
        if self.engine == "simpy":
            self._attach_network()
        self._ran = False

    def _attach_network(self) -> None:
        self.network.attach(self)
        self._wants_all = bool(getattr(self.network, "wants_all_uplinks", True))
        #: optional network-side hook: a downlink the device heard (live mode commits it)
        self._on_dl_received: Callable[[float, DownlinkRequest], None] | None = getattr(
            self.network, "on_downlink_received", None
        )

    #: the SimPy clock and event queue; a fast-path run creates it only if it is asked for
    env: simpy.Environment
    #: the rate-control policy and the network side (``PureNetwork`` unless the caller gave
    #: one); a fast-path run creates them only if they are asked for
    policy: RateControlPolicy
    network: NetworkSide

    @property
    def policy_name(self) -> str:
        """The rate-control policy's name, without creating the policy on the fast path (which
        runs only the scenario's ``static`` policy)."""
        policy = vars(self).get("policy")
        return self.sc.policy if policy is None else str(policy.name)

    if not TYPE_CHECKING:  # (kept from mypy so that unknown attributes stay type errors)

        def __getattr__(self, name: str) -> object:
            # reached only when ``env``, ``policy`` or ``network`` was never set (fast path):
            # SimPy, the policy registry and the network side are imported on demand
            if name == "env":
                env = self.env = _new_environment()
                return env
            if name == "policy":
                from .policy import get_policy

                policy = self.policy = get_policy(self.sc.policy)
                return policy
            if name in ("network", "_wants_all", "_on_dl_received"):
                # (the event engine's code, driven on a fast-path Simulation by a test
                # harness, reads the last two: they come with the attached network side)
                from .network import PureNetwork

                self.network = PureNetwork(self.region, self.policy)
                self._attach_network()
                return getattr(self, name)
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # -- construction ---------------------------------------------------------------------

    def _radius(self) -> float:
        sc = self.sc
        if sc.area.radius_m is not None:
            return sc.area.radius_m
        dc = sc.devices
        if dc.sf_assignment == "fixed":
            sens = self._sens(dc.sf, dc.bw_hz)
        else:
            sens = min(self._sens(sf, dc.bw_hz) for sf in range(7, 13))
        budget = dc.tx_power_dbm + sc.path_loss.antenna_gain_db - sens
        pl = sc.path_loss
        return radio.max_distance_m(budget, pl.d0_m, pl.pl_d0_db, pl.gamma)

    def _build(self) -> None:
        sc = self.sc
        seed = sc.seed
        place_rng = random.Random(f"{seed}:placement")
        shadow_rng = random.Random(f"{seed}:shadowing")
        sf_rng = random.Random(f"{seed}:sf")
        radius = self._radius()
        self.radius_m = radius
        for i, (x, y) in enumerate(place_gateways(place_rng, sc.gateways, sc.area, radius)):
            self.gateways.append(Gateway(i, f"{0xAA555A0000000000 + i:016x}", x, y))
        dc = sc.devices
        channels = tuple(dc.channels_hz) if dc.channels_hz else self.region.default_channels_hz
        pl = sc.path_loss
        for i in range(dc.count):
            x, y = uniform_in_area(place_rng, sc.area, radius)
            links = []
            for g in self.gateways:
                d = math.hypot(x - g.x, y - g.y)
                loss = radio.path_loss_db(d, pl.d0_m, pl.pl_d0_db, pl.gamma)
                loss += radio.shadowing_db(shadow_rng, pl.sigma_db) - pl.antenna_gain_db
                links.append((g.idx, loss))
            sf = dc.sf
            if dc.sf_assignment == "random":
                sf = sf_rng.randint(7, 12)
            elif dc.sf_assignment == "min_airtime":
                best = min(loss for _, loss in links)
                sf = 12
                for cand in range(7, 13):
                    if dc.tx_power_dbm - best >= self._sens(cand, dc.bw_hz):
                        sf = cand
                        break
            self.devices.append(
                Device(
                    idx=i,
                    dev_eui=f"{0x70B3D57ED0000000 + i:016x}",
                    x=x,
                    y=y,
                    sf=sf,
                    bw_hz=dc.bw_hz,
                    cr=dc.cr,
                    tx_power_dbm=dc.tx_power_dbm,
                    channels_hz=channels,
                    nb_trans=dc.nb_trans,
                    links=links,
                )
            )

    # -- helpers --------------------------------------------------------------------------

    def _at(self, delay: float, fn: Callable[..., None], *args: object) -> None:
        ev = self.env.timeout(delay)
        ev.callbacks.append(lambda _e: fn(*args))

    def _sens(self, sf: int, bw_hz: int) -> float:
        """Sensitivity under the scenario's model: the measured table, or noise + SNR floor."""
        if self.sc.reception.sensitivity == "snr":
            return radio.snr_sensitivity_dbm(sf, bw_hz, self._nf)
        return radio.sensitivity_dbm(sf, bw_hz)

    def _band(self, freq: float) -> tuple[str, float]:
        b = self._band_cache.get(freq)
        if b is None:
            sb = self.region.sub_band_of(freq)
            b = (sb.name, sb.duty_cycle) if sb is not None else ("none", 1.0)
            self._band_cache[freq] = b
        return b

    def _overlapping(self, freq: float, bw: int) -> tuple[float, ...]:
        """Frequencies in use whose signals may overlap one at ``freq``/``bw`` (a superset
        computed against the widest LoRa bandwidth; the exact check is done per interferer)."""
        key = (freq, bw)
        n = self._neighbours.get(key)
        if n is None:
            if freq not in self._freqs:
                self._freqs.add(freq)
                self._neighbours.clear()  # a new frequency may neighbour cached ones
            n = tuple(
                sorted(f for f in self._freqs if radio.frequency_overlap(freq, bw, f, 500_000))
            )
            self._neighbours[key] = n
        return n

    def _snr(self, rssi: float, bw: int) -> float:
        nf = self._noise.get(bw)
        if nf is None:
            nf = radio.noise_floor_dbm(bw, self._nf)
            self._noise[bw] = nf
        return rssi - nf

    # -- traffic --------------------------------------------------------------------------

    def _first_delay(self) -> float:
        if self._poisson or self._gap_after_tx:
            return self._rng.expovariate(1.0 / self._period)
        return self._rng.uniform(0.0, self._period)

    def _on_generate(self, ev: simpy.events.Event) -> None:
        self._generate(cast(Device, ev.value))

    def _on_tx_end(self, ev: simpy.events.Event) -> None:
        self._tx_end(cast(Transmission, ev.value))

    def _generate(self, dev: Device) -> None:
        now = self.env.now
        dev.f_cnt_up += 1
        dev.frame_gen_s = now
        dev.frame_attempt = 0
        dev.frame_delivered = False
        dev.frame_acked = False
        dev.frame_done = False
        dev.frames += 1
        m = self.metrics
        m.frames += 1
        m.gen_bins[min(int(now * self._bin_scale), self._last_bin)] += 1
        self._transmit(dev)

    def _profile(self, dev: Device) -> _Profile:
        """What does not change between two transmissions of ``dev`` until a LinkADRReq."""
        sens = self._sens(dev.sf, dev.bw_hz)
        p = dev.tx_power_dbm
        toa = _toa(self._phy_len, dev.sf, dev.bw_hz, dev.cr)
        join_toa = _toa(JOIN_REQUEST_BYTES, dev.sf, dev.bw_hz, dev.cr)
        grace = 0.0
        if self._preamble_rule:
            rc = self.sc.reception
            grace = radio.preamble_grace_s(dev.sf, dev.bw_hz, rc.preamble_symbols, rc.lock_symbols)
        chan_bands = tuple((f, *self._band(f)) for f in dev.channels_hz)
        prof = _Profile(
            toa=toa,
            energy_j=tx_energy_j(p, toa, self._voltage),
            join_toa=join_toa,
            join_energy_j=tx_energy_j(p, join_toa, self._voltage),
            reach=[(self.gateways[g], p - loss) for g, loss in dev.links if p - loss >= sens],
            chan_bands=chan_bands,
            one_band=chan_bands[0][1] if len({c[1] for c in chan_bands}) == 1 else None,
            grace=grace,
        )
        dev.profile = prof
        return prof

    def _transmit(self, dev: Device, join: bool = False) -> None:
        now = self.env.now
        prof = dev.profile
        if prof is None:
            prof = self._profile(dev)
        toa = prof.join_toa if join else prof.toa
        if self._duty:
            bfa = dev.band_free_at
            one = prof.one_band
            if one is not None:
                free = prof.chan_bands if bfa.get(one, 0.0) <= now else ()
            else:
                free = tuple(c for c in prof.chan_bands if bfa.get(c[1], 0.0) <= now)
            if not free:
                wait = min(bfa.get(c[1], 0.0) for c in prof.chan_bands)
                self.metrics.duty_cycle_deferrals += 1
                self._at(max(wait - now, 0.0), self._transmit, dev, join)
                return
            freq, band, duty = free[0] if len(free) == 1 else self._rng.choice(free)
            bfa[band] = now + toa / duty
        else:
            chans = prof.chan_bands
            freq = (chans[0] if len(chans) == 1 else self._rng.choice(chans))[0]
        tx = Transmission(
            dev,
            dev.f_cnt_up,
            dev.frame_attempt,
            now,
            now + toa,
            freq,
            dev.sf,
            dev.bw_hz,
            dev.tx_power_dbm,
            self._confirmed and not join,
            dev.pending_link_adr_ans and not join,
            join,
        )
        m = self.metrics
        if join:
            dev.energy_j += prof.join_energy_j
            m.join_requests += 1
        else:
            dev.pending_link_adr_ans = False
            dev.transmissions += 1
            dev.energy_j += prof.energy_j
            m.transmissions += 1
            if dev.frame_attempt > 0:
                m.retransmissions += 1
        key = (dev.sf, freq)
        acc = m.load.get(key)
        if acc is None:
            m.load[key] = [1, toa]
        else:
            acc[0] += 1
            acc[1] += toa
        if prof.reach:
            neighbours = self._neighbours.get((freq, dev.bw_hz))
            if neighbours is None:
                neighbours = self._overlapping(freq, dev.bw_hz)
            grace_end = now + prof.grace
            for gw, rssi in prof.reach:
                self._rx_start(gw, tx, rssi, now, grace_end, neighbours)
        self.env.timeout(toa, tx).callbacks.append(self._on_tx_end)

    # -- reception ------------------------------------------------------------------------

    def _rx_start(
        self,
        gw: Gateway,
        tx: Transmission,
        rssi: float,
        now: float,
        grace_end: float,
        neighbours: tuple[float, ...],
    ) -> None:
        r = Reception(tx, gw, rssi, grace_end)
        if self._half_duplex and gw.tx_until > now:
            r.cause = "gateway_tx"
        sf = tx.sf
        bw = tx.bw_hz
        thr = self._capture
        active = gw.active
        freq = tx.freq_hz
        for f in neighbours:
            lst = active.get(f)
            if not lst:
                continue
            if f != freq and not radio.frequency_overlap(freq, bw, f, bw):
                continue
            for q in lst:
                qtx = q.tx
                if qtx.sf == sf and qtx.bw_hz == bw:
                    # preamble rule: q ends within the part of r's preamble that may be lost
                    if qtx.end <= r.grace_end:
                        continue
                    diff = rssi - q.rssi
                    if (thr is None or diff < thr) and r.cause is None:
                        r.cause = "collision_same_sf"
                    if (thr is None or -diff < thr) and q.cause is None:
                        q.cause = "collision_same_sf"
                elif self._inter_sf and qtx.bw_hz == bw:
                    if r.cause is None and not radio.survives_inter_sf(rssi, sf, q.rssi, qtx.sf):
                        r.cause = "collision_inter_sf"
                    if q.cause is None and not radio.survives_inter_sf(q.rssi, qtx.sf, rssi, sf):
                        q.cause = "collision_inter_sf"
        if r.cause != "gateway_tx":
            if gw.busy_paths < self._paths:
                gw.busy_paths += 1
                r.locked = True
            elif r.cause is None:
                r.cause = "no_demodulator"
        lst = active.get(tx.freq_hz)
        if lst is None:
            active[tx.freq_hz] = [r]
        else:
            lst.append(r)
        tx.receptions.append(r)

    def _tx_end(self, tx: Transmission) -> None:
        now = self.env.now
        dev = tx.dev
        m = self.metrics
        ok: list[Reception] = []
        for r in tx.receptions:
            gw = r.gw
            gw.active[tx.freq_hz].remove(r)
            if r.locked:
                gw.busy_paths -= 1
            if r.cause is None and r.locked:
                ok.append(r)
                gw.received += 1
            else:
                c = r.cause or "no_demodulator"
                m.copies_lost[c] += 1
        if tx.join_request:
            self._join_tx_end(tx, ok, now)
            return
        if ok:
            m.tx_received += 1
            if not dev.frame_delivered:
                dev.frame_delivered = True
                dev.delivered += 1
                m.delivered += 1
                m.deliv_bins[m.bin_of(dev.frame_gen_s)] += 1
                m.latencies.append(now - dev.frame_gen_s)
            if self._wants_all or tx.confirmed:
                self._deliver(tx, ok, now)
        else:
            if not tx.receptions:
                cause = "out_of_range"
            else:
                best = max(tx.receptions, key=lambda r: r.rssi)
                cause = best.cause or "no_demodulator"
            m.lost[cause] += 1
        self._after_tx(tx, now)

    def _deliver(self, tx: Transmission, ok: list[Reception], now: float) -> None:
        from .network import GatewayRx, UplinkFrame  # (loaded by the constructor: a lookup)

        dev = tx.dev
        bw = tx.bw_hz
        gws = tuple(GatewayRx(r.gw.idx, r.gw.gw_eui, r.rssi, self._snr(r.rssi, bw)) for r in ok)
        self.network.on_uplink(
            now,
            UplinkFrame(
                dev_idx=dev.idx,
                dev_eui=dev.dev_eui,
                f_cnt=tx.f_cnt,
                start_s=tx.start,
                end_s=tx.end,
                freq_hz=tx.freq_hz,
                sf=tx.sf,
                bw_hz=bw,
                dr=self.region.dr_of(tx.sf, bw),
                tx_power_index=self.region.tx_power_index_of(tx.tx_power_dbm),
                confirmed=tx.confirmed,
                link_adr_ans=tx.link_adr_ans,
                channels_hz=dev.channels_hz,
                nb_trans=dev.nb_trans,
                gateways=gws,
                join_request=tx.join_request,
            ),
        )

    # -- OTAA join ----------------------------------------------------------------------

    def _join(self, dev: Device) -> None:
        if dev.join_attempts == 0:
            dev.join_start_s = self.env.now
        dev.join_attempts += 1
        self._transmit(dev, join=True)

    def _join_tx_end(self, tx: Transmission, ok: list[Reception], now: float) -> None:
        if ok:
            self.metrics.join_requests_received += 1
            self._deliver(tx, ok, now)
        # the JoinAccept comes 5 s (RX1) or 6 s (RX2) after the request
        rx2 = self.region.data_rates[self.region.rx2_dr]
        wait = self.region.join_accept_delay1_s + 1.0 + self._rng.uniform(1.0, 3.0)
        wait = max(wait, self.region.join_accept_delay1_s + 1.0 + _toa(33, rx2.sf, rx2.bw_hz, 1))
        self._at(wait, self._after_join, tx.dev)

    def _after_join(self, dev: Device) -> None:
        now = self.env.now
        if dev.joined:
            nxt = now + self._first_delay()
            if nxt < self._end:
                self._at(nxt - now, self._generate, dev)
            return
        if now >= self._end:
            return
        # jittered exponential back-off, at most 10 minutes (duty cycle still applies)
        backoff = self._rng.uniform(0.0, min(5.0 * 2.0**dev.join_attempts, 600.0))
        self._at(backoff, self._join, dev)

    # -- class A, retransmissions, next frame --------------------------------------------

    def _after_tx(self, tx: Transmission, now: float) -> None:
        dev = tx.dev
        if not self._class_a:
            if self._confirmed or dev.nb_trans > 1:
                self._after_rx(dev, tx.end)
            else:
                self._frame_done(dev, now)
            return
        listen = self._listen.get(tx.sf)
        if listen is None:
            rx2 = self.region.data_rates[self.region.rx2_dr]
            rx2_s = RX_WINDOW_SYMBOLS * symbol_time(rx2.sf, rx2.bw_hz)
            rx1_s = RX_WINDOW_SYMBOLS * symbol_time(tx.sf, tx.bw_hz)
            listen = (rx_energy_j(rx1_s + rx2_s, self._voltage), rx2_s)
            self._listen[tx.sf] = listen
        dev.energy_j += listen[0]
        windows_end = now + self.region.rx1_delay_s + 1.0 + listen[1]
        if self._confirmed or dev.nb_trans > 1:
            # ACK_TIMEOUT: 1..3 s after the RX2 window opened (LoRaWAN 1.0.x, random)
            delay = self.region.rx1_delay_s + 1.0 + self._rng.uniform(1.0, 3.0)
            self._at(max(delay, windows_end - now), self._after_rx, dev, tx.end)
        else:
            self._frame_done(dev, windows_end)

    def _after_rx(self, dev: Device, last_end: float) -> None:
        if self._confirmed:
            if dev.frame_acked or dev.frame_attempt >= self._max_retx:
                self._frame_done(dev, self.env.now)
                return
        elif dev.frame_attempt + 1 >= dev.nb_trans:
            self._frame_done(dev, self.env.now)
            return
        dev.frame_attempt += 1
        self._transmit(dev)

    def _frame_done(self, dev: Device, busy_until: float) -> None:
        dev.frame_done = True
        now = self.env.now
        if self._gap_after_tx:
            nxt = now + self._rng.expovariate(1.0 / self._period)
        elif self._poisson:
            nxt = dev.frame_gen_s + self._rng.expovariate(1.0 / self._period)
        else:
            nxt = dev.frame_gen_s + self._period
            if self._jitter > 0:
                nxt += self._rng.uniform(-self._jitter, self._jitter)
        nxt = max(nxt, busy_until, now)
        if nxt >= self._end:
            return
        self.env.timeout(nxt - now, dev).callbacks.append(self._on_generate)

    # -- downlinks (DownlinkSink) ---------------------------------------------------------

    def schedule_downlink(self, request: DownlinkRequest) -> str | None:
        now = self.env.now
        gw = self.gateways[request.gw_idx]
        start = request.start_s
        if start < now:
            return "too_late"
        dur = request.duration_s
        end = start + dur
        gw.tx_reserved = [(s, e) for s, e in gw.tx_reserved if e > now]
        for s, e in gw.tx_reserved:
            if s < end and start < e:
                m = self.metrics.downlinks_refused
                m["collision_packet"] = m.get("collision_packet", 0) + 1
                return "collision_packet"
        band, duty = self._band(request.freq_hz)
        if self._duty and gw.band_free_at.get(band, 0.0) > start:
            m = self.metrics.downlinks_refused
            m["duty_cycle"] = m.get("duty_cycle", 0) + 1
            return "duty_cycle"
        gw.tx_reserved.append((start, end))
        if self._duty:
            gw.band_free_at[band] = start + dur / duty
        self.metrics.downlinks_scheduled += 1
        self._at(start - now, self._gw_tx_start, request, dur)
        return None

    def _gw_tx_start(self, req: DownlinkRequest, dur: float) -> None:
        now = self.env.now
        gw = self.gateways[req.gw_idx]
        gw.downlinks += 1
        gw.tx_until = max(gw.tx_until, now + dur)
        if self._half_duplex:
            for lst in gw.active.values():
                for r in lst:
                    if r.cause is None:
                        r.cause = "gateway_tx"
        dev = self.devices[req.dev_idx]
        loss = dev.links[req.gw_idx][1]
        if req.tx_power_dbm - loss < self._sens(req.sf, req.bw_hz):
            return
        if req.join_accept:
            if not dev.joined:
                dev.joined = True
                m = self.metrics
                m.joins += 1
                m.downlinks_received += 1
                m.join_latencies.append(now + dur - dev.join_start_s)
                dev.energy_j += rx_energy_j(dur, self._voltage)
                if self._on_dl_received is not None:
                    self._on_dl_received(now, req)
            return
        if dev.f_cnt_up != req.f_cnt_up or (dev.frame_done and req.ack):
            return
        if self._on_dl_received is not None:
            self._on_dl_received(now, req)
        m = self.metrics
        m.downlinks_received += 1
        dev.energy_j += rx_energy_j(dur, self._voltage)
        if req.ack:
            dev.frame_acked = True
            m.acks_received += 1
        adr = req.link_adr
        if adr is not None:
            d = self.region.data_rates[adr.dr]
            dev.sf, dev.bw_hz = d.sf, d.bw_hz
            dev.tx_power_dbm = self.region.tx_power_dbm(adr.tx_power_index)
            if adr.channels_hz:
                dev.channels_hz = tuple(adr.channels_hz)
            dev.nb_trans = adr.nb_trans
            dev.profile = None
            dev.pending_link_adr_ans = True
            m.link_adr_applied += 1

    # -- run ------------------------------------------------------------------------------

    def run(
        self, progress: Callable[[float], None] | None = None, steps: int = 100
    ) -> SimulationResult:
        """Run to the end (frames stop being generated at ``duration_s``; those in flight
        finish) and return the metrics. ``progress`` gets the simulated fraction done."""
        if self._ran:
            raise RuntimeError("a Simulation runs once; build a new one")
        self._ran = True
        t0 = time.perf_counter()
        if self.engine == "fast":
            from .fast import run_fast

            run_fast(self)
            if progress is not None:
                progress(1.0)
            return self._result(time.perf_counter() - t0)
        otaa = self.sc.devices.otaa
        spread = self.sc.devices.join_spread_s
        for dev in self.devices:
            if otaa:
                dev.joined = False
                self._at(self._rng.uniform(0.0, spread), self._join, dev)
            else:
                self._at(self._first_delay(), self._generate, dev)
        if progress is None:
            self.env.run()
        else:
            for i in range(1, steps + 1):
                self.env.run(until=self._end * i / steps)
                progress(i / steps)
            self.env.run()
        return self._result(time.perf_counter() - t0)

    def _result(self, wall: float) -> SimulationResult:
        result = build_result(self, wall)
        result.engine = self.engine
        return result


def run_scenario(
    scenario: Scenario,
    progress: Callable[[float], None] | None = None,
    policy: RateControlPolicy | None = None,
) -> SimulationResult:
    """Build and run one scenario in pure mode."""
    return Simulation(scenario, policy=policy).run(progress)
