"""Benchmark: microseconds of DrccService per uplink (real SQLite storage in a temp dir).

N devices (half on the ``drcc`` policy, half on the default ``lorawan-adr``) are provisioned;
their ns.up.meta records are handed to ``DrccService.on_uplink_meta`` round-robin (as the
embedded platform's bus would, without the bus), each with ``--gateways`` signals; the clock
is the wall time of the whole loop *including* ``stop()`` (which flushes the coalesced state
writes), divided by the number of uplinks. Every run starts from an empty database; the
figure is the median of ``--runs`` runs. The decisions published are counted so that a
faster run that decides differently shows.

Run: ``.venv/bin/python bench/bench_drcc_service.py [--devices 100] [--uplinks 50] [--runs 3]
[--gateways 4]`` (the embedded benchmark's frames are each heard by one gateway).
"""

from __future__ import annotations

import argparse
import asyncio
import platform as pyplatform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.bus import MemoryBus, Topic
from services.bus.base import Envelope
from services.bus.messages import GwSignal, UplinkMeta
from services.drcc.service import DrccService
from services.drcc.settings import DrccSettings
from services.lorawan.types import EUI64
from services.storage import Application, Device, DeviceProfile, Tenant, build_storage
from services.storage.db import create_engine
from services.storage.migrate import upgrade

KEK = bytes(range(32))
T0 = datetime(2026, 1, 1, tzinfo=UTC)
GATEWAYS = [f"AA555A00000000{i:02X}" for i in range(1, 5)]
FREQS = (868_100_000, 868_300_000, 868_500_000)


def dev_eui_of(i: int) -> str:
    return f"70B3D57ED0{i:06X}"


def meta(i: int, f_cnt: int, t: datetime, gateways: int) -> UplinkMeta:
    dev_eui = dev_eui_of(i)
    base = -5.0 + (i % 15)
    signals = [
        GwSignal(gw_eui=g, rssi=-110.0 + k, snr=base - 2.0 * k + (f_cnt % 3))
        for k, g in enumerate(GATEWAYS[:gateways])
    ]
    return UplinkMeta(
        dedup_id=f"{dev_eui}-{f_cnt}",
        dev_eui=dev_eui,
        dev_addr=f"26{i:06X}",
        f_cnt=f_cnt + (f_cnt // 7 if i % 2 else 0),  # odd devices lose 1 frame in 8
        adr=True,
        dr=0,
        tx_power_index=1,
        nb_trans=1,
        freq_hz=FREQS[(i + f_cnt) % 3],
        region="EU868",
        signals=signals,
        gw_count=len(signals),
        received_at=t,
    )


async def one_run(devices: int, uplinks: int, settings: DrccSettings, gateways: int = 4) -> Figures:
    with tempfile.TemporaryDirectory(prefix="bench-drcc-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'drcc.db'}"
        await upgrade(url)
        storage = build_storage(create_engine(url), KEK)
        try:
            tenant = await storage.tenants.create(Tenant(name="t"))
            app = await storage.applications.create(Application(tenant_id=tenant.id, name="a"))
            drcc = await storage.device_profiles.create(
                DeviceProfile(tenant_id=tenant.id, name="drcc", adr_policy="drcc")
            )
            std = await storage.device_profiles.create(
                DeviceProfile(tenant_id=tenant.id, name="std")
            )
            for i in range(devices):
                await storage.devices.create(
                    Device(
                        dev_eui=EUI64.from_hex(dev_eui_of(i)),
                        tenant_id=tenant.id,
                        application_id=app.id,
                        device_profile_id=(drcc if i % 2 == 0 else std).id,
                    )
                )
            bus = MemoryBus(partitions=4)
            service = DrccService(settings, bus, storage)
            await service.start()
            await bus.start()  # nothing is published on ns.up.meta: the loop below feeds it
            envs = []
            n = 0
            for f_cnt in range(1, uplinks + 1):
                for i in range(devices):
                    n += 1
                    m = meta(i, f_cnt, T0 + timedelta(seconds=0.01 * n), gateways)
                    envs.append(Envelope(Topic.NS_UP_META, m.dev_eui, 0, n, {}, m, b""))
            clock = time.perf_counter
            counters = service.counters
            deciding = 0.0  # time spent in the uplinks that published a decision
            started = clock()
            for env in envs:
                before, t = counters.decisions, clock()
                await service.on_uplink_meta(env)
                if counters.decisions != before:
                    deciding += clock() - t
            await service.stop()
            elapsed = clock() - started
            await bus.stop()
            assert counters.uplinks == len(envs), counters
            n, d = len(envs), counters.decisions
            return Figures(elapsed * 1e6 / n, (elapsed - deciding) * 1e6 / (n - d), d)
        finally:
            await storage.close()


@dataclass(frozen=True)
class Figures:
    us_per_uplink: float  # everything, stop() included
    us_per_quiet_uplink: float  # the uplinks without a decision (and stop()), per uplink
    decisions: int


async def main(args: argparse.Namespace) -> None:
    settings = DrccSettings(ledger_enabled=False)
    print(
        f"machine: {pyplatform.processor() or pyplatform.machine()}, "
        f"Python {sys.version.split()[0]}; devices {args.devices} x uplinks {args.uplinks}, "
        f"{args.gateways} gateway(s) per uplink"
    )
    runs = []
    for run in range(args.runs):
        f = await one_run(args.devices, args.uplinks, settings, args.gateways)
        runs.append(f)
        print(
            f"run {run + 1}: {f.us_per_uplink:.1f} us/uplink, {f.us_per_quiet_uplink:.1f} us per "
            f"uplink without a decision ({f.decisions} decisions)"
        )
    print(
        f"median of {args.runs}: {statistics.median(f.us_per_uplink for f in runs):.1f} "
        f"us/uplink, {statistics.median(f.us_per_quiet_uplink for f in runs):.1f} us per uplink "
        "without a decision"
    )


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", type=int, default=100)
    p.add_argument("--uplinks", type=int, default=50, help="uplinks per device")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--gateways", type=int, default=4, choices=range(1, 5), help="per uplink")
    asyncio.run(main(p.parse_args()))
