"""Ledger queries: a device's ledger records, verification of a stored uplink, ledger status.

* ``GET /api/devices/{dev_eui}/ledger`` — uplinks from the application ledger of every known
  zone (``application:by_device``), so migrated records are found too, and joins from the
  device ledger (``device:joins_of``);
* ``GET /api/devices/{dev_eui}/uplinks/{f_cnt}/verify`` — the uplink log's record checked
  against the ledger wherever the record landed (``services.migration.lookup.verify_uplink``):
  hash match, tx id, block number (when the ledger tells), origin and stored zone;
* ``GET /api/ledger/status`` — per channel: height, pending and committed transactions, the
  ledger writer's backlog; per zone: backlog and commit latency; per writer lane.

Known zones: the ledger's ``app-<zone>`` channels, the zones table, and the migration
service's zones and routing. Without a ledger every route answers 503.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, status

from services.ledger import metrics as ledger_metrics
from services.ledger.base import Ledger, LedgerStatus
from services.ledger.channels import (
    DEVICE_CHANNEL,
    NETWORK_CHANNEL,
    ledger_channel,
    zone_of_channel,
)
from services.ledger.errors import LedgerError, RecordNotFound, UnknownChannel
from services.ledger.writer import LedgerWriter
from services.migration import MigrationService, RecordNotLocated, RoutingTable, verify_uplink
from services.storage import Storage

from ..deps import (
    CurrentKey,
    DevEuiPath,
    LedgerDep,
    LedgerWriterDep,
    OptionalMigrationDep,
    StorageDep,
    TenantScope,
)
from ..schemas.common import MAX_LIMIT
from ..schemas.ledger import (
    ChannelStatus,
    CommitLatency,
    DeviceLedger,
    LaneStatus,
    LedgerJoin,
    LedgerStatusPublic,
    LedgerUplink,
    UnavailableChannel,
    UplinkVerification,
    WriterStatus,
    ZoneLedgerStatus,
)
from ._common import API_PREFIX, not_found
from .devices import visible_device

router = APIRouter(prefix=API_PREFIX, tags=["ledger"])

ZONES_PAGE = 1000
CHAINCODE_MAX = 10_000  # the contracts' largest range (chaincode/base.py MAX_LIMIT)


def unavailable(exc: Exception) -> HTTPException:
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=f"ledger unavailable: {exc}")


async def _status(ledger: Ledger) -> LedgerStatus:
    try:
        return await ledger.status()
    except LedgerError as exc:
        raise unavailable(exc) from exc


async def known_zones(
    storage: Storage, ledger_status: LedgerStatus, migration: MigrationService | None
) -> list[str]:
    """Every zone an application record may be stored in (names as given, deduplicated)."""
    zones: set[str] = set()
    for name in ledger_status.channels:
        zone = zone_of_channel(name)
        if zone:
            zones.add(zone)
    offset = 0
    while True:
        page = await storage.zones.list(limit=ZONES_PAGE, offset=offset)
        zones.update(z.name for z in page.items)
        offset += len(page.items)
        if not page.items or offset >= page.total:
            break
    if migration is not None:
        zones.update(migration.settings.zones)
        for ep in migration.routing.epochs:
            for origin, row in ep.shares.items():
                zones.add(origin)
                zones.update(row)
    return sorted(zones)


def app_channels(zones: Iterable[str]) -> dict[str, str]:
    """``app-<zone>`` channel -> zone, one entry per channel (zones with unusable names are
    skipped: no channel can hold their records)."""
    out: dict[str, str] = {}
    for zone in sorted(zones):
        try:
            out.setdefault(ledger_channel("application", zone), zone)
        except ValueError:
            continue
    return out


async def _evaluate_json(ledger: Ledger, channel: str, fn: str, args: list[str]) -> Any:
    return json.loads(await ledger.evaluate(channel, fn, args))


@router.get("/devices/{dev_eui}/ledger")
async def device_ledger(
    dev_eui: DevEuiPath,
    scope: TenantScope,
    storage: StorageDep,
    ledger: LedgerDep,
    migration: OptionalMigrationDep,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="at most this many uplinks and joins")
    ] = 100,
) -> DeviceLedger:
    """The device's uplink records from every zone's application ledger, by f_cnt (the
    newest ``limit``), and its join records from the device ledger (the newest ``limit``)."""
    device = await visible_device(storage, dev_eui, scope)
    dev = str(device.dev_eui)
    channels = app_channels(await known_zones(storage, await _status(ledger), migration))
    uplinks: list[LedgerUplink] = []
    failed: list[UnavailableChannel] = []
    for channel in channels:
        try:
            docs = await _evaluate_json(
                ledger, channel, "application:by_device", [dev, str(CHAINCODE_MAX)]
            )
        except (UnknownChannel, RecordNotFound):
            continue
        except LedgerError as exc:
            failed.append(UnavailableChannel(ledger_channel=channel, error=str(exc)))
            continue
        uplinks.extend(LedgerUplink.from_doc(d, channel) for d in docs)
    uplinks.sort(key=lambda u: (u.f_cnt, u.created_at))
    joins: list[LedgerJoin] = []
    try:
        docs = await _evaluate_json(
            ledger, DEVICE_CHANNEL, "device:joins_of", [dev, str(CHAINCODE_MAX)]
        )
        joins = [LedgerJoin.from_doc(d, DEVICE_CHANNEL) for d in docs]
    except (UnknownChannel, RecordNotFound):
        pass
    except LedgerError as exc:
        failed.append(UnavailableChannel(ledger_channel=DEVICE_CHANNEL, error=str(exc)))
    joins.sort(key=lambda j: (j.received_at, j.key))
    return DeviceLedger(
        dev_eui=dev,
        uplinks=uplinks[-limit:],
        joins=joins[-limit:],
        ledger_channels=list(channels),
        unavailable=failed,
    )


async def block_of(ledger: Ledger, channel: str, tx_id: str) -> int | None:
    """The block number of a transaction when the adapter can tell (the embedded ledger's
    block store; an adapter may offer ``block_of_tx(channel, tx_id)``), else None."""
    finder = getattr(ledger, "block_of_tx", None)
    try:
        if callable(finder):
            number = await finder(channel, tx_id)
            return None if number is None else int(number)
        store = getattr(ledger, "store", None)
        if callable(store):
            found = store(channel).tx_status(tx_id)
            return None if found is None else int(found[0])
    except (LedgerError, AttributeError, TypeError):
        return None
    return None


@router.get("/devices/{dev_eui}/uplinks/{f_cnt}/verify")
async def verify_device_uplink(
    dev_eui: DevEuiPath,
    f_cnt: Annotated[int, Path(ge=0, le=0xFFFFFFFF, description="full 32-bit FCnt")],
    scope: TenantScope,
    storage: StorageDep,
    ledger: LedgerDep,
    migration: OptionalMigrationDep,
) -> UplinkVerification:
    """Check the uplink log's payload against the ledger record of ``dev_eui``/``f_cnt``,
    in whichever zone's ledger it landed (its origin zone first, then the routing history)."""
    device = await visible_device(storage, dev_eui, scope)
    record = await storage.uplinks.get(device.dev_eui, f_cnt, tenant_id=scope)
    if record is None:
        raise not_found("uplink")
    dev = str(device.dev_eui)
    origin = next((str(m["zone"]) for m in record.rx_metadata[:1] if m.get("zone")), None)
    routing = migration.routing if migration is not None else RoutingTable()
    zones = await known_zones(storage, await _status(ledger), migration)
    answer = UplinkVerification(
        dev_eui=dev,
        f_cnt=f_cnt,
        status="not_on_ledger",
        verified=False,
        uplink_id=record.id,
        session_id=record.session_id,
        stored_sha256=record.payload_sha256.hex(),
        origin_zone=origin,
    )
    try:
        result = await verify_uplink(
            ledger, routing, dev, f_cnt, record.payload.hex(), origin_zone=origin, zones=zones
        )
    except RecordNotLocated as exc:
        answer.detail = str(exc)
        return answer
    except LedgerError as exc:
        raise unavailable(exc) from exc
    channel = ledger_channel("application", str(result["zone"]))
    match = bool(result["match"])
    answer.status = "verified" if match else "mismatch"
    answer.verified = match
    answer.computed_sha256 = result["computed_sha256"]
    answer.ledger_sha256 = result["stored_sha256"]
    answer.tx_id = result["tx_id"]
    answer.block_number = await block_of(ledger, channel, str(result["tx_id"]))
    answer.origin_zone = result["origin_zone"]
    answer.stored_zone = result["stored_zone"]
    answer.ledger_channel = channel
    if not match:
        answer.detail = "the stored payload's SHA-256 differs from the ledger's"
    return answer


