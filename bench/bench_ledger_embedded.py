"""Benchmark: the ledger writer + embedded ledger, end to end (outbox -> chaincode -> blocks).

Run: ``.venv/bin/python bench/bench_ledger_embedded.py [--rate 200] [--seconds 10] [--zones 2]``

Feeds ``--rate`` application records per second in total (spread over ``--zones`` zones) into
the LedgerWriter as the ledger.tx consumer does (``accept``: the record's completion finishes
once it is in the outbox; the consumer moves on meanwhile), and prints per zone: records
committed per second and the p50/p99 latency from submit (outbox) to commit, plus blocks cut.
``--rate 0`` feeds everything at once to measure the maximum throughput. Also prints the CPU
time per record of the whole process (``time.process_time``: writer, outbox, endorsement and
the channels' committer threads — what the ledger costs the platform's process) and of the
event loop's thread alone (``time.thread_time``). Orderer defaults: 10 tx / 250 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import tempfile
import time
from collections import defaultdict

from services.bus.messages import LedgerRecord
from services.ledger.embedded import EmbeddedLedger
from services.ledger.writer import Confirmation, LedgerWriter, WriterConfig

TICK_S = 0.002  # paced feeding: a bus consumer also takes what arrived since its last turn


def record(i: int, zone: str) -> LedgerRecord:
    dev_eui = f"{0x0102030400000000 + i % 1000:016X}"
    f_cnt = i // 1000
    payload = (i.to_bytes(4, "big") * 5).hex()
    return LedgerRecord(
        idempotency_key=f"up:{dev_eui}:s:{f_cnt}",
        channel="application",
        kind="uplink",
        zone=zone,
        key=f"{dev_eui}/{f_cnt}",
        payload={
            "dev_eui": dev_eui,
            "f_cnt": f_cnt,
            "received_at": "2026-01-01T00:00:00+00:00",
            "gateways": ["AABBCCDDEEFF0011", "AABBCCDDEEFF0012"],
            "payload_sha256": hashlib.sha256(bytes.fromhex(payload)).hexdigest(),
            "payload": payload,
        },
    )


def writer_config(**overrides: float) -> WriterConfig:
    """The writer's defaults (= HYPERLORA_LEDGER_WRITER_*), with the options given; options a
    writer does not have (an older one) are left out."""
    fields = set(getattr(WriterConfig, "__dataclass_fields__", {}))
    return WriterConfig(**{k: v for k, v in overrides.items() if k in fields})  # type: ignore[arg-type]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


async def run(
    rate: float,
    seconds: float,
    zones: int,
    batch_size: int,
    timeout_ms: int,
    writer: dict[str, float] | None = None,
) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        ledger = EmbeddedLedger(data_dir, batch_size=batch_size, batch_timeout_s=timeout_ms / 1000)
        await ledger.start()
        latencies: dict[str, list[float]] = defaultdict(list)
        done = asyncio.Event()
        total = int(rate * seconds) if rate > 0 else int(seconds * 1000)

        def on_commit(c: Confirmation) -> None:
            latencies[c.zone].append(c.latency_s)
            if sum(len(v) for v in latencies.values()) >= total:
                done.set()

        writer = LedgerWriter(
            ledger,
            data_dir=data_dir,
            on_commit=on_commit,
            config=writer_config(**(writer or {})),
        )
        await writer.start()
        names = [f"zone-{chr(ord('a') + z)}" for z in range(zones)]
        records = [record(i, names[i % zones]) for i in range(total)]
        cpu0 = time.thread_time()  # CPU of this thread = the event loop's thread
        proc0 = time.process_time()  # every thread (committer threads included)
        t0 = time.perf_counter()
        accept = getattr(writer, "accept", None)  # None: a writer from before accept()
        staged = []
        for i, rec in enumerate(records):
            if rate > 0:  # records due are fed together, at most one wake-up per TICK_S
                delay = t0 + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(max(delay, TICK_S))
            if accept is not None:
                staged.append(accept(rec))
            else:
                await writer.handle(rec)
        await asyncio.gather(*staged)
        fed = time.perf_counter() - t0
        await asyncio.wait_for(done.wait(), timeout=120)
        elapsed = time.perf_counter() - t0
        loop_cpu = time.thread_time() - cpu0
        proc_cpu = time.process_time() - proc0
        status = await ledger.status()
        await writer.stop()
        await ledger.stop()

    mode = f"{rate:.0f} records/s offered" if rate > 0 else "burst (max throughput)"
    print(
        f"embedded ledger + writer: {total} records, {zones} zone(s), {mode}, "
        f"orderer {batch_size} tx / {timeout_ms} ms; fed in {fed:.2f} s, "
        f"all committed after {elapsed:.2f} s"
    )
    print(
        f"CPU of the process: {proc_cpu:.2f} s = {proc_cpu / max(1, total) * 1e6:.0f} us per "
        f"record; on the event loop: {loop_cpu:.2f} s = "
        f"{loop_cpu / max(1, total) * 1e6:.0f} us per record"
    )
    print(f"{'zone':10} {'records':>8} {'commit/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'blocks':>7}")
    for zone in names:
        lat = latencies[zone]
        blocks = status.channels.get(f"app-{zone}", {}).get("height", 0)
        print(
            f"{zone:10} {len(lat):8d} {len(lat) / elapsed:9.1f} {pct(lat, 0.5) * 1000:8.1f} "
            f"{pct(lat, 0.99) * 1000:8.1f} {blocks:7d}"
        )
    every = [x for v in latencies.values() for x in v]
    print(
        f"{'all':10} {len(every):8d} {len(every) / elapsed:9.1f} "
        f"{pct(every, 0.5) * 1000:8.1f} {pct(every, 0.99) * 1000:8.1f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=200.0, help="records/s in total; 0 = burst")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--zones", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=10)
    ap.add_argument("--batch-timeout-ms", type=int, default=250)
    ap.add_argument("--max-in-flight", type=int, help="records per lane (writer default)")
    ap.add_argument("--linger-ms", type=float, help="writer linger (writer default)")
    ap.add_argument("--intake-window-ms", type=float, help="outbox group window (default)")
    args = ap.parse_args()
    writer: dict[str, float] = {}
    if args.max_in_flight is not None:
        writer["max_in_flight"] = args.max_in_flight
    if args.linger_ms is not None:
        writer["linger_s"] = args.linger_ms / 1000
    if args.intake_window_ms is not None:
        writer["intake_window_s"] = args.intake_window_ms / 1000
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(
        run(
            args.rate,
            args.seconds,
            args.zones,
            args.batch_size,
            args.batch_timeout_ms,
            writer,
        )
    )


if __name__ == "__main__":
    main()
