"""Benchmark: deduplicated uplinks per second through the embedded platform, and latency.

The platform (gateway bridge, network server, join server, application handler, API, SQLite
storage in a temporary data directory) runs in this process; N ABP devices are provisioned
through the storage repositories; a separate process plays the gateways: it builds the frames
with services.lorawan (encrypted FRMPayload, MIC) and sends them as Semtech UDP PUSH_DATA,
paced at the requested rate. An uplink is counted when its application event comes out of the
application handler's event hub (what ``GET /api/events`` streams), decrypted; its latency is
event-out time minus datagram-send time (CLOCK_MONOTONIC is shared by the two processes).

Phases: a sustained-throughput phase (offered rate above the target; delivered uplinks per
second) and a latency phase at 1,000 uplinks/s (p50/p99). Targets: >= 5,000 uplinks/s
sustained; p99 <= 50 ms at 1,000 uplinks/s. The latency includes the network server's dedup
window (200 ms by default). Each frame is sent by one gateway, so with adaptive early close
(the default) a device's frames stop waiting for the window once two of its frames were seen;
the first two frames of each device (and every frame with ``--no-early-close``) wait the full
window. ``--dedup-window-ms 0`` measures the processing alone. ``--counters`` prints what each
stage counted (datagrams the bridge received: the kernel drops what overflows the socket
buffer while the server is saturated); ``--without drcc,ledger`` is a labelled attribution
run without those consumers (not the product's figures).

Run: ``.venv/bin/python bench/bench_embedded_uplink.py [--devices 1000] [--rate 6000]
[--seconds 10] [--latency-rate 1000] [--latency-seconds 10] [--dedup-window-ms 200]
[--profile profile.txt]`` (``--quick`` for a short smoke run).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing as mp
import os
import platform as pyplatform
import secrets
import socket
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from services import eventloop
from services.api.settings import ApiSettings
from services.lorawan import FHDR, MHDR, AES128Key, DevAddr, FCtrl, MACPayload, MType, PhyPayload
from services.lorawan.types import EUI64
from services.network_server.settings import NetworkServerSettings
from services.platform import EmbeddedPlatform, PlatformSettings, configure_logging
from services.storage import Application, Device, DeviceProfile, DeviceSession, Tenant

MAC_VERSION = "1.0.3"
PAYLOAD_LEN = 12
GATEWAYS = [bytes.fromhex(f"AA555A00000000{i:02X}") for i in range(1, 5)]
SEND_SLICE_S = 0.002


def dev_eui_of(i: int) -> str:
    return f"70B3D57E{i:08X}"


def dev_addr_of(i: int) -> str:
    return f"01{i:06X}"


def keys_of(i: int) -> tuple[bytes, bytes]:
    seed = i.to_bytes(4, "big")
    return b"\x11" * 12 + seed, b"\x22" * 12 + seed


# ------------------------------------------------------------------------------ load generator


def build_frame(i: int, f_cnt: int) -> bytes:
    nwk_s_key, app_s_key = keys_of(i)
    phy = PhyPayload(
        MHDR(MType.UNCONFIRMED_DATA_UP),
        MACPayload(
            FHDR(DevAddr.from_hex(dev_addr_of(i)), FCtrl(), f_cnt),
            10,
            f_cnt.to_bytes(4, "big") + bytes(PAYLOAD_LEN - 4),
        ),
    )
    phy.encrypt_frm_payload(AES128Key(app_s_key))
    key = AES128Key(nwk_s_key)
    phy.set_uplink_data_mic(MAC_VERSION, 0, 5, 0, key, key)
    return phy.to_bytes()


def push_data(gw: bytes, phy: bytes, tmst: int) -> bytes:
    rxpk = {
        "tmst": tmst,
        "chan": 0,
        "rfch": 0,
        "freq": 868.1,
        "stat": 1,
        "modu": "LORA",
        "datr": "SF7BW125",
        "codr": "4/5",
        "rssi": -70,
        "lsnr": 7.5,
        "size": len(phy),
        "data": base64.b64encode(phy).decode(),
    }
    body = json.dumps({"rxpk": [rxpk]}, separators=(",", ":")).encode()
    return b"\x02" + secrets.token_bytes(2) + b"\x00" + gw + body


def generator_main(conn: Connection, server: tuple[str, int], devices: int) -> None:
    """The gateways' process: for each phase, prebuild the datagrams, then send them paced."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
    sock.setblocking(False)
    f_cnts = [0] * devices
    while True:
        cmd = conn.recv()
        if cmd[0] == "quit":
            break
        _, rate, seconds = cmd
        total = int(rate * seconds)
        plan: list[tuple[int, int, bytes]] = []
        for n in range(total):
            i = n % devices
            f_cnts[i] += 1
            phy = build_frame(i, f_cnts[i])
            plan.append((i, f_cnts[i], push_data(GATEWAYS[n % len(GATEWAYS)], phy, n * 1000)))
        conn.send(("ready", total))
        conn.recv()  # go
        sent_at: list[int] = [0] * total
        start = time.monotonic()
        n = 0
        while n < total:
            due = min(total, int((time.monotonic() - start) * rate) + 1)
            while n < due:
                try:
                    sock.sendto(plan[n][2], server)
                except BlockingIOError:
                    break
                sent_at[n] = time.monotonic_ns()
                n += 1
            with_drain(sock)
            time.sleep(SEND_SLICE_S)
        elapsed = time.monotonic() - start
        conn.send(("done", elapsed, [(p[0], p[1], t) for p, t in zip(plan, sent_at, strict=True)]))
    sock.close()


