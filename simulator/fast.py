"""The open-loop fast path: a vectorized (numpy) engine for scenarios without feedback.

When nothing a device does depends on what happens on the air (no downlinks, no confirmed
traffic or retransmissions, no OTAA join, the ``static`` policy), every device's transmission
schedule can be drawn up front. This module does that with numpy, sorts the transmissions
once by start time, and applies the same reception rules as the SimPy engine
(:mod:`simulator.engine`) in vectorized passes, one gateway at a time:

- sensitivity: a gateway hears a frame when ``tx power - path loss >= sensitivity``;
- same SF and bandwidth on overlapping frequencies: the capture effect (the later or earlier
  frame survives when it is ``capture_threshold_db`` stronger) and the preamble rule (the
  pair is harmless when the earlier frame ends within the later frame's preamble grace);
- imperfect SF orthogonality (Croce et al. thresholds) when ``reception.inter_sf`` is on;
- the demodulator-path limit: when a gateway never has ``demodulator_paths`` frames on air at
  once every copy locks (checked vectorized); otherwise the locking is replayed exactly with a
  heap, in start order, for that gateway only;
- the per-device duty cycle per sub-band, as the event engine applies it: a frame goes out on
  a channel picked uniformly among those whose sub-band is open; when none is, it waits until
  the first of them opens (a deferral) and picks among the channels open then.

Pairs are found by comparing each frame with the next ``j``-th frame in start order, for
``j = 1, 2, ...`` while any frame still overlaps its ``j``-th successor; the candidate set
shrinks at every pass, so the work is about the number of overlapping pairs.

Which cause a lost copy is charged with follows the event engine: the first cause assigned
wins, in start order of the frame whose arrival created it, and among the interferers met at
one arrival, in their start order (the event engine walks them per frequency first; the two
differ only when copies on different but overlapping frequencies and with different causes
meet at one arrival).

Random streams: positions, shadowing and SFs are drawn by the same code and streams as the
event engine (so both engines place a seeded scenario identically). The traffic (first
delays, intervals, jitter, channel choice) comes from a numpy generator seeded from the
scenario seed, so single runs differ from the event engine's, but the distributions are the
same: first delay exponential (Poisson or ``interval_after_tx``) or uniform over one period,
intervals exponential or periodic with uniform jitter, channels uniform.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

import numpy as np

from . import radio
from .energy import rx_energy_j
from .metrics import LOSS_CAUSES
from .region import SimRegion
from .scenario import Scenario

if TYPE_CHECKING:  # (numpy.typing is only for the annotations: not imported at run time)
    import numpy.typing as npt

    from .engine import Simulation

    F64 = npt.NDArray[np.float64]
    I64 = npt.NDArray[np.int64]
    BoolA = npt.NDArray[np.bool_]

#: reception verdict codes (per transmission and gateway)
OK, SAME_SF, INTER_SF, NO_DEMOD, UNHEARD = 0, 1, 2, 3, -1
CODE_CAUSE = {
    SAME_SF: "collision_same_sf",
    INTER_SF: "collision_inter_sf",
    NO_DEMOD: "no_demodulator",
}

_NEVER = np.iinfo(np.int64).max


class FastPathUnsupported(ValueError):
    """``engine: fast`` was asked for a scenario the fast path cannot run exactly."""


def fast_unsupported_reason(sc: Scenario, region: SimRegion | None = None) -> str | None:
    """Why the scenario needs the event engine, or None when the fast path applies.

    ``region`` is accepted for compatibility; every duty-cycle layout runs on the fast path.
    """
    dc = sc.devices
    if dc.otaa:
        return "OTAA join (a downlink feedback loop)"
    if dc.traffic.confirmed:
        return "confirmed traffic (ACKs and retransmissions)"
    if dc.nb_trans != 1:
        return "nb_trans > 1 (repetitions wait for the receive windows)"
    if sc.policy != "static":
        return f"rate-control policy {sc.policy!r} (LinkADRReq feedback)"
    return None


def choose_engine(sc: Scenario, custom_parts: bool, region: SimRegion | None = None) -> str:
    """The engine a run uses: ``fast`` or ``simpy`` (see ``Scenario.engine``).

    ``custom_parts`` is true when the caller supplied its own network side, policy or SimPy
    environment (live mode, studies): those need the event engine.
    """
    wanted = sc.engine
    if wanted == "simpy":
        return "simpy"
    reason = "a custom network side, policy or environment" if custom_parts else None
    reason = reason or fast_unsupported_reason(sc, region)
    if reason is None:
        return "fast"
    if wanted == "fast":
        raise FastPathUnsupported(f"engine: fast cannot run this scenario: {reason}")
    return "simpy"


class Schedule:
    """Every transmission of a run, sorted by start time (plain arrays)."""

    def __init__(self, dev: I64, gen: F64, start: F64, end: F64, chan: I64, deferrals: int) -> None:
        self.dev = dev
        self.gen = gen
        self.start = start
        self.end = end
        self.chan = chan
        self.deferrals = deferrals


class DutyCycle:
    """The duty-cycle limits of a run: ``chan_band[i, c]`` is the sub-band (an index into
    ``band_duty``, the fraction of time a device may be on air in it) of device ``i``'s
    channel ``c``."""

    def __init__(self, chan_band: I64, band_duty: F64) -> None:
        self.chan_band = chan_band
        self.band_duty = band_duty


def draw_schedule(
    sim: Simulation,
    toa: F64,
    chan_count: I64,
    duty: DutyCycle | None,
    rng: np.random.Generator,
) -> Schedule:
    """Draw all transmissions, every device in lockstep frame by frame.

    ``toa`` is each device's time on air, ``chan_count`` its number of channels (chosen
    uniformly among those open), ``duty`` the sub-bands of its channels and their limits (None:
    no duty-cycle limit).
    """
    sc = sim.sc
    tr = sc.devices.traffic
    n = len(sim.devices)
    period = tr.period_s
    poisson = tr.kind == "poisson"
    after_tx = tr.interval_after_tx
    jitter = tr.jitter_s
    end_s = sc.duration_s
    windows = 0.0
    if sc.class_a:
        r = sim.region
        rx2 = r.data_rates[r.rx2_dr]
        from services.lorawan.airtime import symbol_time

        windows = r.rx1_delay_s + 1.0 + 6 * symbol_time(rx2.sf, rx2.bw_hz)
    gen = rng.exponential(period, n) if poisson or after_tx else rng.uniform(0.0, period, n)
    alive = np.arange(n, dtype=np.int64)
    # per device and sub-band: when the device may transmit in it again
    band_free = np.zeros((n, duty.band_duty.size if duty is not None else 0))
    cols = np.arange(duty.chan_band.shape[1] if duty is not None else 0, dtype=np.int64)
    devs: list[I64] = []
    gens: list[F64] = []
    starts: list[F64] = []
    chans: list[I64] = []
    deferrals = 0
    while alive.size:
        t = gen
        cc = chan_count[alive]
        if duty is None:
            ch = np.minimum((rng.random(alive.size) * cc).astype(np.int64), cc - 1)
        else:
            cb = duty.chan_band[alive]
            bf = np.take_along_axis(band_free[alive], cb, axis=1)
            bf[cols[None, :] >= cc[:, None]] = np.inf  # not one of the device's channels
            late = ~(bf <= t[:, None]).any(axis=1)
            deferrals += int(np.count_nonzero(late))
            t = np.where(late, bf.min(axis=1), t)
            free = bf <= t[:, None]
            n_free = free.sum(axis=1)
            # the k-th open channel, k uniform (all channels open: the k-th channel)
            k = np.minimum((rng.random(alive.size) * n_free).astype(np.int64), n_free - 1)
            ch = np.argmax(np.cumsum(free, axis=1) > k[:, None], axis=1)
            band = cb[np.arange(alive.size), ch]
            band_free[alive, band] = t + toa[alive] / duty.band_duty[band]
        devs.append(alive)
        gens.append(gen)
        starts.append(t)
        chans.append(ch)
        e = t + toa[alive]
        if after_tx:
            nxt = e + rng.exponential(period, alive.size)
        elif poisson:
            nxt = gen + rng.exponential(period, alive.size)
        else:
            nxt = gen + period
            if jitter > 0:
                nxt = nxt + rng.uniform(-jitter, jitter, alive.size)
        nxt = np.maximum(nxt, e + windows)
        keep = nxt < end_s
        alive = alive[keep]
        gen = nxt[keep]
    dev = np.concatenate(devs)
    start = np.concatenate(starts)
    order = np.argsort(start, kind="stable")
    dev = dev[order]
    start = start[order]
    return Schedule(
        dev,
        np.concatenate(gens)[order],
        start,
        start + toa[dev],
        np.concatenate(chans)[order],
        deferrals,
    )


def receive(
    start: F64,
    end: F64,
    freq: F64,
    sf: I64,
    bw: I64,
    grace: F64,
    rssi: F64,
    capture_db: float | None,
    inter_sf: bool,
    paths: int,
) -> I64:
    """Verdicts of the copies one gateway hears, given in start order: a code per copy
    (``OK``, ``SAME_SF``, ``INTER_SF`` or ``NO_DEMOD``), as the event engine decides them."""
    m = start.size
    width = m + 1
    k_same = np.full(m, _NEVER, dtype=np.int64)
    k_inter = np.full(m, _NEVER, dtype=np.int64)
    sir = np.asarray(radio.CROCE_SIR_THRESHOLD_DB, dtype=np.float64)
    a = np.arange(max(m - 1, 0), dtype=np.int64)
    j = 1
    while a.size:
        a = a[a + j < m]
        b = a + j
        hit = start[b] < end[a]
        a = a[hit]
        b = b[hit]
        if not a.size:
            break
        near = (np.abs(freq[a] - freq[b]) < bw[b]) & (bw[a] == bw[b])
        same = near & (sf[a] == sf[b])
        same &= end[a] > start[b] + grace[b]  # preamble rule
        key = b * width + a
        diff = rssi[b] - rssi[a]
        if same.any():
            kb = same if capture_db is None else same & (diff < capture_db)
            ka = same if capture_db is None else same & (-diff < capture_db)
            k_same[b[kb]] = np.minimum(k_same[b[kb]], key[kb])
            k_same[a[ka]] = np.minimum(k_same[a[ka]], key[ka])
        if inter_sf:
            other = near & (sf[a] != sf[b])
            if other.any():
                kb = other & (diff < sir[sf[b] - 7, sf[a] - 7])
                ka = other & (-diff < sir[sf[a] - 7, sf[b] - 7])
                k_inter[b[kb]] = np.minimum(k_inter[b[kb]], key[kb])
                k_inter[a[ka]] = np.minimum(k_inter[a[ka]], key[ka])
        j += 1
    locked = _locked(start, end, paths)
    idx = np.arange(m, dtype=np.int64)
    k_demod = np.where(locked, _NEVER, idx * width + (width - 1))
    keys = np.stack([k_same, k_inter, k_demod])
    first = np.argmin(keys, axis=0)
    code = np.where(keys.min(axis=0) == _NEVER, OK, first + 1)
    return code.astype(np.int64)


def _locked(start: F64, end: F64, paths: int) -> BoolA:
    """Which copies get a demodulator path (a copy that finds all paths busy is lost).

    A copy that starts while fewer than ``paths`` copies are on air always locks. Only the
    others ("contested") are replayed one by one: the paths busy at such a start are the
    copies on air minus the contested copies on air that failed to lock.
    """
    m = start.size
    ends_sorted = np.sort(end)
    on_air = np.arange(m) - np.searchsorted(ends_sorted, start, side="right")
    out = np.ones(m, dtype=np.bool_)
    contested = np.nonzero(on_air >= paths)[0]
    if not contested.size:
        return out
    unlocked: list[float] = []
    for i, s, e, k in zip(
        contested.tolist(),
        start[contested].tolist(),
        end[contested].tolist(),
        on_air[contested].tolist(),
        strict=True,
    ):
        while unlocked and unlocked[0] <= s:
            heapq.heappop(unlocked)
        if k - len(unlocked) >= paths:
            out[i] = False
            heapq.heappush(unlocked, e)
    return out


def run_fast(sim: Simulation) -> None:
    """Run ``sim`` (built by the event engine's constructor, so placed identically) on the fast
    path, filling its metrics collector and its devices' counters."""
    sc = sim.sc
    devices = sim.devices
    gateways = sim.gateways
    n = len(devices)
    g_count = len(gateways)
    rc = sc.reception
    seed = sc.seed
    rng = np.random.default_rng(np.random.SeedSequence([abs(seed), 0xFA57, int(seed < 0)]))
    # per device: profile (airtime, energy, reach), channels, duty cycle. Devices with the same
    # radio settings share one profile (computed by the event engine's code); the reach is
    # per device: the gateways whose received power meets the sensitivity.
    groups: dict[tuple[int, int, int, float, tuple[float, ...]], list[int]] = {}
    for i, d in enumerate(devices):
        groups.setdefault((d.sf, d.bw_hz, d.cr, d.tx_power_dbm, d.channels_hz), []).append(i)
    loss = np.array([[lo for _, lo in d.links] for d in devices], dtype=np.float64)
    loss = loss.reshape(n, g_count)
    toa = np.empty(n)
    e_tx = np.empty(n)
    grace = np.empty(n)
    sf = np.empty(n, dtype=np.int64)
    bw = np.empty(n, dtype=np.int64)
    chan_count = np.empty(n, dtype=np.int64)
    rssi = np.full((n, g_count), -np.inf)
    width = max((len(key[4]) for key in groups), default=1)
    chan_table = np.zeros((n, width))
    chan_band = np.zeros((n, width), dtype=np.int64)
    band_ids: dict[str, int] = {}
    band_duty: list[float] = []
    for (g_sf, g_bw, _, power, chans), members in groups.items():
        prof = sim._profile(devices[members[0]])
        idx = np.asarray(members, dtype=np.int64)
        toa[idx] = prof.toa
        e_tx[idx] = prof.energy_j
        grace[idx] = prof.grace
        sf[idx] = g_sf
        bw[idx] = g_bw
        chan_count[idx] = len(chans)
        bands = []
        for _, band, limit in prof.chan_bands:
            b = band_ids.get(band)
            if b is None:
                b = band_ids[band] = len(band_duty)
                band_duty.append(limit)
            bands.append(b)
        chan_table[idx, : len(chans)] = chans
        chan_band[idx, : len(chans)] = bands
        received = power - loss[idx]
        sens = sim._sens(g_sf, g_bw)
        rssi[idx] = np.where(received >= sens, received, -np.inf)
    duty = DutyCycle(chan_band, np.asarray(band_duty, dtype=np.float64)) if sim._duty else None
    sched = draw_schedule(sim, toa, chan_count, duty, rng)
    dev = sched.dev
    t_count = dev.size
    freq = chan_table[dev, sched.chan]
    tx_sf = sf[dev]
    tx_bw = bw[dev]
    tx_grace = grace[dev]
    codes = np.full((t_count, g_count), UNHEARD, dtype=np.int64)
    for g in range(g_count):
        heard = np.nonzero(rssi[dev, g] > -np.inf)[0]
        codes[heard, g] = receive(
            sched.start[heard],
            sched.end[heard],
            freq[heard],
            tx_sf[heard],
            tx_bw[heard],
            tx_grace[heard],
            rssi[dev[heard], g],
            rc.capture_threshold_db,
            rc.inter_sf,
            rc.demodulator_paths,
        )
    freqs = sorted({f for key in groups for f in key[4]})
    _account(sim, sched, freq, freqs, toa, e_tx, rssi, codes)
    if sc.class_a:
        from services.lorawan.airtime import symbol_time

        from .engine import RX_WINDOW_SYMBOLS

        r = sim.region
        rx2 = r.data_rates[r.rx2_dr]
        rx2_s = RX_WINDOW_SYMBOLS * symbol_time(rx2.sf, rx2.bw_hz)
        per_dev = np.bincount(dev, minlength=n)
        for i, d in enumerate(devices):
            rx1_s = RX_WINDOW_SYMBOLS * symbol_time(d.sf, d.bw_hz)
            listen_e = rx_energy_j(rx1_s + rx2_s, sc.devices.voltage_v)
            d.energy_j += float(per_dev[i]) * listen_e


def _account(
    sim: Simulation,
    sched: Schedule,
    freq: F64,
    freqs: list[float],
    toa: F64,
    e_tx: F64,
    rssi: F64,
    codes: I64,
) -> None:
    m = sim.metrics
    devices = sim.devices
    dev = sched.dev
    n = len(devices)
    t_count = dev.size
    ok = (codes == OK).any(axis=1) if codes.shape[1] else np.zeros(t_count, dtype=np.bool_)
    m.frames += t_count
    m.transmissions += t_count
    m.tx_received += int(ok.sum())
    m.delivered += int(ok.sum())
    m.duty_cycle_deferrals += sched.deferrals
    for code, cause in CODE_CAUSE.items():
        m.copies_lost[cause] += int(np.count_nonzero(codes == code))
    # a lost transmission is charged with the cause at its strongest gateway
    lost = ~ok
    heard_any = (codes != UNHEARD).any(axis=1) if codes.shape[1] else lost & False
    m.lost["out_of_range"] += int(np.count_nonzero(lost & ~heard_any))
    lh = np.nonzero(lost & heard_any)[0]
    if lh.size:
        best = np.argmax(rssi[dev[lh]], axis=1)
        bc = codes[lh, best]
        for code, cause in CODE_CAUSE.items():
            m.lost[cause] += int(np.count_nonzero(bc == code))
    # time series, latency
    bins = m.bins
    scale = bins / m.duration_s
    gb = np.minimum((sched.gen * scale).astype(np.int64), bins - 1)
    gen_bins = np.bincount(gb, minlength=bins)
    deliv_bins = np.bincount(gb[ok], minlength=bins)
    for i in range(bins):
        m.gen_bins[i] += int(gen_bins[i])
        m.deliv_bins[i] += int(deliv_bins[i])
    m.latencies.extend((sched.end[ok] - sched.gen[ok]).tolist())
    # load per (sf, frequency), in increasing order of both (np.unique is avoided: it imports
    # numpy.ma, about 10 ms)
    sf = np.fromiter((d.sf for d in devices), dtype=np.int64, count=n)
    tx_sf = sf[dev]
    f_idx = np.searchsorted(np.asarray(freqs, dtype=np.float64), freq)
    key = tx_sf * len(freqs) + f_idx
    size = (int(tx_sf.max()) + 1) * len(freqs) if t_count else 0
    counts = np.bincount(key, minlength=size)
    airtime = np.bincount(key, weights=toa[dev], minlength=size)
    for k in np.nonzero(counts)[0].tolist():
        s_k, f_k = divmod(k, len(freqs))
        m.load[(s_k, float(freqs[f_k]))] = [int(counts[k]), float(airtime[k])]
    # per device counters
    per_dev = np.bincount(dev, minlength=n)
    per_dev_ok = np.bincount(dev[ok], minlength=n)
    for i, d in enumerate(devices):
        k = int(per_dev[i])
        d.frames += k
        d.transmissions += k
        d.f_cnt_up += k
        d.delivered += int(per_dev_ok[i])
        d.energy_j += k * float(e_tx[i])
    for g, gw in enumerate(sim.gateways):
        gw.received += int(np.count_nonzero(codes[:, g] == OK))
    assert set(m.lost) == set(LOSS_CAUSES)
