"""Micro-benchmark of the uplink hot path: gw.up -> NetworkServerService -> ns.up ->
AppHandlerService -> application event, over a MemoryBus and SQLite, in one process.

No UDP, no gateway bridge, no API: it measures what the network server, the application
handler, the bus and storage cost per deduplicated uplink. N ABP devices are provisioned
through the repositories; frames are built beforehand (encrypted FRMPayload, MIC) and
published on gw.up as GatewayUplink messages.

Phases: "throughput" (publish as fast as the bus accepts, with at most ``--in-flight``
uplinks not yet out of the app handler; uplinks/s from the first publish to the last event)
and "latency" (paced at ``--latency-rate``; p50/p99 from publish to application event).

Run: ``.venv/bin/python bench/bench_ns_hot_path.py [--devices 500] [--frames 20000]
[--in-flight 2000] [--latency-rate 1000] [--latency-seconds 5] [--dedup-window-ms 0]
[--runs 3] [--profile out.txt]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.app_handler.service import AppHandlerService
from services.app_handler.settings import AppHandlerSettings, MqttSettings
from services.bus import Topic
from services.bus.memory import MemoryBus
from services.bus.messages import GatewayUplink, RxMetadata
from services.lorawan import FHDR, MHDR, AES128Key, DevAddr, FCtrl, MACPayload, MType, PhyPayload
from services.lorawan.types import EUI64
from services.network_server.service import NetworkServerService
from services.network_server.settings import NetworkServerSettings
from services.storage import (
    Application,
    Device,
    DeviceProfile,
    DeviceSession,
    Storage,
    StorageSettings,
    Tenant,
    open_storage,
)

MAC_VERSION = "1.0.3"


def dev_eui_of(i: int) -> str:
    return f"70B3D57E{i:08X}"


def dev_addr_of(i: int) -> str:
    return f"01{i:06X}"


def keys_of(i: int) -> tuple[bytes, bytes]:
    seed = i.to_bytes(4, "big")
    return b"\x11" * 12 + seed, b"\x22" * 12 + seed


def build_frame(i: int, f_cnt: int) -> bytes:
    nwk_s_key, app_s_key = keys_of(i)
    phy = PhyPayload(
        MHDR(MType.UNCONFIRMED_DATA_UP),
        MACPayload(FHDR(DevAddr.from_hex(dev_addr_of(i)), FCtrl(), f_cnt), 10, bytes(12)),
    )
    phy.encrypt_frm_payload(AES128Key(app_s_key))
    key = AES128Key(nwk_s_key)
    phy.set_uplink_data_mic(MAC_VERSION, 0, 5, 0, key, key)
    return phy.to_bytes()


def gw_up(phy: bytes, n: int) -> GatewayUplink:
    rx = RxMetadata(
        gw_eui="AA555A0000000001",
        tmst=n * 1000 % (1 << 32),
        freq_hz=868_100_000,
        sf=7,
        bw_hz=125_000,
        dr="SF7BW125",
        rssi=-70,
        snr=7.5,
        size=len(phy),
        received_at=datetime.now(UTC),
    )
    return GatewayUplink(uplink_id=uuid.uuid4().hex, phy_payload=phy, rx=rx)


class Sink:
    """The event hub stand-in: timestamps every ``up`` event by (dev_eui, f_cnt)."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, int], int] = {}
        self.arrived = asyncio.Event()

    def publish(self, event: Mapping[str, Any]) -> None:
        if event.get("event") == "up":
            self.seen[(str(event["dev_eui"]).upper(), int(event["f_cnt"]))] = time.monotonic_ns()
            self.arrived.set()


async def provision(storage: Storage, app: AppHandlerService, devices: int) -> None:
    tenant = await storage.tenants.create(Tenant(name="bench"))
    application = await storage.applications.create(Application(tenant_id=tenant.id, name="b"))
    application.integrations.mqtt_enabled = False
    await storage.applications.update(application, tenant_id=None)
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
                application_id=application.id,
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
        await app.activate_abp(
            dev_eui=eui,
            dev_addr=DevAddr.from_hex(dev_addr_of(i)),
            app_s_key=AES128Key(app_s_key),
            mac_version=MAC_VERSION,
            session_id=sid,
        )


