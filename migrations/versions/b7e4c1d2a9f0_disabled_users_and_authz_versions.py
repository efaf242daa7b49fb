"""Disabled accounts, and the authorization version beside each user's token version.

users.disabled: a disabled account keeps its row but cannot log in.
token_versions.authz_version: raised when an admin changes the user's roles
or grants, so access tokens minted before are refused (see tokens/store.py).

Revision ID: b7e4c1d2a9f0
Revises: b7e1c2d4a901
Create Date: 2026-11-30 23:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "b7e4c1d2a9f0"
down_revision = "b7e1c2d4a901"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("token_versions") as batch:
        batch.add_column(sa.Column("authz_version", sa.Integer(), nullable=False, server_default="0"))


def downgrade():
    with op.batch_alter_table("token_versions") as batch:
        batch.drop_column("authz_version")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("disabled")
