"""The schema of release 0.1: complaints (with their decisions) and agents' feedback.

A database made by 0.1 (``create_all``, no version table) already has these tables, maybe without the indexes
added late in 0.1: only what is missing is created, and the database is then at this revision.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from complaint_triage.service.store import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_DIMENSIONS = ("category", "severity", "department", "refund_eligibility")


def upgrade(table_prefix: str = "") -> None:
    p = table_prefix
    inspector = sa.inspect(op.get_bind())
    tables = set(inspector.get_table_names())
    if f"{p}complaints" not in tables:
        op.create_table(
            f"{p}complaints",
            sa.Column("id", sa.String(200), primary_key=True),
            sa.Column("received_at", UTCDateTime(), nullable=False),
            sa.Column("text", sa.Text, nullable=False),
            sa.Column("language", sa.String(8)),
            sa.Column("category", sa.String(32), nullable=False),
            sa.Column("severity", sa.String(16), nullable=False),
            sa.Column("department", sa.String(64)),
            sa.Column("escalation_level", sa.Integer),
            sa.Column("refund_eligibility", sa.String(32)),
            sa.Column("decision", sa.JSON, nullable=False),
            sa.Column("created_at", UTCDateTime(), nullable=False),
        )
    if f"{p}feedback" not in tables:
        op.create_table(
            f"{p}feedback",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("complaint_id", sa.String(200), sa.ForeignKey(f"{p}complaints.id"), nullable=False),
            sa.Column("category", sa.String(32)),
            sa.Column("severity", sa.String(16)),
            sa.Column("department", sa.String(64)),
            sa.Column("note", sa.Text),
            sa.Column("created_at", UTCDateTime(), nullable=False),
        )
    have = ({i["name"] for i in inspector.get_indexes(f"{p}complaints")} if f"{p}complaints" in tables else set())
    have |= ({i["name"] for i in inspector.get_indexes(f"{p}feedback")} if f"{p}feedback" in tables else set())
    wanted = {
        f"ix_{p}complaints_list": [sa.text("received_at DESC"), "id"],
        **{f"ix_{p}complaints_{n}_list": [n, sa.text("received_at DESC"), "id"]
           for n in ("category", "severity", "department", "escalation_level")},
        f"ix_{p}complaints_stats": ["received_at", *_DIMENSIONS],
    }
    for name, columns in wanted.items():
        if name not in have:
            op.create_index(name, f"{p}complaints", columns)
    if f"ix_{p}feedback_complaint_id" not in have:
        op.create_index(f"ix_{p}feedback_complaint_id", f"{p}feedback", ["complaint_id"])


def downgrade(table_prefix: str = "") -> None:
    op.drop_table(f"{table_prefix}feedback")
    op.drop_table(f"{table_prefix}complaints")