def with_drain(sock: socket.socket) -> None:
    """Read (and ignore) the PUSH_ACKs so they do not pile up."""
    while True:
        try:
            sock.recv(64)
        except (BlockingIOError, InterruptedError):
            return


# ------------------------------------------------------------------------------ the server side


@dataclass(slots=True)
class PhaseResult:
    name: str
    offered_rate: float
    sent: int
    send_seconds: float
    delivered: int
    throughput: float  # delivered / (last event - first send)
    steady_rate: float  # events per second while the sender was sending (after 1 s)
    latencies_ms: list[float]
    cpu_s: float = 0.0  # CPU time of the server (+ collector) from go to drained
    cpu_radio_s: float = 0.0  # of which the radio process's (--processes 2)
    # (seconds since the phase's first datagram, latency ms) per delivered uplink, for --plot
    samples: list[tuple[float, float]] = field(default_factory=list)


class Collector:
    """Timestamps every ``up`` event the event hub hands out."""

    def __init__(self, platform: EmbeddedPlatform, devices: int) -> None:
        assert platform.event_hub is not None
        self.sub = platform.event_hub.open(tenant_id=None)
        self.index = {dev_eui_of(i): i for i in range(devices)}
        self.seen: dict[tuple[int, int], int] = {}
        self.wanted: set[tuple[int, int]] = set()  # the current phase's frames
        self.count = 0  # of them seen
        self.radio_pid = platform.radio.pid if platform.radio is not None else None
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for _, event in self.sub:
            if event.get("event") == "up":
                i = self.index.get(str(event["dev_eui"]).upper())
                if i is not None:
                    key = (i, int(event["f_cnt"]))
                    if key not in self.seen and key in self.wanted:
                        self.count += 1
                    self.seen[key] = time.monotonic_ns()


def server_cpu(radio_pid: int | None) -> tuple[float, float]:
    """CPU seconds (user + system) of the server: (this process, the radio process when the
    platform runs two, ``--processes 2``, else 0)."""
    radio = 0.0
    if radio_pid is not None:
        fields = Path(f"/proc/{radio_pid}/stat").read_text().rsplit(")", 1)[1].split()
        radio = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return sum(os.times()[:2]), radio