# ---------------------------------------------------------------------- status


ChannelKind = Literal["device", "network", "application", "other"]


def _channel_kind(name: str) -> tuple[ChannelKind, str | None]:
    if name == DEVICE_CHANNEL:
        return "device", None
    if name == NETWORK_CHANNEL:
        return "network", None
    zone = zone_of_channel(name)
    return ("application", zone) if zone else ("other", None)


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _bucket_bound(buckets: list[tuple[float, float]], count: float, q: float) -> float | None:
    """Upper bound of the first cumulative bucket holding the ``q`` quantile."""
    if count <= 0:
        return None
    for le, cumulative in buckets:
        if cumulative >= q * count:
            return None if math.isinf(le) else le
    return None


def commit_latencies() -> dict[str, CommitLatency]:
    """Per zone, from the writer's commit-latency histogram (this process)."""
    counts: dict[str, float] = {}
    sums: dict[str, float] = {}
    buckets: dict[str, list[tuple[float, float]]] = {}
    for family in ledger_metrics.COMMIT_LATENCY.collect():
        for sample in family.samples:
            zone = sample.labels.get("zone")
            if zone is None:
                continue
            if sample.name.endswith("_count"):
                counts[zone] = sample.value
            elif sample.name.endswith("_sum"):
                sums[zone] = sample.value
            elif sample.name.endswith("_bucket"):
                le = float(sample.labels["le"])
                buckets.setdefault(zone, []).append((le, sample.value))
    out: dict[str, CommitLatency] = {}
    for zone, count in counts.items():
        bs = sorted(buckets.get(zone, []))
        out[zone] = CommitLatency(
            count=int(count),
            mean_s=sums.get(zone, 0.0) / count if count else None,
            p50_le_s=_bucket_bound(bs, count, 0.5),
            p95_le_s=_bucket_bound(bs, count, 0.95),
        )
    return out


