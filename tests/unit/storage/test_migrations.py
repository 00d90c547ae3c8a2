"""Alembic: the migration head creates exactly the models' schema; start-up upgrade."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from services.storage.db import create_engine, init_db
from services.storage.migrate import alembic_config, current_revision, head_revision, upgrade
from services.storage.models import Base


async def _diff(url: str) -> list[Any]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata
                )
            )
    finally:
        await engine.dispose()


async def test_migration_head_matches_models(db_url: str) -> None:
    await upgrade(db_url)
    assert await _diff(db_url) == []


async def test_empty_database_differs_from_models(db_url: str) -> None:
    # The comparison can fail: before migrating, every table is missing.
    diff = await _diff(db_url)
    added = {d[1].name for d in diff if d[0] == "add_table"}
    assert added == set(Base.metadata.tables)


async def test_init_db_is_idempotent_and_stamps_head(db_url: str) -> None:
    assert await current_revision(db_url) is None
    await init_db(db_url)
    await init_db(db_url)
    assert await current_revision(db_url) == head_revision()
    assert head_revision() is not None


async def test_pragmas_and_tables(db_url: str) -> None:
    await upgrade(db_url)
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
                assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
                assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 5000
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    assert {
        "tenants",
        "api_keys",
        "zones",
        "gateways",
        "applications",
        "device_profiles",
        "devices",
        "dev_nonces",
        "device_sessions",
        "device_queue",
        "uplink_log",
        "events",
        "drcc_state",
        "drcc_decisions",
        "alembic_version",
    } <= tables


def _downgrade_sync(connection: Any) -> None:
    command.downgrade(alembic_config(connection), "base")


async def test_downgrade_to_base_and_back(db_url: str) -> None:
    await upgrade(db_url)
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_downgrade_sync)
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    assert tables <= {"alembic_version"}
    assert await current_revision(db_url) is None
    await upgrade(db_url)
    assert await _diff(db_url) == []
