"""A complaint is a case: status, assignee, reply, resolution, satisfaction, linking keys, deadlines and their
steps, and the append-only history of events (policy.md, "A complaint is a case").

Rows from 0.1 become cases with status ``new``; ``needs_review`` is read from their stored decisions. Their
decisions carry no deadlines, so they are never overdue.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from complaint_triage.service.store import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_SLA = ("acknowledge_by", "acknowledged_at", "resolve_by", "resolved_at")


def upgrade(table_prefix: str = "") -> None:
    p = table_prefix
    t = f"{p}complaints"
    columns = [
        sa.Column("status", sa.String(24), nullable=False, server_default="new"),
        sa.Column("assignee", sa.String(200)),
        sa.Column("needs_review", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("customer_key", sa.String(200)),
        sa.Column("order_id", sa.String(200)),
        sa.Column("location", sa.String(200)),
        sa.Column("links", sa.JSON),
        sa.Column("input", sa.JSON),
        sa.Column("acknowledge_by", UTCDateTime()),
        sa.Column("report_by", UTCDateTime()),
        sa.Column("resolve_by", UTCDateTime()),
        sa.Column("acknowledged_at", UTCDateTime()),
        sa.Column("reported_at", UTCDateTime()),
        sa.Column("resolved_at", UTCDateTime()),
        sa.Column("due_at", UTCDateTime()),
        sa.Column("paused_since", UTCDateTime()),
        sa.Column("pauses", sa.JSON),
        sa.Column("reply", sa.JSON),
        sa.Column("resolution", sa.JSON),
        sa.Column("satisfaction", sa.Integer),
        sa.Column("updated_at", UTCDateTime()),
    ]
    for column in columns:
        op.add_column(t, column)
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute(f"UPDATE \"{t}\" SET needs_review = coalesce(json_extract(decision, '$.needs_review'), 0)")
    else:
        op.execute(f"UPDATE \"{t}\" SET needs_review = "
                   f"coalesce(CAST(CAST(decision AS json) ->> 'needs_review' AS boolean), false)")
    for name in ("status", "assignee", "needs_review", "language", "refund_eligibility"):
        op.create_index(f"ix_{p}complaints_{name}_list", t, [name, sa.text("received_at DESC"), "id"])
    op.create_index(f"ix_{p}complaints_due", t, ["due_at"])
    for key in ("customer_key", "order_id", "location"):
        op.create_index(f"ix_{p}complaints_{key}_link", t, [key, "received_at"])
    # SLA compliance per department: one more grouped scan of the window, on its own covering index
    op.create_index(f"ix_{p}complaints_sla", t, ["received_at", "department", *_SLA])

    events = f"{p}case_events"
    op.create_table(
        events,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("complaint_id", sa.String(200), sa.ForeignKey(f"{t}.id"), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(24), nullable=False),
        sa.Column("before", sa.JSON),
        sa.Column("after", sa.JSON),
    )
    op.create_index(f"ix_{p}case_events_complaint", events, ["complaint_id", "id"])
    # append-only in the database itself, not only in the code: no UPDATE or DELETE of a history row
    if bind.dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(f'CREATE TRIGGER "{events}_no_{verb.lower()}" BEFORE {verb} ON "{events}" '
                       "BEGIN SELECT RAISE(ABORT, 'case history is append-only'); END")
    elif bind.dialect.name == "postgresql":
        op.execute(f'CREATE OR REPLACE FUNCTION "{events}_append_only"() RETURNS trigger LANGUAGE plpgsql AS '
                   "$$ BEGIN RAISE EXCEPTION 'case history is append-only'; END $$")
        op.execute(f'CREATE TRIGGER "{events}_append_only" BEFORE UPDATE OR DELETE ON "{events}" '
                   f'FOR EACH ROW EXECUTE FUNCTION "{events}_append_only"()')


def downgrade(table_prefix: str = "") -> None:
    p = table_prefix
    t = f"{p}complaints"
    op.drop_table(f"{p}case_events")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f'DROP FUNCTION IF EXISTS "{p}case_events_append_only"()')
    op.drop_index(f"ix_{p}complaints_sla", t)
    for name in ("status", "assignee", "needs_review", "language", "refund_eligibility"):
        op.drop_index(f"ix_{p}complaints_{name}_list", t)
    op.drop_index(f"ix_{p}complaints_due", t)
    for key in ("customer_key", "order_id", "location"):
        op.drop_index(f"ix_{p}complaints_{key}_link", t)
    with op.batch_alter_table(t) as batch:
        for name in ("status", "assignee", "needs_review", "customer_key", "order_id", "location", "links", "input",
                     "acknowledge_by", "report_by", "resolve_by", "acknowledged_at", "reported_at", "resolved_at",
                     "due_at", "paused_since", "pauses", "reply", "resolution", "satisfaction", "updated_at"):
            batch.drop_column(name)
