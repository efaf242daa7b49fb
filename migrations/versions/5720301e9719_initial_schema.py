"""Initial schema: users, roles and permissions; sessions; the token store's tables.

The tables as db.create_all() made them before migrations existed, with
constraint names as PostgreSQL picks them (see NAMING_CONVENTION in
authdemo/extensions.py), so `flask --app app init-db` can stamp such a
database with this revision instead of creating anything.

Revision ID: 5720301e9719
Revises:
Create Date: 2026-11-23 17:27:15.230806
"""

import sqlalchemy as sa
from alembic import op

revision = "5720301e9719"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    # Accounts: users *–* roles *–* permissions, plus permissions granted to a user directly.
    op.create_table(
        "permissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="permissions_pkey"),
        sa.UniqueConstraint("name", name="permissions_name_key"),
    )
    op.create_table(
        "roles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="roles_pkey"),
        sa.UniqueConstraint("name", name="roles_name_key"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="users_pkey"),
        sa.UniqueConstraint("username", name="users_username_key"),
    )
    # Link tables: both foreign keys together are the primary key; a row goes with either side.
    op.create_table(
        "user_roles",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="user_roles_user_id_fkey", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["role_id"], ["roles.id"], name="user_roles_role_id_fkey", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "role_id", name="user_roles_pkey"),
    )
    op.create_table(
        "role_permissions",
        sa.Column("role_id", sa.Integer(), nullable=False),
        sa.Column("permission_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["role_id"], ["roles.id"], name="role_permissions_role_id_fkey", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["permission_id"], ["permissions.id"], name="role_permissions_permission_id_fkey", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("role_id", "permission_id", name="role_permissions_pkey"),
    )
    op.create_table(
        "user_permissions",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("permission_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="user_permissions_user_id_fkey", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["permission_id"], ["permissions.id"], name="user_permissions_permission_id_fkey", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "permission_id", name="user_permissions_pkey"),
    )

    # Server-side sessions (the sqlalchemy store) and the cookie store's login records.
    op.create_table(
        "sessions",
        sa.Column("sid", sa.String(length=128), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("sid", name="sessions_pkey"),
    )
    op.create_index("ix_sessions_expires_at", "sessions", ["expires_at"])
    op.create_index("ix_sessions_user_id", "sessions", ["user_id"])

    # The sqlalchemy token store: revoked token ids, refresh-token families, per-user versions.
    op.create_table(
        "token_denylist",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("jti", name="token_denylist_pkey"),
    )
    op.create_index("ix_token_denylist_expires_at", "token_denylist", ["expires_at"])
    op.create_table(
        "token_families",
        sa.Column("family_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("refresh_jti", sa.String(length=64), nullable=False),
        sa.Column("access_jti", sa.String(length=64), nullable=False),
        sa.Column("access_expires_at", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("last_refresh", sa.Integer(), nullable=False),
        sa.Column("device", sa.String(length=200), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("family_id", name="token_families_pkey"),
    )
    op.create_index("ix_token_families_expires_at", "token_families", ["expires_at"])
    op.create_index("ix_token_families_user_id", "token_families", ["user_id"])
    op.create_table(
        "token_versions",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="token_versions_pkey"),
    )


def downgrade():
    # Dropping a table drops its indexes; the link tables go before what they point at.
    for table in (
        "token_versions",
        "token_families",
        "token_denylist",
        "sessions",
        "user_permissions",
        "role_permissions",
        "user_roles",
        "users",
        "roles",
        "permissions",
    ):
        op.drop_table(table)
