"""The outbox of notifications (policy.md: "Level ≥ 2 cases and overdue cases produce notifications for the
departments in ``also_notify`` (and ``management``)").

A notification is a row of the ``notifications`` table written **in the same transaction** as the case change
that causes it: the store calls :meth:`Outbox.case_written` inside every insert and case change (a case created
at level ≥ 2, or re-decided to a higher level ≥ 2), and :func:`sweep` marks newly overdue cases — an ``overdue``
event by ``system:sweep`` in the case's history — together with their notifications. So a notification exists
if and only if its cause was committed, and a crash loses neither.

Delivery (``service/webhooks.py``) claims rows for a lease, marks each webhook done only after a 2xx and the
notification delivered when every webhook is done; a process killed mid-delivery leaves its rows pending, and
the next run takes them up once the lease has run out. The notification id is the idempotency key receivers
de-duplicate on: delivery is at least once.

Each notification has a ``dedupe_key`` (unique): the same cause never makes two notifications, however many
sweeps run at once or again — ``escalation:<case>:<level>`` and ``overdue:<case>:<step>:<deadline>`` (a deadline
moved by a pause is a new one, which can become overdue again).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    func,
    or_,
    select,
    update,
)

if TYPE_CHECKING:
    from complaint_triage.service.store import Store

SWEEP_ACTOR = "system:sweep"
NOTIFY_LEVEL = 2  # escalation level from which a case notifies (major, crisis)
# Each deadline, the step it guards (the name in notifications and events) and the column of that step.
STEPS = (("acknowledge_by", "acknowledge", "acknowledged_at"), ("report_by", "report", "reported_at"),
         ("resolve_by", "resolve", "resolved_at"))


def notifications_table(metadata: Any, prefix: str) -> Table:
    """The table as the code uses it (revision 0003 builds the same; a test holds them equal)."""
    from complaint_triage.service.store import UTCDateTime

    p = prefix
    t = Table(
        f"{p}notifications", metadata,
        Column("id", String(32), primary_key=True),  # also the idempotency key sent to every webhook
        Column("dedupe_key", String(300), nullable=False),
        Column("kind", String(24), nullable=False),  # escalation | overdue
        Column("complaint_id", String(200), ForeignKey(f"{p}complaints.id"), nullable=False),
        Column("departments", JSON, nullable=False),
        Column("payload", JSON, nullable=False),
        Column("status", String(16), nullable=False, server_default="pending"),  # pending | delivered
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("next_attempt_at", UTCDateTime(), nullable=False),
        Column("claim_token", String(32)),
        Column("claimed_until", UTCDateTime()),
        Column("delivered_to", JSON),  # the webhook URLs that answered 2xx
        Column("last_error", Text),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("delivered_at", UTCDateTime()),
    )
    Index(f"ux_{p}notifications_dedupe", t.c.dedupe_key, unique=True)
    Index(f"ix_{p}notifications_due", t.c.status, t.c.next_attempt_at)
    Index(f"ix_{p}notifications_complaint", t.c.complaint_id)
    return t


def departments_of(decision: dict[str, Any]) -> list[str]:
    """The departments a notification goes to: the decision's ``also_notify``, and management."""
    out = [d for d in decision.get("also_notify") or [] if d]
    return [*dict.fromkeys(out), *([] if "management" in out else ["management"])]


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat() if value is not None else None


@dataclass(frozen=True)
class Claimed:
    id: str
    token: str
    payload: dict[str, Any]
    attempts: int
    delivered_to: list[str]


