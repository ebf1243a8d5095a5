"""Durable storage of complaints, their decisions, their cases (status, assignee, history) and agents' feedback,
on SQLite (default) or PostgreSQL. The schema is made and upgraded by the Alembic migrations in
``service/migrations`` (run by ``create_schema``); the tables below are what the code reads and writes, and a
test holds them equal to what the migrations build.

The primary key is the complaint id, and inserts are ``ON CONFLICT DO NOTHING``: a client retrying a request
(or two workers racing on the same id) ends with one row, and both callers get the decision stored first.
SQL is kept to what SQLite and PostgreSQL share; the only dialect-specific piece, the start of a day/week/month
bucket, is one compiled construct below.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    case,
    create_engine,
    event,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement
from sqlalchemy.types import Date, TypeDecorator

Period = Literal["day", "week", "month"]
STAT_DIMENSIONS = ("category", "severity", "department", "refund_eligibility")
# Each deadline and the time of the step it guards (policy.md: a case is overdue when one passed without it).
CLOCKS = (("acknowledge_by", "acknowledged_at"), ("report_by", "reported_at"), ("resolve_by", "resolved_at"))
LIST_FILTERS = ("category", "severity", "department", "escalation_level", "status", "assignee", "needs_review",
                "language", "refund_eligibility")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC; SQLite keeps no offset, so values come back naive and are re-labelled UTC here."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class _PeriodStart(FunctionElement[date]):
    """The first day of the day/week (Monday)/month bucket holding a UTC timestamp. One subclass per period,
    because the period is part of the SQL text and so must be part of SQLAlchemy's statement cache key."""

    type = Date()
    inherit_cache = True
    period: Period


class _DayStart(_PeriodStart):
    inherit_cache = True
    period = "day"


class _WeekStart(_PeriodStart):
    inherit_cache = True
    period = "week"


class _MonthStart(_PeriodStart):
    inherit_cache = True
    period = "month"


def period_start(period: Period, column: ColumnElement[Any]) -> _PeriodStart:
    return {"day": _DayStart, "week": _WeekStart, "month": _MonthStart}[period](column)


@compiles(_PeriodStart, "sqlite")
def _period_sqlite(element: _PeriodStart, compiler: Any, **kw: Any) -> str:
    col = compiler.process(list(element.clauses)[0], **kw)
    mods = {"day": "", "week": ", 'weekday 0', '-6 days'", "month": ", 'start of month'"}[element.period]
    return f"date({col}{mods})"


@compiles(_PeriodStart)
def _period_default(element: _PeriodStart, compiler: Any, **kw: Any) -> str:
    # PostgreSQL (and most others): date_trunc on the UTC wall clock; weeks start on Monday (ISO).
    col = compiler.process(list(element.clauses)[0], **kw)
    return f"CAST(date_trunc('{element.period}', {col} AT TIME ZONE 'UTC') AS DATE)"


@dataclass(frozen=True)
class Record:
    """One accepted complaint as stored: masked text, the columns filters need, and the whole decision."""

    id: str
    received_at: datetime
    text: str
    language: str | None
    category: str
    severity: str
    department: str | None
    escalation_level: int | None
    refund_eligibility: str | None
    decision: dict[str, Any]
    needs_review: bool = False
    customer_key: str | None = None
    order_id: str | None = None
    location: str | None = None
    input: dict[str, Any] | None = None
    acknowledge_by: datetime | None = None
    report_by: datetime | None = None
    resolve_by: datetime | None = None


@dataclass(frozen=True)
class Event:
    """One entry of a case's history; ``at`` is filled in by the store."""

    actor: str
    action: str
    before: Any = None
    after: Any = None


@dataclass
class CaseChange:
    """What a change to a case writes: new column values and the events that record it."""

    values: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: the next page starts after this (received_at, id) in list order."""

    received_at: datetime
    id: str


@dataclass(frozen=True)
class Filters:
    category: str | None = None
    severity: str | None = None
    department: str | None = None
    escalation_level: int | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None
    status: str | None = None
    assignee: str | None = None
    needs_review: bool | None = None
    language: str | None = None
    refund_eligibility: str | None = None
    overdue: bool | None = None
    now: datetime | None = None  # "overdue" is judged at this time (default: the query's)


@dataclass(frozen=True)
class LabelledFeedback:
    """A complaint an agent labelled: the labels to learn from, and the decision's labels the agent saw."""

    complaint_id: str
    text: str
    language: str
    category: str
    severity: str
    decided_category: str
    decided_severity: str