async def provision(platform: EmbeddedPlatform, devices: int) -> None:
    storage = platform.storage
    assert storage is not None and platform.app_handler is not None
    tenant = await storage.tenants.create(Tenant(name="bench"))
    app = await storage.applications.create(Application(tenant_id=tenant.id, name="bench"))
    app.integrations.mqtt_enabled = platform.settings.mqtt_enabled
    await storage.applications.update(app, tenant_id=None)
    profile = await storage.device_profiles.create(
        DeviceProfile(tenant_id=tenant.id, name="abp", supports_join=False, mac_version=MAC_VERSION)
    )
    for i in range(devices):
        nwk_s_key, app_s_key = keys_of(i)
        eui = EUI64.from_hex(dev_eui_of(i))
        await storage.devices.create(
            Device(
                dev_eui=eui,
                tenant_id=tenant.id,
                application_id=app.id,
                device_profile_id=profile.id,
            )
        )
        sid = uuid.uuid4()
        key = AES128Key(nwk_s_key)
        await storage.sessions.create(
            DeviceSession(
                dev_eui=eui,
                dev_addr=DevAddr.from_hex(dev_addr_of(i)),
                mac_version=MAC_VERSION,
                f_nwk_s_int_key=key,
                s_nwk_s_int_key=key,
                nwk_s_enc_key=key,
                session_id=sid,
            )
        )
        await platform.app_handler.activate_abp(
            dev_eui=eui,
            dev_addr=DevAddr.from_hex(dev_addr_of(i)),
            app_s_key=AES128Key(app_s_key),
            mac_version=MAC_VERSION,
            session_id=sid,
        )


async def run_phase(
    name: str,
    conn: Connection,
    collector: Collector,
    rate: float,
    seconds: float,
    drain_s: float,
    max_drain_s: float = 60.0,
) -> PhaseResult:
    loop = asyncio.get_running_loop()
    conn.send(("phase", rate, seconds))
    _, total = await loop.run_in_executor(None, conn.recv)
    collector.seen.clear()
    collector.wanted, collector.count = set(), 0
    cpu0 = server_cpu(collector.radio_pid)
    conn.send(("go",))
    _, send_s, sent = await loop.run_in_executor(None, conn.recv)
    # wait for the backlog: until every frame came out, or nothing new for drain_s
    keys = {(i, f) for i, f, _ in sent}
    collector.wanted = keys
    collector.count = sum(1 for k in collector.seen if k in keys)  # arrived while sending
    last_count, last_change = -1, time.monotonic()
    give_up = time.monotonic() + max_drain_s
    while time.monotonic() - last_change < drain_s and time.monotonic() < give_up:
        count = collector.count
        if count >= total:
            break
        if count != last_count:
            last_count, last_change = count, time.monotonic()
        await asyncio.sleep(0.1)
    cpu1 = server_cpu(collector.radio_pid)
    cpu_radio_s = cpu1[1] - cpu0[1]
    cpu_s = cpu1[0] - cpu0[0] + cpu_radio_s
    first_send = min(t for _, _, t in sent)
    last_send = max(t for _, _, t in sent)
    arrived = {k: t for k, t in collector.seen.items() if k in keys}
    times = sorted(arrived.values())
    latencies = [(arrived[(i, f)] - t) / 1e6 for i, f, t in sent if (i, f) in arrived]
    span = ((times[-1] - first_send) / 1e9) if times else float("inf")
    steady_from = first_send + 1_000_000_000
    steady = [t for t in times if steady_from <= t <= last_send]
    steady_span = (last_send - steady_from) / 1e9
    return PhaseResult(
        name=name,
        offered_rate=rate,
        sent=total,
        send_seconds=send_s,
        delivered=len(times),
        throughput=len(times) / span if times else 0.0,
        steady_rate=len(steady) / steady_span if steady_span > 0 else 0.0,
        latencies_ms=latencies,
        cpu_s=cpu_s,
        cpu_radio_s=cpu_radio_s,
        samples=[
            ((t - first_send) / 1e9, (arrived[(i, f)] - t) / 1e6)
            for i, f, t in sent
            if (i, f) in arrived
        ],
    )


