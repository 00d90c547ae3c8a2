"""Benchmark: the distributed testbed end to end over UDP, side by side with the embedded mode.

The same driver as bench/bench_embedded_uplink.py (imported, not copied): a separate process
plays the gateways (frames built with services.lorawan, Semtech UDP PUSH_DATA, paced), N ABP
devices. Phases, in this order: an unloaded probe (20 uplinks/s: the latency floor), a
latency phase at 1,000 uplinks/s (p50/p99), then a sustained phase (offered rate above the
target: delivered uplinks/s), last because an overloaded system leaves a backlog behind.

* embedded: one process, in-process bus, SQLite; an uplink counts when the application event
  leaves the application handler's event hub (as in the embedded benchmark);
* testbed: deploy/testbed/testbed.sh up (Kafka, PostgreSQL, Mosquitto, every service as its own
  process, two network servers) on free ports in a scratch state dir; devices provisioned
  straight into PostgreSQL; an uplink counts when its ``.../event/up`` message arrives from the
  MQTT broker (what an application sees). Latency: MQTT arrival minus datagram send
  (CLOCK_MONOTONIC, shared by the processes of this machine).

Latencies include the network server's dedup window (200 ms by default: every uplink waits for
copies from other gateways); the figures are also given minus the window, and
``--dedup-window-ms 0`` measures the processing alone (both modes get the same window).
Targets (testbed): >= 3,000 uplinks/s sustained; p99 <= 100 ms at 1,000 uplinks/s.

Run: ``.venv/bin/python bench/bench_testbed_uplink.py [--devices 1000] [--rate 4000]
[--seconds 10] [--latency-rate 1000] [--latency-seconds 10] [--dedup-window-ms 200]
[--skip-embedded] [--embedded-processes 2] [--keep]`` (``--quick`` for a short smoke run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_embedded_uplink as emb

from services import eventloop
from services.api.settings import ApiSettings
from services.app_handler import sessions as app_sessions
from services.lorawan import AES128Key, DevAddr
from services.lorawan.types import EUI64
from services.network_server.settings import NetworkServerSettings
from services.platform import EmbeddedPlatform, PlatformSettings, configure_logging
from services.storage import (
    Application,
    Device,
    DeviceProfile,
    DeviceSession,
    StorageSettings,
    Tenant,
    open_storage,
)

ROOT = Path(__file__).resolve().parents[1]
TESTBED = ROOT / "deploy" / "testbed" / "testbed.sh"


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------ embedded


async def run_embedded(args: argparse.Namespace) -> Results:
    data_dir = Path(tempfile.mkdtemp(prefix="hyperlora-bench-emb-"))
    settings = PlatformSettings(
        data_dir=data_dir,
        udp_port=0,
        http_port=0,
        mqtt_enabled=False,
        log_level="WARNING",
        processes=args.embedded_processes,
    )
    platform = EmbeddedPlatform(
        settings,
        network_server=NetworkServerSettings(dedup_window_ms=args.dedup_window_ms),
        api=ApiSettings(event_queue_size=100_000),
    )
    await platform.start()
    try:
        assert platform.endpoints is not None
        await emb.provision(platform, args.devices)
        server = (platform.endpoints.udp_host, platform.endpoints.udp_port)
        collector = emb.Collector(platform, args.devices)
        return await phases(args, server, collector)
    finally:
        await platform.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


CpuProbe = Callable[[], dict[str, float]]


async def phases(
    args: argparse.Namespace,
    server: tuple[str, int],
    collector: Any,
    cpu: CpuProbe | None = None,
) -> Results:
    """warm-up, unloaded probe, latency at --latency-rate, then sustained (which may leave a
    backlog behind, so it runs last). ``cpu``: CPU seconds so far per process (group), taken
    around each phase."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    gen = ctx.Process(target=emb.generator_main, args=(child, server, args.devices), daemon=True)
    gen.start()
    d, md = args.drain_seconds, args.max_drain_seconds
    used: dict[str, dict[str, float]] = {}

    async def phase(name: str, rate: float, seconds: float) -> emb.PhaseResult:
        before = cpu() if cpu is not None else {}
        result = await emb.run_phase(name, parent, collector, rate, seconds, d, md)
        if cpu is not None:
            after = cpu()
            used[name] = {k: after[k] - before.get(k, 0.0) for k in after}
        return result

    try:
        await emb.run_phase("warm-up", parent, collector, 20, 1.0, d)
        probe = await phase("probe", args.probe_rate, 5.0)
        latency = await phase("latency", args.latency_rate, args.latency_seconds)
        sustained = await phase("sustained", args.rate, args.seconds)
        return Results(probe, latency, sustained, used)
    finally:
        parent.send(("quit",))
        gen.join(timeout=10)


