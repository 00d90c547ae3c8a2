"""integration_outbox: MQTT publishes and webhook POSTs waiting for their acknowledgement.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 10:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "integration_outbox",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("dev_eui", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claim_id", sa.String(length=32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_integration_outbox")),
    )
    op.create_index(
        "ix_integration_outbox_due",
        "integration_outbox",
        ["failed_at", "next_attempt_at"],
        unique=False,
    )
    op.create_index(
        "ix_integration_outbox_claim_id", "integration_outbox", ["claim_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_integration_outbox_claim_id", table_name="integration_outbox")
    op.drop_index("ix_integration_outbox_due", table_name="integration_outbox")
    op.drop_table("integration_outbox")