class CallTimes:
    """Wall time of every awaited call of the wrapped objects (``--timing``)."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}

    def wrap(self, obj: object, label: str, names: list[str] | None = None) -> None:
        for name in names or [n for n in dir(obj) if not n.startswith("_")]:
            fn = getattr(obj, name, None)
            if not asyncio.iscoroutinefunction(fn):
                continue
            setattr(obj, name, self._timed(f"{label}.{name}", fn))

    def _timed(self, key: str, fn: Any) -> Any:
        bucket = self.times.setdefault(key, [])

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                bucket.append((time.perf_counter() - started) * 1000)

        return timed

    def clear(self) -> None:
        for bucket in self.times.values():
            bucket.clear()

    def report(self, uplinks: int) -> None:
        print(f"  awaited calls per delivered uplink (wall ms; {uplinks} uplinks):")
        rows = sorted(self.times.items(), key=lambda kv: -sum(kv[1]))
        for key, values in rows:
            if values:
                print(
                    f"    {key:<48} calls/uplink {len(values) / max(1, uplinks):5.2f}  "
                    f"p50 {pct(values, 50):6.2f}  p99 {pct(values, 99):7.2f}  "
                    f"total/uplink {sum(values) / max(1, uplinks):6.2f}"
                )


def instrument(platform: EmbeddedPlatform) -> CallTimes:
    timing = CallTimes()
    storage = platform.storage
    assert storage is not None and platform.network_server is not None
    for name in ("sessions", "queue", "uplinks", "app_sessions", "devices", "applications"):
        timing.wrap(getattr(storage, name), f"storage.{name}")
    adapter = platform.network_server.adapter
    timing.wrap(adapter, "ns", ["handle_data_group"])
    return timing


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def report(r: PhaseResult, window_ms: float) -> None:
    lat = r.latencies_ms
    print(
        f"{r.name}: offered {r.offered_rate:,.0f}/s for {r.send_seconds:.1f} s, sent {r.sent:,}, "
        f"delivered {r.delivered:,} ({100 * r.delivered / max(1, r.sent):.1f} %)"
    )
    print(
        f"  throughput {r.throughput:,.0f} uplinks/s (first datagram -> last event), "
        f"steady {r.steady_rate:,.0f} uplinks/s while sending"
    )
    if r.delivered:
        print(
            f"  CPU of the server process(es): {r.cpu_s:.2f} s, "
            f"{1e6 * r.cpu_s / r.delivered:,.0f} us per delivered uplink"
            + (
                f" (main {r.cpu_s - r.cpu_radio_s:.2f} s, radio {r.cpu_radio_s:.2f} s)"
                if r.cpu_radio_s
                else ""
            )
        )
    if lat:
        print(
            f"  latency ms: p50 {pct(lat, 50):.1f}  p90 {pct(lat, 90):.1f}  p99 {pct(lat, 99):.1f}"
            f"  max {max(lat):.1f}  mean {statistics.fmean(lat):.1f}"
        )
        if window_ms:
            print(
                f"  minus the {window_ms:.0f} ms dedup window: p50 {pct(lat, 50) - window_ms:.1f}  "
                f"p99 {pct(lat, 99) - window_ms:.1f}"
            )


def counters(platform: EmbeddedPlatform) -> str:
    """What each stage counted (to see where frames went)."""
    parts = []
    if platform.gateway_bridge is not None:
        c = platform.gateway_bridge.counters
        parts.append(f"bridge {dict(sorted(c.tally.items()))}")
    if platform.network_server is not None:
        ns = platform.network_server.counters
        parts.append(
            "ns "
            + ", ".join(f"{k}={getattr(ns, k)}" for k in ns.__slots__ if getattr(ns, k))
            + f", early_closed={platform.network_server.adapter.runner.early_closed}"
        )
    if platform.bus is not None:
        b = platform.bus.counters
        parts.append(
            f"bus published={b.published} handled={b.handled} retried={b.retried} "
            f"dead_lettered={b.dead_lettered}"
        )
    return "\n  ".join(parts)


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    loop = eventloop.loop_factory()[0]  # HYPERLORA_EVENT_LOOP, as the services choose it
    return f"{os.cpu_count()} CPUs ({model}), Python {pyplatform.python_version()}, {loop} loop"


def switch_off(services: list[str]) -> None:
    """Attribution runs (``--without``): keep the named consumers from subscribing, so their
    cost leaves the loop. Not a product setting; the figures are labelled."""

    async def no_start(self: object) -> None:
        return None

    for name in services:
        if name == "drcc":
            from services.drcc.service import DrccService

            DrccService.start = no_start  # type: ignore[method-assign]
        elif name == "ledger":
            from services.ledger.writer import LedgerWriter

            LedgerWriter.start = no_start  # type: ignore[method-assign]
        else:
            raise SystemExit(f"--without: unknown service {name!r} (drcc, ledger)")


async def main(args: argparse.Namespace) -> None:
    configure_logging("WARNING")
    without = [w for w in (args.without or "").split(",") if w]
    switch_off(without)
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="hyperlora-bench-"))
    settings = PlatformSettings(
        data_dir=data_dir,
        udp_port=0,
        http_port=0,
        mqtt_enabled=args.mqtt_port is not None,
        mqtt_port=args.mqtt_port or 1883,
        log_level="WARNING",
        processes=args.processes,
    )
    platform = EmbeddedPlatform(
        settings,
        network_server=NetworkServerSettings(
            dedup_window_ms=args.dedup_window_ms, dedup_early_close=not args.no_early_close
        ),
        api=ApiSettings(event_queue_size=100_000),
    )
    await platform.start()
    assert platform.endpoints is not None
    server = (platform.endpoints.udp_host, platform.endpoints.udp_port)
    print(f"machine: {machine()}, server processes: {args.processes}")
    if without:
        print(f"ATTRIBUTION RUN without: {', '.join(without)} (not the product's figures)")
    print(
        f"data dir: {data_dir} (SQLite), devices: {args.devices}, dedup window: "
        f"{args.dedup_window_ms} ms, early close: {'off' if args.no_early_close else 'on'}"
    )
    started = time.perf_counter()
    await provision(platform, args.devices)
    print(f"provisioned {args.devices} ABP devices in {time.perf_counter() - started:.1f} s")

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    gen = ctx.Process(target=generator_main, args=(child, server, args.devices), daemon=True)
    gen.start()
    collector = Collector(platform, args.devices)
    waited_ms = args.dedup_window_ms if args.no_early_close else 0  # every frame waits it
    timing = instrument(platform) if args.timing else None
    profiler = None
    try:
        await run_phase("warm-up", parent, collector, 20, 1.0, args.drain_seconds)
        if timing is not None:
            timing.clear()
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(async_mode="disabled")
            profiler.start()
        cprof = None
        if args.cprofile:
            import cProfile

            cprof = cProfile.Profile()
            cprof.enable()
        sustained = await run_phase(
            "sustained",
            parent,
            collector,
            args.rate,
            args.seconds,
            args.drain_seconds,
            args.max_drain_seconds,
        )
        if cprof is not None:
            cprof.disable()
            cprof.dump_stats(args.cprofile)
            print(f"cProfile of the sustained phase (main thread) written to {args.cprofile}")
        if profiler is not None:
            profiler.stop()
            Path(args.profile).write_text(profiler.output_text(unicode=False, color=False))
            print(f"profile of the sustained phase written to {args.profile}")
        report(sustained, waited_ms)
        if timing is not None:
            timing.report(sustained.delivered)
            timing.clear()
        latency = await run_phase(
            "latency",
            parent,
            collector,
            args.latency_rate,
            args.latency_seconds,
            args.drain_seconds,
            args.max_drain_seconds,
        )
        report(latency, waited_ms)
        if timing is not None:
            timing.report(latency.delivered)
        if args.counters:
            print(f"  counters (whole run):\n  {counters(platform)}")
    finally:
        parent.send(("quit",))
        gen.join(timeout=10)
        await platform.stop()
    target_t = sustained.throughput >= 5000
    target_l = pct(latency.latencies_ms, 99) <= 50
    print(
        f"targets: sustained >= 5,000/s: {'met' if target_t else 'NOT met'} "
        f"({sustained.throughput:,.0f}/s); p99 <= 50 ms at {args.latency_rate:,.0f}/s: "
        f"{'met' if target_l else 'NOT met'} ({pct(latency.latencies_ms, 99):.1f} ms)"
    )
    if args.plot:
        plot(
            [sustained, latency],
            args.plot,
            f"embedded platform, {args.processes} server process(es), {args.devices:,} devices, "
            f"{machine()}",
        )


def plot(phases: list[PhaseResult], path: str, title: str) -> None:
    """Latency over time (every uplink, and p50/p99 per second) and delivered uplinks per
    second, one column per phase."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(phases), figsize=(6 * len(phases), 7), squeeze=False)
    for col, r in enumerate(phases):
        top, bottom = axes[0][col], axes[1][col]
        xs = [x for x, _ in r.samples]
        ys = [max(y, 0.01) for _, y in r.samples]
        top.scatter(xs, ys, s=2, alpha=0.3, color="tab:blue", label="one uplink")
        by_second: dict[int, list[float]] = {}
        for x, y in r.samples:
            by_second.setdefault(int(x), []).append(y)
        seconds = sorted(by_second)
        top.plot(seconds, [pct(by_second[t], 50) for t in seconds], color="black", label="p50")
        top.plot(seconds, [pct(by_second[t], 99) for t in seconds], color="red", label="p99")
        top.set_yscale("log")
        top.set_ylabel("latency, datagram in -> event out (ms)")
        top.set_title(f"{r.name}: {r.offered_rate:,.0f}/s offered")
        top.legend(loc="upper left")
        arrivals = sorted(x + y / 1000 for x, y in r.samples)
        counts: dict[int, int] = {}
        for a in arrivals:
            counts[int(a)] = counts.get(int(a), 0) + 1
        ticks = list(range(0, int(arrivals[-1]) + 1)) if arrivals else []
        bottom.bar(ticks, [counts.get(t, 0) for t in ticks], width=0.9, color="tab:green")
        bottom.axhline(r.offered_rate, color="grey", linestyle="--", label="offered")
        bottom.set_xlabel("seconds since the phase's first datagram")
        bottom.set_ylabel("uplink events per second")
        bottom.legend(loc="upper right")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"plot written to {path}")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--devices", type=int, default=1000)
    p.add_argument("--rate", type=float, default=6000.0, help="offered rate, sustained phase")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--latency-rate", type=float, default=1000.0)
    p.add_argument("--latency-seconds", type=float, default=10.0)
    p.add_argument(
        "--drain-seconds", type=float, default=15.0, help="give up after no progress for so long"
    )
    p.add_argument(
        "--max-drain-seconds", type=float, default=60.0, help="wait at most this for a backlog"
    )
    p.add_argument("--dedup-window-ms", type=int, default=200)
    p.add_argument(
        "--no-early-close", action="store_true", help="every frame waits the full window"
    )
    p.add_argument("--data-dir", default=None)
    p.add_argument(
        "--profile", default=None, help="pyinstrument text profile of the sustained phase"
    )
    p.add_argument(
        "--cprofile",
        default=None,
        help="cProfile stats file (pstats) of the sustained phase, main thread only",
    )
    p.add_argument("--timing", action="store_true", help="wall time of each storage call")
    p.add_argument(
        "--mqtt-port",
        type=int,
        default=None,
        help="publish every event to the MQTT broker on 127.0.0.1:PORT (through the app "
        "handler's outbox) as an operator would; default: MQTT off",
    )
    p.add_argument(
        "--processes",
        type=int,
        default=1,
        choices=(1, 2),
        help="HYPERLORA_PROCESSES: 2 runs the radio side (bridge, network server, join "
        "server) in a child process; CPU figures then add both processes",
    )
    p.add_argument("--counters", action="store_true", help="print each stage's counters")
    p.add_argument(
        "--without",
        default="",
        help="attribution run: comma-separated consumers left out (drcc, ledger); labelled",
    )
    p.add_argument("--plot", default=None, help="PNG: latency and throughput over time")
    p.add_argument("--quick", action="store_true", help="small smoke run")
    args = p.parse_args()
    if args.quick:
        args.devices, args.rate, args.seconds = 100, 500.0, 3.0
        args.latency_rate, args.latency_seconds = 100.0, 3.0
    return args


if __name__ == "__main__":
    eventloop.run(main(parse_args()))
