"""Initial schema: every table of HyperLoRa storage.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 01:50:29.915003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
    )
    op.create_table(
        "zones",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("ledger_settings", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_zones")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_api_keys_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_index(op.f("ix_api_keys_tenant_id"), "api_keys", ["tenant_id"], unique=False)

    op.create_table(
        "applications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("integrations", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_applications_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applications")),
    )
    op.create_index(op.f("ix_applications_tenant_id"), "applications", ["tenant_id"], unique=False)

    op.create_table(
        "device_profiles",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("region", sa.String(length=16), nullable=False),
        sa.Column("mac_version", sa.String(length=8), nullable=False),
        sa.Column("reg_params_revision", sa.String(length=32), nullable=False),
        sa.Column("supports_join", sa.Boolean(), nullable=False),
        sa.Column("device_class", sa.String(length=1), nullable=False),
        sa.Column("adr_policy", sa.String(length=64), nullable=False),
        sa.Column("rx1_delay", sa.Integer(), nullable=False),
        sa.Column("rx1_dr_offset", sa.Integer(), nullable=False),
        sa.Column("rx2_dr", sa.Integer(), nullable=False),
        sa.Column("rx2_freq", sa.BigInteger(), nullable=False),
        sa.Column("uplink_interval", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_device_profiles_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_profiles")),
    )
    op.create_index(
        op.f("ix_device_profiles_tenant_id"), "device_profiles", ["tenant_id"], unique=False
    )

    op.create_table(
        "gateways",
        sa.Column("gw_eui", sa.String(length=16), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("zone", sa.String(length=64), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("altitude", sa.Float(), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_stats", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_gateways_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["zone"], ["zones.name"], name=op.f("fk_gateways_zone_zones"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("gw_eui", name=op.f("pk_gateways")),
    )
    op.create_index(op.f("ix_gateways_tenant_id"), "gateways", ["tenant_id"], unique=False)
    op.create_index(op.f("ix_gateways_zone"), "gateways", ["zone"], unique=False)

    op.create_table(
        "devices",
        sa.Column("dev_eui", sa.String(length=16), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("device_profile_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("join_eui", sa.String(length=16), nullable=True),
        sa.Column("nwk_key", sa.LargeBinary(), nullable=True),
        sa.Column("app_key", sa.LargeBinary(), nullable=True),
        sa.Column("last_dev_nonce", sa.Integer(), nullable=True),
        sa.Column("join_nonce", sa.BigInteger(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_devices_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["device_profile_id"],
            ["device_profiles.id"],
            name=op.f("fk_devices_device_profile_id_device_profiles"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_devices_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dev_eui", name=op.f("pk_devices")),
    )
    op.create_index(op.f("ix_devices_application_id"), "devices", ["application_id"], unique=False)
    op.create_index(
        op.f("ix_devices_device_profile_id"), "devices", ["device_profile_id"], unique=False
    )
    op.create_index(op.f("ix_devices_tenant_id"), "devices", ["tenant_id"], unique=False)

    op.create_table(
        "dev_nonces",
        sa.Column("dev_eui", sa.String(length=16), nullable=False),
        sa.Column("dev_nonce", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dev_eui"],
            ["devices.dev_eui"],
            name=op.f("fk_dev_nonces_dev_eui_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dev_eui", "dev_nonce", name=op.f("pk_dev_nonces")),
    )
    op.create_table(
        "device_queue",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("dev_eui", sa.String(length=16), nullable=False),
        sa.Column("f_port", sa.Integer(), nullable=False),
        sa.Column("frm_payload", sa.LargeBinary(), nullable=False),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.Column("f_cnt_down", sa.BigInteger(), nullable=True),
        sa.Column("is_pending", sa.Boolean(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acked", sa.Boolean(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dev_eui"],
            ["devices.dev_eui"],
            name=op.f("fk_device_queue_dev_eui_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_device_queue")),
        sa.UniqueConstraint("id", name=op.f("uq_device_queue_id")),
    )
    op.create_index(op.f("ix_device_queue_dev_eui"), "device_queue", ["dev_eui"], unique=False)

    op.create_table(
        "device_sessions",
        sa.Column("dev_eui", sa.String(length=16), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("dev_addr", sa.String(length=8), nullable=False),
        sa.Column("mac_version", sa.String(length=8), nullable=False),
        sa.Column("f_nwk_s_int_key", sa.LargeBinary(), nullable=False),
        sa.Column("s_nwk_s_int_key", sa.LargeBinary(), nullable=False),
        sa.Column("nwk_s_enc_key", sa.LargeBinary(), nullable=False),
        sa.Column("app_s_key", sa.LargeBinary(), nullable=True),
        sa.Column("f_cnt_up", sa.BigInteger(), nullable=True),
        sa.Column("n_f_cnt_down", sa.BigInteger(), nullable=False),
        sa.Column("a_f_cnt_down", sa.BigInteger(), nullable=False),
        sa.Column("conf_f_cnt", sa.BigInteger(), nullable=False),
        sa.Column("rx1_delay", sa.Integer(), nullable=False),
        sa.Column("rx1_dr_offset", sa.Integer(), nullable=False),
        sa.Column("rx2_dr", sa.Integer(), nullable=False),
        sa.Column("rx2_freq", sa.BigInteger(), nullable=False),
        sa.Column("dr", sa.Integer(), nullable=False),
        sa.Column("tx_power_index", sa.Integer(), nullable=False),
        sa.Column("nb_trans", sa.Integer(), nullable=False),
        sa.Column("enabled_channels", sa.JSON(), nullable=False),
        sa.Column("adr", sa.Boolean(), nullable=False),
        sa.Column("pending_mac_commands", sa.JSON(), nullable=False),
        sa.Column("mac_command_state", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dev_eui"],
            ["devices.dev_eui"],
            name=op.f("fk_device_sessions_dev_eui_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dev_eui", name=op.f("pk_device_sessions")),
    )
    op.create_index(
        op.f("ix_device_sessions_dev_addr"), "device_sessions", ["dev_addr"], unique=False
    )

    op.create_table(
        "drcc_decisions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("dev_eui", sa.String(length=16), nullable=False),
        sa.Column("policy", sa.String(length=64), nullable=False),
        sa.Column("dr", sa.Integer(), nullable=False),
        sa.Column("tx_power_index", sa.Integer(), nullable=False),
        sa.Column("ch_mask", sa.JSON(), nullable=False),
        sa.Column("nb_trans", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dev_eui"],
            ["devices.dev_eui"],
            name=op.f("fk_drcc_decisions_dev_eui_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drcc_decisions")),
    )
    op.create_index(
        op.f("ix_drcc_decisions_dev_eui_created_at"),
        "drcc_decisions",
        ["dev_eui", "created_at"],
        unique=False,
    )

    op.create_table(
        "drcc_state",
        sa.Column("dev_eui", sa.String(length=16), nullable=False),
        sa.Column("policy", sa.String(length=64), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dev_eui"],
            ["devices.dev_eui"],
            name=op.f("fk_drcc_state_dev_eui_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dev_eui", name=op.f("pk_drcc_state")),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("dev_eui", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dev_eui"],
            ["devices.dev_eui"],
            name=op.f("fk_events_dev_eui_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index(
        op.f("ix_events_dev_eui_created_at"), "events", ["dev_eui", "created_at"], unique=False
    )

    op.create_table(
        "uplink_log",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("dev_eui", sa.String(length=16), nullable=False),
        sa.Column("dev_addr", sa.String(length=8), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("f_cnt", sa.BigInteger(), nullable=False),
        sa.Column("f_port", sa.Integer(), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("payload_sha256", sa.LargeBinary(length=32), nullable=False),
        sa.Column("dr", sa.Integer(), nullable=False),
        sa.Column("freq", sa.BigInteger(), nullable=False),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.Column("rx_metadata", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dev_eui"],
            ["devices.dev_eui"],
            name=op.f("fk_uplink_log_dev_eui_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uplink_log")),
        sa.UniqueConstraint(
            "dev_eui", "session_id", "f_cnt", name=op.f("uq_uplink_log_dev_eui_session_id_f_cnt")
        ),
    )
    op.create_index(
        op.f("ix_uplink_log_dev_eui_received_at"),
        "uplink_log",
        ["dev_eui", "received_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_uplink_log_dev_eui_received_at"), table_name="uplink_log")

    op.drop_table("uplink_log")
    op.drop_index(op.f("ix_events_dev_eui_created_at"), table_name="events")

    op.drop_table("events")
    op.drop_table("drcc_state")
    op.drop_index(op.f("ix_drcc_decisions_dev_eui_created_at"), table_name="drcc_decisions")

    op.drop_table("drcc_decisions")
    op.drop_index(op.f("ix_device_sessions_dev_addr"), table_name="device_sessions")

    op.drop_table("device_sessions")
    op.drop_index(op.f("ix_device_queue_dev_eui"), table_name="device_queue")

    op.drop_table("device_queue")
    op.drop_table("dev_nonces")
    op.drop_index(op.f("ix_devices_tenant_id"), table_name="devices")
    op.drop_index(op.f("ix_devices_device_profile_id"), table_name="devices")
    op.drop_index(op.f("ix_devices_application_id"), table_name="devices")

    op.drop_table("devices")
    op.drop_index(op.f("ix_gateways_zone"), table_name="gateways")
    op.drop_index(op.f("ix_gateways_tenant_id"), table_name="gateways")

    op.drop_table("gateways")
    op.drop_index(op.f("ix_device_profiles_tenant_id"), table_name="device_profiles")

    op.drop_table("device_profiles")
    op.drop_index(op.f("ix_applications_tenant_id"), table_name="applications")

    op.drop_table("applications")
    op.drop_index(op.f("ix_api_keys_tenant_id"), table_name="api_keys")

    op.drop_table("api_keys")
    op.drop_table("zones")
    op.drop_table("tenants")