class NotFound(LookupError):
    pass


def due_at(values: dict[str, Any]) -> datetime | None:
    """The earliest deadline whose step is still to do; none while the case waits for the customer (its clocks
    stand still) and none once every step is done. ``overdue`` is ``due_at < now``: one indexed range."""
    if values.get("status") == "waiting_customer":
        return None
    pending = [values[by] for by, done in CLOCKS if values.get(by) is not None and values.get(done) is None]
    return min(pending) if pending else None


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Store:
    def __init__(self, url: str, table_prefix: str = "", engine: Engine | None = None):
        self.engine = engine or make_engine(url)
        self.metadata = MetaData()
        p = table_prefix
        self.complaints = Table(
            f"{p}complaints", self.metadata,
            Column("id", String(200), primary_key=True),
            Column("received_at", UTCDateTime(), nullable=False),
            Column("text", Text, nullable=False),
            Column("language", String(8)),
            Column("category", String(32), nullable=False),
            Column("severity", String(16), nullable=False),
            Column("department", String(64)),
            Column("escalation_level", Integer),
            Column("refund_eligibility", String(32)),
            Column("decision", JSON, nullable=False),
            Column("created_at", UTCDateTime(), nullable=False),
            # the case (revision 0002)
            Column("status", String(24), nullable=False, server_default="new"),
            Column("assignee", String(200)),
            Column("needs_review", Boolean, nullable=False, server_default=text("false")),
            Column("customer_key", String(200)),
            Column("order_id", String(200)),
            Column("location", String(200)),
            Column("links", JSON),
            Column("input", JSON),
            Column("acknowledge_by", UTCDateTime()),
            Column("report_by", UTCDateTime()),
            Column("resolve_by", UTCDateTime()),
            Column("acknowledged_at", UTCDateTime()),
            Column("reported_at", UTCDateTime()),
            Column("resolved_at", UTCDateTime()),
            Column("due_at", UTCDateTime()),
            Column("paused_since", UTCDateTime()),
            Column("pauses", JSON),
            Column("reply", JSON),
            Column("resolution", JSON),
            Column("satisfaction", Integer),
            Column("updated_at", UTCDateTime()),
        )
        c = self.complaints.c
        # The list's order (newest first, id breaks ties) as an index, alone and behind each equality filter, so
        # a page is a range scan that stops after `limit` rows; stats read only the covering index of its window.
        Index(f"ix_{p}complaints_list", c.received_at.desc(), c.id)
        for name in LIST_FILTERS:
            Index(f"ix_{p}complaints_{name}_list", c[name], c.received_at.desc(), c.id)
        Index(f"ix_{p}complaints_stats", c.received_at, *(c[d] for d in STAT_DIMENSIONS))
        Index(f"ix_{p}complaints_sla", c.received_at, c.department, c.acknowledge_by, c.acknowledged_at,
              c.resolve_by, c.resolved_at)
        Index(f"ix_{p}complaints_due", c.due_at)
        for key in ("customer_key", "order_id", "location"):
            Index(f"ix_{p}complaints_{key}_link", c[key], c.received_at)
        self.feedback = Table(
            f"{p}feedback", self.metadata,
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column("complaint_id", String(200), ForeignKey(f"{p}complaints.id"), nullable=False, index=True),
            Column("category", String(32)),
            Column("severity", String(16)),
            Column("department", String(64)),
            Column("note", Text),
            Column("created_at", UTCDateTime(), nullable=False),
        )
        # Append-only (the migration adds triggers refusing UPDATE and DELETE on both databases).
        self.events = Table(
            f"{p}case_events", self.metadata,
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column("complaint_id", String(200), ForeignKey(f"{p}complaints.id"), nullable=False),
            Column("at", UTCDateTime(), nullable=False),
            Column("actor", String(200), nullable=False),
            Column("action", String(24), nullable=False),
            Column("before", JSON),
            Column("after", JSON),
        )
        Index(f"ix_{p}case_events_complaint", self.events.c.complaint_id, self.events.c.id)
        self.table_prefix = p
        # notifications, written in the same transaction as the case change that causes them (service/outbox.py)
        from complaint_triage.service.outbox import Outbox

        self.outbox = Outbox(self)

    schema_ready = False

    def ensure_schema_once(self) -> None:
        """For an app that started while the database was down: create the schema on the first request."""
        if not self.schema_ready:
            self.create_schema()
            self.schema_ready = True

    def create_schema(self) -> None:
        """Make or upgrade the schema to the newest revision with Alembic (service/migrations). A 0.1 database
        (tables, no version table) is taken up at revision 0001 without losing a row. One process at a time:
        PostgreSQL takes an advisory lock, SQLite the write lock, for the whole upgrade."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", "complaint_triage.service:migrations")
        config.attributes["table_prefix"] = self.table_prefix
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                             {"k": f"complaint_triage.migrate.{self.table_prefix}"})
            elif conn.dialect.name == "sqlite":
                # a write first, so the upgrade holds the write lock from its start (no read-then-write race)
                conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS _triage_migrate_lock (x INTEGER)")
                conn.exec_driver_sql("DROP TABLE _triage_migrate_lock")
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def schema_revision(self) -> str | None:
        with self.engine.connect() as conn:
            try:
                return conn.execute(text(f'SELECT version_num FROM "{self.table_prefix}alembic_version"')).scalar()
            except Exception:  # noqa: BLE001 - no version table: not migrated
                return None

    def drop_schema(self) -> None:
        self.metadata.drop_all(self.engine)
        with self.engine.begin() as conn:
            conn.execute(text(f'DROP TABLE IF EXISTS "{self.table_prefix}alembic_version"'))
            if conn.dialect.name == "postgresql":
                conn.execute(text(f'DROP FUNCTION IF EXISTS "{self.table_prefix}case_events_append_only"()'))

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    # ------------------------------------------------------------------ writes
    def _insert_ignore(self, values: dict[str, Any]) -> Any:
        name = self.engine.dialect.name
        if name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        elif name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            return None
        # RETURNING, not rowcount: drivers disagree on rowcount for upserts (psycopg reports -1 here).
        return (insert(self.complaints).values(**values).on_conflict_do_nothing(index_elements=["id"])
                .returning(self.complaints.c.id))

    def insert_many(self, records: list[Record], actor: str = "system") -> list[tuple[dict[str, Any], bool]]:
        """Store the new ones in one transaction, each with a ``created`` event by ``actor``; return each id's
        stored decision and whether it is new."""
        out: list[tuple[dict[str, Any], bool]] = []
        now = _now()
        with self.engine.begin() as conn:
            for r in records:
                values = {**r.__dict__, "created_at": now, "updated_at": now, "status": "new"}
                values["due_at"] = due_at(values)
                stmt = self._insert_ignore(values)
                if stmt is not None:
                    created = conn.execute(stmt).first() is not None
                else:
                    try:
                        with conn.begin_nested():
                            conn.execute(self.complaints.insert().values(**values))
                        created = True
                    except IntegrityError:
                        created = False
                if created:
                    conn.execute(self.events.insert().values(
                        complaint_id=r.id, at=now, actor=actor, action="created", before=None,
                        after={"status": "new", "decision": r.decision}))
                    self.outbox.case_written(conn, None, values, now)
                    out.append((r.decision, True))
                else:
                    stored = conn.execute(
                        select(self.complaints.c.decision).where(self.complaints.c.id == r.id)
                    ).scalar_one()
                    out.append((stored, False))
        return out

    def insert(self, record: Record, actor: str = "system") -> tuple[dict[str, Any], bool]:
        return self.insert_many([record], actor)[0]

    def change_case(self, complaint_id: str, change: Callable[[dict[str, Any], datetime], CaseChange]) -> dict[str, Any]:
        """Read the case, let ``change`` decide (it may raise to refuse), write its values and events: one
        transaction that holds the row from its first statement (a write), so two agents changing one case at
        once are serialized on both databases instead of one losing the other's change."""
        c = self.complaints.c
        now = _now()
        with self.engine.begin() as conn:
            if conn.execute(update(self.complaints).where(c.id == complaint_id).values(updated_at=now)).rowcount == 0:
                raise NotFound(complaint_id)
            row = dict(conn.execute(select(self.complaints).where(c.id == complaint_id)).mappings().one())
            result = change(row, now)
            values = {**result.values}
            if values:
                values["due_at"] = due_at({**row, **values})
                conn.execute(update(self.complaints).where(c.id == complaint_id).values(**values))
            for e in result.events:
                conn.execute(self.events.insert().values(complaint_id=complaint_id, at=now, actor=e.actor,
                                                         action=e.action, before=e.before, after=e.after))
            self.outbox.case_written(conn, row, {**row, **values}, now)
            row.update(values)
        return row

    def history(self, complaint_id: str) -> list[dict[str, Any]]:
        e = self.events.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(self.events).where(e.complaint_id == complaint_id).order_by(e.id)).mappings()
            return [dict(r) for r in rows]

    def neighbours(self, key: Literal["customer_key", "order_id", "location"], value: str,
                   start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Cases with the same ``key`` received in [start, end], oldest first (the link indexes)."""
        c = self.complaints.c
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(
                select(c.id, c.received_at, c.links, c.decision)
                .where(c[key] == value, c.received_at >= start, c.received_at <= end)
                .order_by(c.received_at, c.id)).mappings()]

    def get_row(self, complaint_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(self.complaints).where(self.complaints.c.id == complaint_id)).mappings().first()
            return dict(row) if row is not None else None

    def add_feedback(self, complaint_id: str, category: str | None, severity: str | None,
                     department: str | None, note: str | None) -> dict[str, Any]:
        """Writes first and lets the foreign key reject an unknown id: a read-then-write transaction on SQLite
        can fail outright (not wait) when another process commits in between."""
        values = {"complaint_id": complaint_id, "category": category, "severity": severity,
                  "department": department, "note": note, "created_at": _now()}
        try:
            with self.engine.begin() as conn:
                new_id = conn.execute(self.feedback.insert().values(**values)).inserted_primary_key[0]
        except IntegrityError as e:
            raise NotFound(complaint_id) from e
        return {"id": new_id, **values}

    # ------------------------------------------------------------------ reads
    def get(self, complaint_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(self.complaints).where(self.complaints.c.id == complaint_id)).mappings().first()
            if row is None:
                return None
            fb = conn.execute(
                select(self.feedback).where(self.feedback.c.complaint_id == complaint_id).order_by(self.feedback.c.id)
            ).mappings().all()
            ev = conn.execute(
                select(self.events).where(self.events.c.complaint_id == complaint_id).order_by(self.events.c.id)
            ).mappings().all()
        return {**row, "feedback": [dict(f) for f in fb], "history": [dict(e) for e in ev]}

    def get_decision(self, complaint_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(self.complaints.c.decision).where(self.complaints.c.id == complaint_id)
            ).scalar_one_or_none()

    def labelled_feedback(self, batch: int = 500) -> Iterator[LabelledFeedback]:
        """Complaints with at least one feedback row that sets a category or severity, in id order.

        Each label comes from the latest (created_at, then id) feedback row that sets it; a label no row sets
        is the stored decision's, which the agent saw and let stand. Rows that only set a department or a note
        are not labels: they say nothing about the text's category or severity. Complaints in no supported
        language are left out, since no model could learn from them. Rows are fetched ``batch`` at a time.
        """
        c, f = self.complaints.c, self.feedback

        def given(col: ColumnElement[Any]) -> ColumnElement[bool]:
            return and_(col.is_not(None), col != "")

        def latest(name: str) -> Any:
            fa = f.alias()
            return (select(fa.c[name]).where(fa.c.complaint_id == c.id, given(fa.c[name]))
                    .order_by(fa.c.created_at.desc(), fa.c.id.desc()).limit(1)
                    .scalar_subquery().label(f"fb_{name}"))

        has_label = (select(f.c.id)
                     .where(f.c.complaint_id == c.id, or_(given(f.c.category), given(f.c.severity))).exists())
        stmt = (select(c.id, c.text, c.language, c.category, c.severity,
                       latest("category"), latest("severity"))
                .where(c.language.is_not(None), has_label).order_by(c.id))
        with self.engine.connect() as conn:
            for row in conn.execution_options(yield_per=batch).execute(stmt):
                yield LabelledFeedback(
                    complaint_id=row.id, text=row.text, language=row.language,
                    category=row.fb_category or row.category, severity=row.fb_severity or row.severity,
                    decided_category=row.category, decided_severity=row.severity,
                )

    def _where(self, f: Filters) -> list[ColumnElement[bool]]:
        c = self.complaints.c
        conds: list[ColumnElement[bool]] = []
        for name in LIST_FILTERS:
            value = getattr(f, name)
            if value is not None:
                conds.append(c[name] == value)
        if f.overdue is not None:
            now = f.now or _now()
            conds.append(c.due_at < now if f.overdue else or_(c.due_at.is_(None), c.due_at >= now))
        if f.received_from is not None:
            conds.append(c.received_at >= f.received_from)
        if f.received_to is not None:
            conds.append(c.received_at < f.received_to)
        return conds

    def list(self, filters: Filters, limit: int = 50, offset: int = 0,
             after: Cursor | None = None) -> tuple[list[dict[str, Any]], int]:
        """Newest first, with a stable tie-break on id so pages never overlap. ``after`` pages by key: the rows
        after that (received_at, id), found by an index range scan however deep the page; ``offset`` skips rows
        one by one (the API caps it). ``total`` counts every row the filters match, ignoring the cursor."""
        c = self.complaints.c
        conds = self._where(filters)
        page = list(conds)
        if after is not None:
            # received_at <= t first, so the index range starts at the cursor; ties at t continue by id.
            page += [c.received_at <= after.received_at,
                     or_(c.received_at < after.received_at, c.id > after.id)]
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(self.complaints).where(*conds)).scalar_one()
            rows = conn.execute(
                select(self.complaints).where(*page)
                .order_by(c.received_at.desc(), c.id).limit(limit).offset(offset)
            ).mappings().all()
        return [dict(r) for r in rows], total

    def stats(self, period: Period, filters: Filters = Filters(), now: datetime | None = None) -> list[dict[str, Any]]:
        """Per bucket: the total and counts by each dimension (null values are counted under "none"), and SLA
        compliance per department: of the cases whose acknowledge (resolve) step is done or whose deadline has
        passed, the share done by the deadline (null when none is due yet)."""
        # One scan of the window (the covering stats index), grouped by every dimension at once; the per-dimension
        # counts are summed here from those few hundred groups rather than by one more scan each. SLA compliance
        # is a second scan of its own covering index, grouped by bucket and department only.
        c = self.complaints.c
        now = now or _now()
        bucket = period_start(period, c.received_at).label("bucket")
        dims = [c[d] for d in STAT_DIMENSIONS]
        conds = self._where(filters)
        out: dict[date, dict[str, Any]] = {}

        def count_if(cond: ColumnElement[bool]) -> Any:
            return func.sum(case((cond, 1), else_=0))

        sla = []
        for by, done in (("acknowledge_by", "acknowledged_at"), ("resolve_by", "resolved_at")):
            sla += [count_if(and_(c[by].is_not(None), or_(c[done].is_not(None), c[by] < now))),
                    count_if(and_(c[done].is_not(None), c[done] <= c[by]))]
        with self.engine.connect() as conn:
            for b, *values, n in conn.execute(select(bucket, *dims, func.count()).where(*conds)
                                              .group_by(bucket, *dims)):
                day = _as_date(b)
                entry = out.get(day)
                if entry is None:
                    entry = out[day] = {"start": day.isoformat(), "total": 0, **{d: {} for d in STAT_DIMENSIONS},
                                        "sla": {}}
                entry["total"] += n
                for dim, value in zip(STAT_DIMENSIONS, values):
                    key = value if value is not None else "none"
                    entry[dim][key] = entry[dim].get(key, 0) + n
            sla_rows = conn.execute(select(bucket, c.department, *sla)
                                    .where(*conds, or_(c.acknowledge_by.is_not(None), c.resolve_by.is_not(None)))
                                    .group_by(bucket, c.department))
            for b, dept, ack_due, ack_ok, res_due, res_ok in sla_rows:
                entry = out.get(_as_date(b))
                if entry is None or not (ack_due or res_due):
                    continue
                ack_due, ack_ok, res_due, res_ok = (int(x or 0) for x in (ack_due, ack_ok, res_due, res_ok))
                entry["sla"][dept or "none"] = {
                    "acknowledge_due": ack_due, "acknowledged_on_time": ack_ok,
                    "acknowledged_share": round(ack_ok / ack_due, 4) if ack_due else None,
                    "resolve_due": res_due, "resolved_on_time": res_ok,
                    "resolved_share": round(res_ok / res_due, 4) if res_due else None}
        return [out[k] for k in sorted(out)]


def _as_date(value: date | str) -> date:
    """SQLite returns the bucket as text; PostgreSQL as a date."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def make_engine(url: str) -> Engine:
    """SQLite gets WAL (readers never block the writer), a busy timeout for multi-process writers, and real
    BEGIN/SAVEPOINT semantics, which the stdlib driver otherwise fakes."""
    # hide_parameters: a database error's message must never quote the values bound to it (complaint text).
    if not url.startswith("sqlite"):
        connect_args = {"connect_timeout": 5} if url.startswith("postgresql") else {}
        return create_engine(url, pool_pre_ping=True, hide_parameters=True, connect_args=connect_args)
    engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if ":memory:" not in url and url not in ("sqlite://", "sqlite:///"):
            cur.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a process crash (SIGKILL); only a power loss may drop the last commits.
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")

    return engine