@dataclass
class Results:
    probe: emb.PhaseResult
    latency: emb.PhaseResult
    sustained: emb.PhaseResult
    cpu: dict[str, dict[str, float]] = field(default_factory=dict)  # phase -> process -> s


def _label(cmdline: list[bytes]) -> str:
    """Which part of the testbed a process is: the service it runs, or the engine."""
    args = [a.decode(errors="replace") for a in cmdline if a]
    for marker in ("service", "services.cli.service"):  # hyperlora service X / python -m ...
        if marker in args and args.index(marker) + 1 < len(args):
            return args[args.index(marker) + 1]
    head = Path(args[0]).name if args else "?"
    if head == "java":
        return "kafka"
    if head.startswith("postgres"):
        return "postgresql"
    return head


def testbed_cpu(state: Path) -> dict[str, float]:
    """CPU seconds (user + system) used so far by every live process of the testbed in
    ``state``, summed per service or engine. A process is the testbed's when its environment
    has this HYPERLORA_STATE_DIR (the services, the Kafka JVM, Mosquitto), its command line
    names the state dir (the PostgreSQL server, started as another user), or its parent is
    the testbed's (PostgreSQL's backends); a backend takes its parent's label."""
    tick = os.sysconf("SC_CLK_TCK")
    needle, where = f"HYPERLORA_STATE_DIR={state}".encode(), str(state).encode()
    procs: dict[int, tuple[int, list[bytes], float, bool]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmdline = (d / "cmdline").read_bytes().split(b"\0")
            stat = (d / "stat").read_text()
            ours = where in b" ".join(cmdline) or needle in (d / "environ").read_bytes().split(
                b"\0"
            )
        except OSError:  # gone, or not ours to read
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        cpu = (int(fields[11]) + int(fields[12])) / tick
        procs[int(d.name)] = (int(fields[1]), cmdline, cpu, ours)
    out: dict[str, float] = {}
    for ppid, cmdline, cpu, ours in procs.values():
        if not ours and ppid in procs and procs[ppid][3]:
            cmdline, ours = procs[ppid][1], True  # a child of a testbed process
        if ours:
            label = _label(cmdline)
            out[label] = out.get(label, 0.0) + cpu
    return out


def cpu_report(r: Results, phase: str) -> None:
    used, result = r.cpu.get(phase), getattr(r, phase)
    if not used or not result.delivered:
        return
    total = sum(used.values())
    print(
        f"  CPU per delivered uplink, {phase} phase ({result.delivered:,} uplinks): "
        f"{1e3 * total / result.delivered:.2f} ms in all"
    )
    for label, seconds in sorted(used.items(), key=lambda kv: -kv[1]):
        print(
            f"    {label:<18} {1e3 * seconds / result.delivered:7.3f} ms "
            f"({100 * seconds / max(total, 1e-9):4.1f} %)"
        )


# ------------------------------------------------------------------------------ testbed


class MqttCollector:
    """Timestamps every ``up`` event the application receives from the MQTT broker."""

    def __init__(self, port: int, devices: int) -> None:
        self.port = port
        self.index = {emb.dev_eui_of(i): i for i in range(devices)}
        self.seen: dict[tuple[int, int], int] = {}
        self.ready = asyncio.Event()
        self.radio_pid: int | None = None  # the testbed's CPU is read per process (cpu probe)
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async with aiomqtt.Client(
            "127.0.0.1", port=self.port, identifier=f"bench-{uuid.uuid4().hex[:8]}",
            max_queued_incoming_messages=0,
        ) as client:  # fmt: skip
            await client.subscribe("application/+/device/+/event/up", qos=0)
            self.ready.set()
            async for message in client.messages:
                now = time.monotonic_ns()
                payload = message.payload
                assert isinstance(payload, bytes | bytearray)
                event = json.loads(payload)
                i = self.index.get(str(event.get("dev_eui", "")).upper())
                if i is not None:
                    self.seen[(i, int(event["f_cnt"]))] = now

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            await self.task


async def provision_pg(pg_url: str, devices: int) -> None:
    storage = await open_storage(StorageSettings(url=pg_url), migrate=False)
    try:
        tenant = await storage.tenants.create(Tenant(name=f"bench-{uuid.uuid4().hex[:6]}"))
        app = await storage.applications.create(Application(tenant_id=tenant.id, name="bench"))
        profile = await storage.device_profiles.create(
            DeviceProfile(
                tenant_id=tenant.id, name="abp", supports_join=False, mac_version=emb.MAC_VERSION
            )
        )
        for i in range(devices):
            nwk_s_key, app_s_key = emb.keys_of(i)
            eui = EUI64.from_hex(emb.dev_eui_of(i))
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
                    dev_addr=DevAddr.from_hex(emb.dev_addr_of(i)),
                    mac_version=emb.MAC_VERSION,
                    f_nwk_s_int_key=key,
                    s_nwk_s_int_key=key,
                    nwk_s_enc_key=key,
                    session_id=sid,
                )
            )
            await app_sessions.activate_abp(
                storage.app_sessions,
                dev_eui=eui,
                dev_addr=DevAddr.from_hex(emb.dev_addr_of(i)),
                app_s_key=AES128Key(app_s_key),
                mac_version=emb.MAC_VERSION,
                session_id=sid,
            )
    finally:
        await storage.close()


