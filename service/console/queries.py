"""What the console reads from the store: the queue (open cases by nearest deadline, paged by key), the
dashboard's figures. Reads only; every change goes through the case functions (service/cases.py).

The queue's order is the store's ``due_at`` (the earliest deadline whose step is still to do, kept by the store
on every change; null while a case waits for the customer or has nothing due), ascending, id breaking ties:
one range scan of the ``due_at`` index that stops after a page, however many cases there are. Cases with no
open deadline follow, newest first (the list index). A page's cursor is where it ended, so the next page starts
there; a page never counts past ``COUNT_CAP`` cases.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, or_, select

from complaint_triage.service.store import CLOCKS, Period, Store, period_start

OPEN_EXCLUDED = ("resolved", "closed")
COUNT_CAP = 1_000
QUEUE_COLUMNS = ("id", "received_at", "language", "category", "severity", "department", "escalation_level",
                 "needs_review", "status", "assignee", "due_at", "acknowledge_by", "report_by", "resolve_by",
                 "acknowledged_at", "reported_at", "resolved_at")


@dataclass(frozen=True)
class QueueFilters:
    department: str | None = None
    escalation_level: int | None = None
    status: str | None = None  # None: every open status
    needs_review: bool | None = None
    language: str | None = None
    overdue: bool | None = None
    assignee: str | None = None  # "" for unassigned


@dataclass(frozen=True)
class QueueCursor:
    """Where a page ended: in the part with a deadline (due_at, id) or the part without (received_at, id)."""

    part: str  # "due" | "none"
    at: datetime
    id: str

    def encode(self) -> str:
        raw = json.dumps([self.part, self.at.isoformat(), self.id]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> QueueCursor | None:
        try:
            part, at, cid = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            when = datetime.fromisoformat(at)
            if part not in ("due", "none") or not isinstance(cid, str) or when.tzinfo is None:
                return None
            return cls(part, when, cid)
        except (ValueError, TypeError, binascii.Error):
            return None


def _conditions(store: Store, f: QueueFilters, now: datetime) -> list[Any]:
    c = store.complaints.c
    conds: list[Any] = [c.status == f.status] if f.status else [c.status.notin_(OPEN_EXCLUDED)]
    for name in ("department", "escalation_level", "needs_review", "language"):
        value = getattr(f, name)
        if value is not None:
            conds.append(c[name] == value)
    if f.assignee is not None:
        conds.append(c.assignee.is_(None) if f.assignee == "" else c.assignee == f.assignee)
    if f.overdue is True:
        conds.append(c.due_at < now)
    elif f.overdue is False:
        conds.append(or_(c.due_at.is_(None), c.due_at >= now))
    return conds


def queue(store: Store, f: QueueFilters, after: QueueCursor | None = None, limit: int = 50,
          now: datetime | None = None) -> tuple[list[dict[str, Any]], QueueCursor | None]:
    """One page of open cases, nearest deadline first; the cursor of the next page (None on the last)."""
    now = now or datetime.now(timezone.utc)
    c = store.complaints.c
    conds = _conditions(store, f, now)
    cols = [c[n] for n in QUEUE_COLUMNS]
    rows: list[dict[str, Any]] = []
    with store.engine.connect() as conn:
        if after is None or after.part == "due":
            page = [*conds, c.due_at.is_not(None)]
            if after is not None:
                page += [c.due_at >= after.at, or_(c.due_at > after.at, c.id > after.id)]
            rows += [dict(r) for r in conn.execute(
                select(*cols).where(*page).order_by(c.due_at, c.id).limit(limit + 1)).mappings()]
        if len(rows) <= limit and f.overdue is not True:
            page = [*conds, c.due_at.is_(None)]
            if after is not None and after.part == "none":
                page += [c.received_at <= after.at, or_(c.received_at < after.at, c.id > after.id)]
            rows += [dict(r) for r in conn.execute(
                select(*cols).where(*page).order_by(c.received_at.desc(), c.id)
                .limit(limit + 1 - len(rows))).mappings()]
    following = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        following = (QueueCursor("due", last["due_at"], last["id"]) if last["due_at"] is not None
                     else QueueCursor("none", last["received_at"], last["id"]))
    for r in rows:
        r["due_step"] = due_step(r)
        r["overdue"] = r["due_at"] is not None and r["due_at"] < now
        r["left"] = (r["due_at"] - now) if r["due_at"] is not None else None
    return rows, following


def count_open(store: Store, f: QueueFilters, now: datetime | None = None) -> int:
    """How many cases match, counted up to COUNT_CAP + 1 (the page says "more than" beyond)."""
    now = now or datetime.now(timezone.utc)
    c = store.complaints.c
    inner = select(c.id).where(*_conditions(store, f, now)).limit(COUNT_CAP + 1).subquery()
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(inner)).scalar_one()


def due_step(row: dict[str, Any]) -> str | None:
    """Which deadline ``due_at`` is: acknowledge_by, report_by or resolve_by."""
    due = row.get("due_at")
    if due is None:
        return None
    for by, done in CLOCKS:
        if row.get(by) == due and row.get(done) is None:
            return by
    return None


# ---------------------------------------------------------------- dashboard
def window_start(period: Period, now: datetime, buckets: int = 12) -> datetime:
    """The start of the dashboard's window: the last 12 weeks or 12 months, from a bucket's first day."""
    today = now.astimezone(timezone.utc).date()
    if period == "week":
        start = today - timedelta(days=today.weekday()) - timedelta(weeks=buckets - 1)
    else:
        y, m = today.year, today.month - (buckets - 1)
        while m <= 0:
            y, m = y - 1, m + 12
        start = date(y, m, 1)
    return datetime(start.year, start.month, start.day, tzinfo=timezone.utc)


def needs_review_by_period(store: Store, period: Period, since: datetime) -> list[tuple[str, int, int]]:
    """Per bucket: (start, cases, cases needing review)."""
    c = store.complaints.c
    bucket = period_start(period, c.received_at).label("bucket")
    stmt = (select(bucket, c.needs_review, func.count()).where(c.received_at >= since)
            .group_by(bucket, c.needs_review))
    out: dict[str, list[int]] = {}
    with store.engine.connect() as conn:
        for b, review, n in conn.execute(stmt):
            key = b.isoformat() if isinstance(b, date) else str(b)
            entry = out.setdefault(key, [0, 0])
            entry[0] += n
            if review:
                entry[1] += n
    return [(k, v[0], v[1]) for k, v in sorted(out.items())]


def open_crises(store: Store, limit: int = 20) -> tuple[list[dict[str, Any]], int]:
    c = store.complaints.c
    conds = [c.escalation_level == 3, c.status.notin_(OPEN_EXCLUDED)]
    with store.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(store.complaints).where(*conds)).scalar_one()
        rows = conn.execute(select(c.id, c.received_at, c.category, c.department, c.status, c.assignee, c.due_at,
                                   c.language)
                            .where(*conds).order_by(c.received_at.desc(), c.id).limit(limit)).mappings().all()
    return [dict(r) for r in rows], total


def agreement(store: Store, since: datetime) -> dict[str, dict[str, int]]:
    """Per category the model chose: of the cases an agent reviewed (accepted or corrected) received since
    ``since``, how many were accepted without a correction of category, severity or department.

    An acceptance is a feedback row that sets nothing different from the decision; a correction is a history
    event ``correction`` (its ``before`` holds the model's decision, so the category counted is the model's)."""
    c, fb, ev = store.complaints.c, store.feedback.c, store.events.c
    out: dict[str, dict[str, int]] = {}
    with store.engine.connect() as conn:
        reviewed = conn.execute(
            select(c.id, c.category).where(c.received_at >= since,
                                           select(fb.id).where(fb.complaint_id == c.id).exists())).all()
        corrections = conn.execute(
            select(ev.complaint_id, ev.before).join(store.complaints, store.complaints.c.id == ev.complaint_id)
            .where(ev.action == "correction", c.received_at >= since).order_by(ev.id)).all()
    first_before: dict[str, str] = {}
    for cid, before in corrections:
        if cid not in first_before:
            decision = (before or {}).get("decision") or {}
            first_before[cid] = (decision.get("category") or {}).get("label") or "other"
    for cid, category in reviewed:
        model_category = first_before.get(cid, category)
        entry = out.setdefault(model_category, {"reviewed": 0, "accepted": 0, "corrected": 0})
        entry["reviewed"] += 1
        entry["corrected" if cid in first_before else "accepted"] += 1
    for cid, model_category in first_before.items():  # corrected without a feedback row (API, other tools)
        if not any(cid == r[0] for r in reviewed):
            entry = out.setdefault(model_category, {"reviewed": 0, "accepted": 0, "corrected": 0})
            entry["reviewed"] += 1
            entry["corrected"] += 1
    return out


def case_summaries(store: Store, ids: list[str]) -> list[dict[str, Any]]:
    if not ids:
        return []
    c = store.complaints.c
    with store.engine.connect() as conn:
        rows = conn.execute(select(c.id, c.received_at, c.category, c.status, c.escalation_level, c.language)
                            .where(c.id.in_(ids[:200]))).mappings().all()
    return sorted((dict(r) for r in rows), key=lambda r: (r["received_at"], r["id"]))


def decision_changes(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """What a re-decision changed, in the order an agent reads it."""
    def get(d: dict[str, Any], dotted: str) -> Any:
        node: Any = d
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return node

    fields = ["category.label", "severity.label", "department", "escalation.level", "escalation.name",
              "refund.eligibility", "also_notify", "needs_review", "deadlines.acknowledge_by",
              "deadlines.report_by", "deadlines.resolve_by", "deadlines.follow_up_by"]
    return [(name, get(before, name), get(after, name)) for name in fields
            if get(before, name) != get(after, name)]