def _lanes(writer: LedgerWriter | None) -> list[LaneStatus]:
    if writer is None:
        return []
    lanes = []
    for lane_key, row in sorted(writer.stats().items()):
        zone, _, channel = lane_key.partition("/")
        lanes.append(LaneStatus(zone=zone, ledger_channel=channel, **row))
    return lanes


@router.get("/ledger/status")
async def ledger_status(
    _key: CurrentKey,
    storage: StorageDep,
    ledger: LedgerDep,
    writer: LedgerWriterDep,
    migration: OptionalMigrationDep,
) -> LedgerStatusPublic:
    """Per ledger channel (height, transactions) and per zone (writer backlog, commit
    latency); the writer's lanes and counters when it runs in this process."""
    st = await _status(ledger)
    lanes = _lanes(writer)
    backlog_of_channel: dict[str, int] = {}
    for lane in lanes:
        backlog_of_channel[lane.ledger_channel] = (
            backlog_of_channel.get(lane.ledger_channel, 0) + lane.backlog
        )
    channels = []
    for name, info in sorted(st.channels.items()):
        kind, zone = _channel_kind(name)
        height = _int(info.get("height"))
        error = info.get("error")
        if height is None and error is None:
            try:
                height = await ledger.height(name)
            except LedgerError as exc:
                error = str(exc)
        channels.append(
            ChannelStatus(
                ledger_channel=name,
                kind=kind,
                zone=zone,
                height=height,
                pending_txs=_int(info.get("pending")),
                committed_txs=_int(info.get("committed_txs")),
                backlog=backlog_of_channel.get(name, 0 if writer is not None else None),
                error=None if error is None else str(error),
            )
        )
    latencies = commit_latencies()
    zone_names = set(await known_zones(storage, st, migration))
    zone_names.update(lane.zone for lane in lanes)
    zone_names.update(latencies)
    zones = [
        ZoneLedgerStatus(
            zone=z,
            backlog=writer.backlog(z) if writer is not None else None,
            commit_latency=latencies.get(z),
        )
        for z in sorted(zone_names)
    ]
    writer_status = None
    if writer is not None:
        c = writer.counters
        writer_status = WriterStatus(
            received=c.received,
            duplicates=c.duplicates,
            committed=c.committed,
            existing=c.existing,
            failed=c.failed,
            retries=c.retries,
            backlog=writer.backlog(),
        )
    return LedgerStatusPublic(
        kind=st.kind,
        healthy=st.healthy,
        channels=channels,
        zones=zones,
        lanes=lanes,
        writer=writer_status,
    )
