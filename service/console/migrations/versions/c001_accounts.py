"""The console's accounts (agents and managers, passwords hashed) and the key that signs its sessions.

Revision ID: c001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from complaint_triage.service.store import UTCDateTime

revision = "c001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade(table_prefix: str = "") -> None:
    p = table_prefix
    op.create_table(
        f"{p}console_users",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(400), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        f"{p}console_secret",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
    )


def downgrade(table_prefix: str = "") -> None:
    op.drop_table(f"{table_prefix}console_secret")
    op.drop_table(f"{table_prefix}console_users")