class Outbox:
    """The notifications of one store (same engine, same table prefix)."""

    def __init__(self, store: Store):
        self.store = store
        self.engine = store.engine
        self.table = notifications_table(store.metadata, store.table_prefix)

    # ------------------------------------------------------------ writing, inside the case's transaction
    def _insert(self, conn: Connection, kind: str, key: str, row: dict[str, Any], now: datetime,
                extra: dict[str, Any]) -> str | None:
        """Insert one notification unless its dedupe_key exists; its id, or None when it did."""
        decision = row.get("decision") or {}
        departments = departments_of(decision)
        nid = uuid.uuid4().hex
        payload = {
            "id": nid, "kind": kind, "created_at": now.isoformat(), "complaint_id": row["id"],
            "departments": departments, "status": row.get("status") or "new",
            "category": row.get("category"), "severity": row.get("severity"), "department": row.get("department"),
            "escalation": decision.get("escalation") or {"level": row.get("escalation_level")},
            "deadlines": decision.get("deadlines"), **extra,
        }
        values = {"id": nid, "dedupe_key": key, "kind": kind, "complaint_id": row["id"], "departments": departments,
                  "payload": payload, "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now}
        if conn.dialect.name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        stmt = (insert(self.table).values(**values).on_conflict_do_nothing(index_elements=["dedupe_key"])
                .returning(self.table.c.id))
        return nid if conn.execute(stmt).first() is not None else None

    def case_written(self, conn: Connection, before: dict[str, Any] | None, after: dict[str, Any],
                     now: datetime) -> None:
        """Called by the store in the transaction of every case insert (``before`` None) and change: a case at
        level ≥ 2 that is new, or whose level rose, notifies."""
        level = after.get("escalation_level") or 0
        if level < NOTIFY_LEVEL:
            return
        if before is not None and level <= (before.get("escalation_level") or 0):
            return
        reason = "new case" if before is None else "re-decided"
        self._insert(conn, "escalation", f"escalation:{after['id']}:{level}", after, now, {"reason": reason})

    # ------------------------------------------------------------ the sweep
    def sweep(self, now: datetime | None = None, actor: str = SWEEP_ACTOR) -> SweepResult:
        """Mark every newly overdue step (a deadline passed without the step it guards): one transaction per
        case holding its ``overdue`` events and their notifications. Safe to run again or concurrently."""
        now = now or datetime.now(timezone.utc)
        c = self.store.complaints.c
        n = self.table.c
        cols = [c.id, *(c[by] for by, _, _ in STEPS), *(c[done] for _, _, done in STEPS)]
        with self.engine.connect() as conn:
            candidates = [dict(r) for r in conn.execute(select(*cols).where(c.due_at < now)
                                                        .order_by(c.due_at, c.id)).mappings()]
            known: set[str] = set()
            ids = [r["id"] for r in candidates]
            for i in range(0, len(ids), 500):
                known |= set(conn.execute(select(n.dedupe_key).where(n.kind == "overdue",
                                                                     n.complaint_id.in_(ids[i:i + 500]))).scalars())
        result = SweepResult()
        for cand in candidates:
            due = [(step, cand[by]) for by, step, done in STEPS
                   if cand[by] is not None and cand[by] < now and cand[done] is None
                   and self._overdue_key(cand["id"], step, cand[by]) not in known]
            if due:
                marked = self._mark(cand["id"], now, actor)
                result.steps += marked
                result.cases += bool(marked)
        return result

    @staticmethod
    def _overdue_key(complaint_id: str, step: str, deadline: datetime) -> str:
        return f"overdue:{complaint_id}:{step}:{_iso(deadline)}"

    def _mark(self, complaint_id: str, now: datetime, actor: str) -> int:
        """In one transaction: re-read the case (it may have moved on since the scan), and for each step still
        overdue and not yet marked, a notification and an ``overdue`` event by ``actor``."""
        s = self.store
        c = s.complaints.c
        marked = 0
        with self.engine.begin() as conn:
            # a write first: the row is held until commit (both databases), as Store.change_case does
            if conn.execute(update(s.complaints).where(c.id == complaint_id)
                            .values(updated_at=now)).rowcount == 0:
                return 0
            row = dict(conn.execute(select(s.complaints).where(c.id == complaint_id)).mappings().one())
            if row["status"] == "waiting_customer":  # its clocks stand still
                return 0
            for by, step, done in STEPS:
                deadline = row[by]
                if deadline is None or deadline >= now or row[done] is not None:
                    continue
                extra = {"overdue": {"step": step, "deadline": _iso(deadline)}}
                nid = self._insert(conn, "overdue", self._overdue_key(complaint_id, step, deadline), row, now, extra)
                if nid is None:
                    continue
                conn.execute(s.events.insert().values(
                    complaint_id=complaint_id, at=now, actor=actor, action="overdue", before=None,
                    after={"step": step, "deadline": _iso(deadline), "notification": nid}))
                marked += 1
        return marked

    # ------------------------------------------------------------ delivery's side of the table
    def claim(self, limit: int, lease: timedelta, now: datetime | None = None) -> list[Claimed]:
        """Pending notifications whose next attempt is due and whose lease (if any) has run out, oldest first,
        each taken by a compare-and-set on its claim, so two deliverers never hold the same row."""
        now = now or datetime.now(timezone.utc)
        n = self.table.c
        free = or_(n.claimed_until.is_(None), n.claimed_until < now)
        with self.engine.connect() as conn:
            rows = conn.execute(select(n.id).where(n.status == "pending", n.next_attempt_at <= now, free)
                                .order_by(n.next_attempt_at, n.created_at, n.id).limit(limit)).scalars().all()
        out: list[Claimed] = []
        for nid in rows:
            token = uuid.uuid4().hex
            with self.engine.begin() as conn:
                got = conn.execute(update(self.table).where(n.id == nid, n.status == "pending", free)
                                   .values(claim_token=token, claimed_until=now + lease)).rowcount
                if got != 1:
                    continue
                r = conn.execute(select(n.payload, n.attempts, n.delivered_to).where(n.id == nid)).one()
            out.append(Claimed(nid, token, r.payload, r.attempts, list(r.delivered_to or [])))
        return out

    def _held(self, claimed: Claimed) -> Any:
        n = self.table.c
        return and_(n.id == claimed.id, n.claim_token == claimed.token)

    def delivered_to(self, claimed: Claimed, url: str) -> None:
        """One webhook answered 2xx: remembered at once, so a crash later does not send it there again."""
        claimed.delivered_to.append(url)
        with self.engine.begin() as conn:
            conn.execute(update(self.table).where(self._held(claimed)).values(delivered_to=list(claimed.delivered_to)))

    def finish(self, claimed: Claimed, now: datetime | None = None) -> None:
        now = now or datetime.now(timezone.utc)
        with self.engine.begin() as conn:
            conn.execute(update(self.table).where(self._held(claimed)).values(
                status="delivered", delivered_at=now, attempts=claimed.attempts + 1, claim_token=None,
                claimed_until=None, last_error=None))

    def retry_later(self, claimed: Claimed, at: datetime, error: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(self.table).where(self._held(claimed)).values(
                attempts=claimed.attempts + 1, next_attempt_at=at, claim_token=None, claimed_until=None,
                last_error=error[:2000]))

    def next_due(self) -> datetime | None:
        """When the earliest pending notification may next be tried (its lease included)."""
        n = self.table.c
        with self.engine.connect() as conn:
            row = conn.execute(select(n.next_attempt_at, n.claimed_until).where(n.status == "pending")
                               .order_by(n.next_attempt_at).limit(200)).all()
        times = [max(a, b) if b is not None else a for a, b in row]
        return min(times) if times else None

    def counts(self) -> dict[str, int]:
        n = self.table.c
        with self.engine.connect() as conn:
            return {s: k for s, k in conn.execute(select(n.status, func.count()).group_by(n.status))}

    def all(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(self.table).order_by(self.table.c.created_at,
                                                                              self.table.c.id)).mappings()]


@dataclass
class SweepResult:
    cases: int = 0  # cases with at least one newly overdue step
    steps: int = 0  # overdue steps marked (one event and one notification each)
