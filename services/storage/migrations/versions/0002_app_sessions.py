"""app_sessions: the application handler's sessions (AppSKey, downlink counter reservation).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 02:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "app_sessions",
        sa.Column("dev_eui", sa.String(length=16), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("dev_addr", sa.String(length=8), nullable=False),
        sa.Column("join_eui", sa.String(length=16), nullable=True),
        sa.Column("mac_version", sa.String(length=8), nullable=False),
        sa.Column("app_s_key", sa.LargeBinary(), nullable=False),
        sa.Column("last_a_f_cnt_down_reserved", sa.BigInteger(), nullable=True),
        sa.Column("n_f_cnt_down", sa.BigInteger(), nullable=True),
        sa.Column("a_f_cnt_down", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dev_eui"],
            ["devices.dev_eui"],
            name=op.f("fk_app_sessions_dev_eui_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dev_eui", name=op.f("pk_app_sessions")),
    )


def downgrade() -> None:
    op.drop_table("app_sessions")
