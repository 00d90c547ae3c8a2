"""Alembic migrations run programmatically (on service start, and from tests).

The CLI works too: ``alembic -c services/storage/alembic.ini upgrade head`` with
``HYPERLORA_STORAGE_URL`` set (or the default SQLite file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from .db import create_engine

PACKAGE_DIR = Path(__file__).resolve().parent


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config(str(PACKAGE_DIR / "alembic.ini"))
    cfg.set_main_option("script_location", str(PACKAGE_DIR / "migrations"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


MIGRATION_LOCK_ID = 8317200001  # PostgreSQL advisory lock held while migrating


async def upgrade(url: str, revision: str = "head") -> None:
    """Run every pending migration on the database at ``url``."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # several services may start at once on an empty database: one migrates
                await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
            await conn.run_sync(_upgrade_sync, revision)
    finally:
        await engine.dispose()


def _upgrade_sync(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)


async def current_revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_current_sync)
    finally:
        await engine.dispose()


def _current_sync(connection: Connection) -> Any:
    return MigrationContext.configure(connection).get_current_revision()
