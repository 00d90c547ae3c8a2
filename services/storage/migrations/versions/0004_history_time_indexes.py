"""Indexes on the time of the history tables (uplink_log, events, drcc_decisions), so that
rows past their retention are found oldest first without a table scan.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 00:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    ("ix_uplink_log_received_at", "uplink_log", "received_at"),
    ("ix_events_created_at", "events", "created_at"),
    ("ix_drcc_decisions_created_at", "drcc_decisions", "created_at"),
)


def upgrade() -> None:
    for name, table, column in _INDEXES:
        op.create_index(name, table, [column])


def downgrade() -> None:
    for name, table, _column in _INDEXES:
        op.drop_index(name, table_name=table)
