"""One object holding the engine and every repository (for composition roots)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from .batch_conn import SqliteBatchWriter
from .crypto import KeyCipher
from .db import create_engine, create_read_engine, session_factory
from .migrate import upgrade
from .repositories import (
    ApiKeyRepo,
    ApplicationRepo,
    DeviceProfileRepo,
    DeviceQueueRepo,
    DeviceRepo,
    DeviceSessionRepo,
    DrccRepo,
    EventRepo,
    GatewayRepo,
    OutboxRepo,
    RetentionRepo,
    TenantRepo,
    UplinkLogRepo,
    ZoneRepo,
)
from .repositories._base import Clock, utcnow
from .repositories.app_session import AppSessionRepo
from .settings import StorageSettings


@dataclass(slots=True)
class Storage:
    engine: AsyncEngine
    tenants: TenantRepo
    api_keys: ApiKeyRepo
    zones: ZoneRepo
    gateways: GatewayRepo
    applications: ApplicationRepo
    device_profiles: DeviceProfileRepo
    devices: DeviceRepo
    sessions: DeviceSessionRepo
    queue: DeviceQueueRepo
    uplinks: UplinkLogRepo
    events: EventRepo
    drcc: DrccRepo
    app_sessions: AppSessionRepo
    outbox: OutboxRepo
    retention: RetentionRepo
    batch_writer: SqliteBatchWriter | None = None  # embedded SQLite: group-commit batches
    read_engine: Engine | None = None  # embedded SQLite: the uplink path's reads, on the loop

    async def close(self) -> None:
        if self.batch_writer is not None:
            await self.batch_writer.close()
            self.batch_writer = None
        if self.read_engine is not None:
            self.read_engine.dispose()
            self.read_engine = None
        await self.engine.dispose()


def sqlite_file(engine: AsyncEngine) -> str | None:
    """The database file of a SQLite engine (None: another backend, or in memory)."""
    url = make_url(str(engine.url))
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:") or url.query:
        return None
    return database


def build_storage(
    engine: AsyncEngine, kek: bytes, *, clock: Clock = utcnow, batch_writer: bool = True
) -> Storage:
    """Every repository over ``engine``; on a SQLite file, the group-commit batches
    (``sessions.save_many``, ``uplinks.insert_many``) get a connection of their own
    (``batch_writer``; see services.storage.batch_conn)."""
    sessions = session_factory(engine)
    cipher = KeyCipher(kek)
    storage = Storage(
        engine=engine,
        tenants=TenantRepo(sessions, clock=clock),
        api_keys=ApiKeyRepo(sessions, clock=clock),
        zones=ZoneRepo(sessions, clock=clock),
        gateways=GatewayRepo(sessions, clock=clock),
        applications=ApplicationRepo(sessions, clock=clock),
        device_profiles=DeviceProfileRepo(sessions, clock=clock),
        devices=DeviceRepo(sessions, cipher, clock=clock),
        sessions=DeviceSessionRepo(sessions, cipher, clock=clock),
        queue=DeviceQueueRepo(sessions, clock=clock),
        uplinks=UplinkLogRepo(sessions, clock=clock),
        events=EventRepo(sessions, clock=clock),
        drcc=DrccRepo(sessions, clock=clock),
        app_sessions=AppSessionRepo(sessions, cipher, clock=clock),
        outbox=OutboxRepo(sessions, clock=clock),
        retention=RetentionRepo(sessions, clock=clock),
    )
    path = sqlite_file(engine) if batch_writer else None
    # the repositories whose point reads are on the uplink path
    hot_reads = (
        storage.devices,
        storage.device_profiles,
        storage.applications,
        storage.sessions,
        storage.app_sessions,
    )
    if path is not None:
        storage.read_engine = read_engine = create_read_engine(path)
        for repo in hot_reads:
            repo.read_engine = read_engine
        writer = SqliteBatchWriter(path, engine.dialect)
        storage.batch_writer = storage.sessions.batch_writer = writer
        storage.uplinks.batch_writer = storage.app_sessions.batch_writer = writer
        storage.drcc.batch_writer = storage.outbox.batch_writer = writer
        storage.retention.batch_writer = writer
    elif engine.dialect.name == "postgresql":
        # point reads of the uplink path as single statements: with a session each read was
        # pre-ping, BEGIN, SELECT and ROLLBACK, four round trips (20-30 % of a network
        # server's CPU on the testbed)
        autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        for repo in hot_reads:
            repo.autocommit_engine = autocommit
    return storage


async def open_storage(
    settings: StorageSettings | None = None, *, migrate: bool = True, clock: Clock = utcnow
) -> Storage:
    """Migrate the database (unless told not to) and return every repository over it."""
    settings = settings or StorageSettings()
    url = settings.database_url
    if migrate:
        await upgrade(url)
    pool: dict[str, int] = {}
    if make_url(url).get_backend_name() == "postgresql":
        pool = {"pool_size": settings.pool_size, "max_overflow": settings.pool_max_overflow}
    return build_storage(create_engine(url, **pool), settings.kek_bytes, clock=clock)


def _conforms_to_protocols(st: Storage) -> None:  # checked by mypy, never called
    from . import interfaces as i

    _tenants: i.TenantRepository = st.tenants
    _api_keys: i.ApiKeyRepository = st.api_keys
    _zones: i.ZoneRepository = st.zones
    _gateways: i.GatewayRepository = st.gateways
    _applications: i.ApplicationRepository = st.applications
    _profiles: i.DeviceProfileRepository = st.device_profiles
    _devices: i.DeviceRepository = st.devices
    _sessions: i.DeviceSessionRepository = st.sessions
    _queue: i.DeviceQueueRepository = st.queue
    _uplinks: i.UplinkLogRepository = st.uplinks
    _events: i.EventRepository = st.events
    _drcc: i.DrccRepository = st.drcc
