"""The outbox of notifications: level ≥ 2 and newly overdue cases notify the departments in ``also_notify`` and
management, delivered to the configured webhooks at least once (service/outbox.py, service/webhooks.py).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from complaint_triage.service.store import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade(table_prefix: str = "") -> None:
    p = table_prefix
    t = f"{p}notifications"
    op.create_table(
        t,
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("dedupe_key", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("complaint_id", sa.String(200), sa.ForeignKey(f"{p}complaints.id"), nullable=False),
        sa.Column("departments", sa.JSON, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("claim_token", sa.String(32)),
        sa.Column("claimed_until", UTCDateTime()),
        sa.Column("delivered_to", sa.JSON),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime()),
    )
    op.create_index(f"ux_{p}notifications_dedupe", t, ["dedupe_key"], unique=True)
    op.create_index(f"ix_{p}notifications_due", t, ["status", "next_attempt_at"])
    op.create_index(f"ix_{p}notifications_complaint", t, ["complaint_id"])


def downgrade(table_prefix: str = "") -> None:
    op.drop_table(f"{table_prefix}notifications")