def testbed_env(state: Path, args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HYPERLORA_STATE_DIR=str(state),
        UDP_PORT=str(free_port(socket.SOCK_DGRAM)),
        API_PORT=str(free_port()),
        KAFKA_PORT=str(free_port()),
        KAFKA_CONTROLLER_PORT=str(free_port()),
        PG_PORT=str(free_port()),
        MQTT_PORT=str(free_port()),
        METRICS_BASE=str(30000 + free_port() % 20000),
        TESTBED_EXTRA_ENV=(
            f"HYPERLORA_NS_DEDUP_WINDOW_MS={args.dedup_window_ms} HYPERLORA_LOG_LEVEL=WARNING"
        ),
    )
    env.setdefault("HYPERLORA_PYTHON", sys.executable)
    return env


def testbed(env: dict[str, str], *cmd: str) -> str:
    proc = subprocess.run(
        ["bash", str(TESTBED), *cmd], env=env, capture_output=True, text=True, timeout=600,
        check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"testbed.sh {' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return proc.stdout


async def run_testbed(args: argparse.Namespace) -> Results:
    state = Path(tempfile.mkdtemp(prefix="hyperlora-bench-tb-"))
    state.chmod(0o755)
    env = testbed_env(state, args)
    started = time.perf_counter()
    try:
        out = await asyncio.to_thread(testbed, env, "up")
        print(f"testbed up in {time.perf_counter() - started:.1f} s (state {state})")
        pg_url = next(ln.split()[-1] for ln in out.splitlines() if "PostgreSQL" in ln)
        t0 = time.perf_counter()
        await provision_pg(pg_url, args.devices)
        print(f"provisioned {args.devices} ABP devices in {time.perf_counter() - t0:.1f} s")
        collector = MqttCollector(int(env["MQTT_PORT"]), args.devices)
        await asyncio.wait_for(collector.ready.wait(), 10)
        try:
            return await phases(
                args,
                ("127.0.0.1", int(env["UDP_PORT"])),
                collector,
                cpu=lambda: testbed_cpu(state),
            )
        finally:
            await collector.stop()
    finally:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(testbed, env, "down")
        if not args.keep:
            shutil.rmtree(state, ignore_errors=True)


# ------------------------------------------------------------------------------ report


def line(name: str, r: Results, window: float) -> str:
    lat, pr = r.latency.latencies_ms, r.probe.latencies_ms
    return (
        f"{name:<9} {r.sustained.throughput:>9,.0f} {r.sustained.steady_rate:>9,.0f} "
        f"{100 * r.sustained.delivered / max(1, r.sustained.sent):>6.1f}% "
        f"{emb.pct(lat, 50):>9.1f} {emb.pct(lat, 99):>9.1f} "
        f"{100 * r.latency.delivered / max(1, r.latency.sent):>6.1f}% "
        f"{emb.pct(pr, 50):>9.1f} {emb.pct(pr, 99):>9.1f}"
    )


async def main(args: argparse.Namespace) -> None:
    configure_logging("WARNING")
    print(f"machine: {emb.machine()}")
    print(
        f"devices {args.devices}; probe {args.probe_rate:,.0f}/s for 5 s; latency at "
        f"{args.latency_rate:,.0f}/s for {args.latency_seconds:.0f} s; sustained offered "
        f"{args.rate:,.0f}/s for {args.seconds:.0f} s; dedup window {args.dedup_window_ms} ms"
    )
    results: dict[str, Results] = {}
    if not args.skip_embedded:
        print(f"-- embedded ({args.embedded_processes} server process(es))")
        results["embedded"] = await run_embedded(args)
        for r in (results["embedded"].probe, results["embedded"].latency,
                  results["embedded"].sustained):  # fmt: skip
            emb.report(r, args.dedup_window_ms)
    print("-- testbed")
    results["testbed"] = await run_testbed(args)
    tb = results["testbed"]
    for r in (tb.probe, tb.latency, tb.sustained):
        emb.report(r, args.dedup_window_ms)
    for name in ("probe", "latency"):
        cpu_report(tb, name)
    w = float(args.dedup_window_ms)
    print()
    print(
        f"latencies in ms, datagram sent -> application event; they include the {w:.0f} ms window"
    )
    print(
        f"{'mode':<9} {'uplinks/s':>9} {'steady/s':>9} {'deliv':>7} "
        f"{'p50@rate':>9} {'p99@rate':>9} {'deliv':>7} {'p50@probe':>9} {'p99@probe':>9}"
    )
    for name, res in results.items():
        print(line(name, res, w))
    if "embedded" in results:
        em = results["embedded"]
        ratio_t = tb.sustained.throughput / max(1e-9, em.sustained.throughput)
        ratio_l = emb.pct(tb.latency.latencies_ms, 99) / max(
            1e-9, emb.pct(em.latency.latencies_ms, 99)
        )
        print(f"ratio testbed/embedded: throughput {ratio_t:.2f}, p99 at rate {ratio_l:.2f}")
    p99 = emb.pct(tb.latency.latencies_ms, 99)
    print(
        f"targets (testbed): >= 3,000 uplinks/s: "
        f"{'met' if tb.sustained.throughput >= 3000 else 'NOT met'} "
        f"({tb.sustained.throughput:,.0f}/s); p99 <= 100 ms at {args.latency_rate:,.0f}/s: "
        f"{'met' if p99 <= 100 else 'NOT met'} ({p99:.1f} ms, "
        f"{100 * tb.latency.delivered / max(1, tb.latency.sent):.0f} % delivered)"
    )


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--devices", type=int, default=1000)
    p.add_argument("--rate", type=float, default=4000.0, help="offered rate, sustained phase")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--latency-rate", type=float, default=1000.0)
    p.add_argument("--probe-rate", type=float, default=20.0, help="unloaded latency probe")
    p.add_argument("--latency-seconds", type=float, default=10.0)
    p.add_argument("--drain-seconds", type=float, default=15.0)
    p.add_argument("--max-drain-seconds", type=float, default=90.0)
    p.add_argument("--dedup-window-ms", type=int, default=200)
    p.add_argument("--skip-embedded", action="store_true")
    p.add_argument(
        "--embedded-processes",
        type=int,
        choices=(1, 2),
        default=1,
        help="the embedded side: one process, or two (HYPERLORA_PROCESSES=2)",
    )
    p.add_argument("--keep", action="store_true", help="keep the testbed's state dir (logs)")
    p.add_argument("--quick", action="store_true", help="small smoke run")
    args = p.parse_args()
    if args.quick:
        args.devices, args.rate, args.seconds = 100, 300.0, 3.0
        args.latency_rate, args.latency_seconds, args.probe_rate = 100.0, 3.0, 10.0
    return args


if __name__ == "__main__":
    eventloop.run(main(parse_args()))