def batch_stats(ns: Any, app: Any) -> list[tuple[int, int]]:
    """(commits, writes) of the group committers, where they exist (not before this work)."""
    out = []
    for gc in (
        getattr(ns.adapter, "session_writer", None),
        getattr(app, "_uplink_log", None),
    ):
        out.append((gc.batches, gc.items) if gc is not None else (0, 0))
    return out


def thread_cpu() -> dict[str, tuple[str, float]]:
    """CPU seconds (user + system) of every thread of this process, by thread id (Linux)."""
    out: dict[str, tuple[str, float]] = {}
    names = {str(t.native_id): t.name.split("_")[0] for t in threading.enumerate()}
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path("/proc/self/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        name = names.get(task.name, stat[stat.index("(") + 1 : stat.rindex(")")])
        fields = stat[stat.rindex(")") + 2 :].split()
        out[task.name] = (name, (int(fields[11]) + int(fields[12])) / tick)
    return out


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


class Rig:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.f_cnts = [0] * args.devices
        self.sink = Sink()

    def plan(self, total: int) -> list[tuple[tuple[str, int], bytes]]:
        out = []
        for n in range(total):
            i = n % self.args.devices
            self.f_cnts[i] += 1
            out.append(((dev_eui_of(i), self.f_cnts[i]), build_frame(i, self.f_cnts[i])))
        return out

    async def wait_for(self, keys: list[tuple[str, int]], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        seen = self.sink.seen
        while time.monotonic() < deadline:
            if all(k in seen for k in keys[-50:]) and sum(1 for k in keys if k in seen) == len(
                keys
            ):
                return
            await asyncio.sleep(0.02)

    async def throughput(self, bus: MemoryBus, frames: int) -> tuple[float, int]:
        plan = self.plan(frames)
        keys = [k for k, _ in plan]
        seen = self.sink.seen
        in_flight = self.args.in_flight
        started = time.monotonic_ns()
        for n, (_key, phy) in enumerate(plan):
            while n - len(seen) >= in_flight:
                self.sink.arrived.clear()
                await self.sink.arrived.wait()
            msg = gw_up(phy, n)
            await bus.publish(Topic.GW_UP, phy[1:5][::-1].hex().upper(), msg)
        await self.wait_for(keys, 120)
        got = [seen[k] for k in keys if k in seen]
        span = (max(got) - started) / 1e9 if got else float("inf")
        return len(got) / span, len(got)

    async def latency(self, bus: MemoryBus, rate: float, seconds: float) -> list[float]:
        total = int(rate * seconds)
        plan = self.plan(total)
        sent: list[int] = []
        start = time.monotonic()
        n = 0
        while n < total:
            due = min(total, int((time.monotonic() - start) * rate) + 1)
            while n < due:
                _key, phy = plan[n]
                sent.append(time.monotonic_ns())
                await bus.publish(Topic.GW_UP, phy[1:5][::-1].hex().upper(), gw_up(phy, n))
                n += 1
            await asyncio.sleep(0.001)
        keys = [k for k, _ in plan]
        await self.wait_for(keys, 60)
        seen = self.sink.seen
        return [(seen[k] - t) / 1e6 for k, t in zip(keys, sent, strict=True) if k in seen]


async def one_run(args: argparse.Namespace, data_dir: Path) -> tuple[float, list[float]]:
    storage = await open_storage(
        StorageSettings(url=f"sqlite+aiosqlite:///{data_dir / 'bench.db'}")
    )
    bus = MemoryBus(queue_size=1000)
    rig = Rig(args)
    ns = NetworkServerService(
        NetworkServerSettings(dedup_window_ms=args.dedup_window_ms), bus, storage
    )
    app = AppHandlerService(
        AppHandlerSettings(mqtt=MqttSettings(enabled=False)), bus, storage, event_hub=rig.sink
    )
    await ns.start()
    await app.start()
    await bus.start()
    try:
        t0 = time.perf_counter()
        await provision(storage, app, args.devices)
        print(f"  provisioned {args.devices} devices in {time.perf_counter() - t0:.1f} s")
        await rig.throughput(bus, args.devices)  # warm-up: one frame per device
        profiler = None
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(async_mode="disabled")
            profiler.start()
        cprof = None
        if args.cprofile:
            import cProfile

            cprof = cProfile.Profile()
            cprof.enable()
        cpu0 = time.process_time()
        threads0 = thread_cpu()
        writers = batch_stats(ns, app)
        rate, got = await rig.throughput(bus, args.frames)
        cpu_ms = (time.process_time() - cpu0) * 1000 / max(1, got)
        threads1 = thread_cpu()
        if cprof is not None:
            import io
            import pstats

            cprof.disable()
            out = io.StringIO()
            pstats.Stats(cprof, stream=out).sort_stats("tottime").print_stats(45)
            Path(args.cprofile).write_text(out.getvalue())
        if profiler is not None:
            profiler.stop()
            Path(args.profile).write_text(profiler.output_text(unicode=False, color=False))
        print(
            f"  throughput: {rate:,.0f} uplinks/s ({got}/{args.frames} delivered), "
            f"process CPU {cpu_ms:.2f} ms per uplink (incl. building the frames)"
        )
        for name, (b0, i0), (b1, i1) in zip(
            ("ns sessions", "app uplink log"), writers, batch_stats(ns, app), strict=True
        ):
            if b1 > b0:
                print(f"  {name}: {b1 - b0} commits, {(i1 - i0) / (b1 - b0):.1f} writes each")
        per_thread: dict[str, float] = {}
        for tid, (name, secs) in threads1.items():
            spent = secs - threads0.get(tid, (name, 0.0))[1]
            per_thread[name] = per_thread.get(name, 0.0) + spent
        print(
            "  CPU ms per uplink by thread: "
            + ", ".join(
                f"{n} {v * 1000 / max(1, got):.2f}"
                for n, v in sorted(per_thread.items(), key=lambda kv: -kv[1])
                if v > 0
            )
        )
        lat = await rig.latency(bus, args.latency_rate, args.latency_seconds)
        total = int(args.latency_rate * args.latency_seconds)
        print(
            f"  latency at {args.latency_rate:,.0f}/s: p50 {pct(lat, 50):.1f} ms  "
            f"p99 {pct(lat, 99):.1f} ms  max {max(lat, default=float('nan')):.1f} ms "
            f"({len(lat)}/{total} delivered)"
        )
    finally:
        await ns.stop()
        await bus.stop()
        await app.stop()
        await storage.close()
    return rate, lat


async def main(args: argparse.Namespace) -> None:
    rates: list[float] = []
    p50s: list[float] = []
    p99s: list[float] = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="hyperlora-nsbench-") as tmp:
            print(f"run {run + 1}/{args.runs}")
            rate, lat = await one_run(args, Path(tmp))
            rates.append(rate)
            p50s.append(pct(lat, 50))
            p99s.append(pct(lat, 99))
    print(
        f"median of {args.runs}: throughput {statistics.median(rates):,.0f} uplinks/s; "
        f"at {args.latency_rate:,.0f}/s p50 {statistics.median(p50s):.1f} ms, "
        f"p99 {statistics.median(p99s):.1f} ms (dedup window {args.dedup_window_ms} ms)"
    )


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--devices", type=int, default=500)
    p.add_argument("--frames", type=int, default=20_000)
    p.add_argument("--in-flight", type=int, default=2_000)
    p.add_argument("--latency-rate", type=float, default=1000.0)
    p.add_argument("--latency-seconds", type=float, default=5.0)
    p.add_argument("--dedup-window-ms", type=int, default=0)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--profile", default=None, help="pyinstrument text profile (throughput)")
    p.add_argument("--cprofile", default=None, help="cProfile top functions (throughput)")
    return p.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
