"""Alembic environment: async engines, a shared connection when called programmatically."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from services.storage.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTER TABLE limits
        compare_type=True,
    )


def _run_with(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    from services.storage.db import create_engine
    from services.storage.settings import StorageSettings

    url = config.get_main_option("sqlalchemy.url") or StorageSettings().database_url
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run_with)
    finally:
        await engine.dispose()


def run_offline() -> None:
    from services.storage.settings import StorageSettings

    url = config.get_main_option("sqlalchemy.url") or StorageSettings().database_url
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
elif (shared := config.attributes.get("connection")) is not None:
    _run_with(shared)
else:
    asyncio.run(_run_async())
