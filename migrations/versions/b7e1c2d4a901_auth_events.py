"""The auth event log: one row per login, logout, token issued or refreshed, role change …

Revision ID: b7e1c2d4a901
Revises: 5720301e9719
Create Date: 2026-11-30 22:55:00
"""

import sqlalchemy as sa
from alembic import op

revision = "b7e1c2d4a901"
down_revision = "5720301e9719"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "auth_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("browser", sa.String(length=200), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("store", sa.String(length=32), nullable=False),
        sa.Column("session_hash", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("id", name="auth_events_pkey"),
    )
    # /admin/events filters by type and user, newest first; purge deletes by time.
    op.create_index("ix_auth_events_time", "auth_events", ["time"])
    op.create_index("ix_auth_events_type", "auth_events", ["type"])
    op.create_index("ix_auth_events_user_id", "auth_events", ["user_id"])


def downgrade():
    op.drop_table("auth_events")
