"""The weekly/monthly complaint analysis (policy.md: "record for weekly/monthly analysis") over a batch's output.

A decisions file can be far larger than memory, so rows are folded into counters per period bucket as they are
read and then dropped: the state grows with the number of periods and distinct labels, never with the rows.
Buckets follow ``service.store.period_start``: the UTC date of ``received_at``, weeks starting on Monday
(ISO) and months on the 1st, so a report and the server's ``/stats`` count the same complaint in the same bucket.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from complaint_triage.contract import CATEGORIES, SEVERITIES

Period = Literal["week", "month"]
PERIODS: tuple[Period, ...] = ("week", "month")
Dimension = Literal["category", "severity", "department", "escalation", "refund"]
DIMENSIONS: tuple[Dimension, ...] = ("category", "severity", "department", "escalation", "refund")
DIMENSION_TITLES: dict[Dimension, str] = {
    "category": "Category", "severity": "Severity (final)", "department": "Department",
    "escalation": "Escalation level", "refund": "Refund eligibility",
}
LEVEL_NAMES = {0: "frontline", 1: "department", 2: "major", 3: "crisis"}
# policy.md's refund table in its own order, then the outcome when no refund was asked for.
REFUND_ORDER = ("not_accepted", "identity_check", "double_refund", "eligible", "pre_refund", "not_eligible",
                "needs_verification", "not_requested")
_CANONICAL: dict[Dimension, tuple[str, ...]] = {
    "category": CATEGORIES,
    "severity": SEVERITIES,
    "escalation": tuple(str(n) for n in LEVEL_NAMES),
    "refund": REFUND_ORDER,
}
SKIPPED_LISTED = 10
TOP_RULES = 10
LISTED_CASES = 200  # crisis and major cases listed by id, each; all are counted
# Each deadline, the step it guards and the case's time of that step (service/store.py CLOCKS).
SLA_STEPS = (("acknowledge", "acknowledge_by", "acknowledged_at"), ("report", "report_by", "reported_at"),
             ("resolve", "resolve_by", "resolved_at"))
LEAD_STEPS = ("acknowledge", "report", "resolve", "regulatory")
# Time allowed from receipt to a deadline: upper bounds in hours of the distribution's columns, then "more".
LEAD_BOUNDS = ((1, "≤ 1 h"), (4, "≤ 4 h"), (8, "≤ 8 h"), (24, "≤ 1 d"), (72, "≤ 3 d"), (120, "≤ 5 d"),
               (168, "≤ 7 d"), (720, "≤ 30 d"))


class _Label(BaseModel):
    label: str


class _Escalation(BaseModel):
    level: int
    name: str


class _Refund(BaseModel):
    eligibility: str


class _Deadlines(BaseModel):
    acknowledge_by: datetime | None = None
    report_by: datetime | None = None
    resolve_by: datetime | None = None
    regulatory_by: datetime | None = None
    regime: str | None = None
    calendar_unconfirmed: bool = False


class ReportRow(BaseModel):
    """Only the parts of a ``Decision`` line the report counts: a line missing one of them is skipped, while a
    field the report does not use may change without making every row unreadable. The case's ``status`` and
    step times are optional: a line that carries them (as the service stores a case) counts in SLA compliance."""

    id: str | None = None
    deadlines: _Deadlines | None = None
    status: str | None = None
    acknowledged_at: datetime | None = None
    reported_at: datetime | None = None
    resolved_at: datetime | None = None
    received_at: datetime
    category: _Label
    severity: _Label
    department: str
    escalation: _Escalation
    refund: _Refund
    needs_review: bool
    signals: dict[str, object]
    rules_fired: list[str]


def period_start(period: Period, when: datetime) -> date:
    """Naive timestamps are read as UTC, as ``Complaint.with_defaults`` does when it stamps them."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    day = when.astimezone(UTC).date()
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def next_period(period: Period, start: date) -> date:
    if period == "week":
        return start + timedelta(days=7)
    return date(start.year + start.month // 12, start.month % 12 + 1, 1)


@dataclass(slots=True)
class Counts:
    """One bucket (or the whole file): how many complaints, and how they split along each dimension."""

    total: int = 0
    needs_review: int = 0
    by: dict[Dimension, Counter[str]] = field(default_factory=lambda: {d: Counter() for d in DIMENSIONS})

    def add(self, row: ReportRow) -> None:
        self.total += 1
        self.needs_review += row.needs_review
        self.by["category"][row.category.label] += 1
        self.by["severity"][row.severity.label] += 1
        self.by["department"][row.department] += 1
        self.by["escalation"][str(row.escalation.level)] += 1
        self.by["refund"][row.refund.eligibility] += 1

    def size(self) -> int:
        return sum(len(c) for c in self.by.values())


@dataclass(slots=True)
class Sla:
    """Deadlines as the decisions set them, and — from lines that carry the case's step times — whether they
    were met. State: a fixed histogram per step and counters per department, never the rows."""

    with_deadlines: int = 0
    with_case: int = 0
    unconfirmed: int = 0
    regimes: Counter[str] = field(default_factory=Counter)
    lead: dict[str, list[int]] = field(default_factory=lambda: {s: [0] * (len(LEAD_BOUNDS) + 1) for s in LEAD_STEPS})
    # department -> step -> Counter of on_time | late (done after the deadline) | overdue (open, deadline passed)
    # | open (not yet due)
    outcomes: dict[str, dict[str, Counter[str]]] = field(default_factory=dict)

    def add(self, row: ReportRow, as_of: datetime) -> None:
        d = row.deadlines
        if d is None:
            return
        self.with_deadlines += 1
        self.unconfirmed += d.calendar_unconfirmed
        if d.regime:
            self.regimes[d.regime] += 1
        received = _aware(row.received_at)
        for step, by in (("acknowledge", d.acknowledge_by), ("report", d.report_by), ("resolve", d.resolve_by),
                         ("regulatory", d.regulatory_by)):
            if by is not None:
                hours = (_aware(by) - received).total_seconds() / 3600
                self.lead[step][next((i for i, (b, _) in enumerate(LEAD_BOUNDS) if hours <= b),
                                     len(LEAD_BOUNDS))] += 1
        if row.status is None:
            return
        self.with_case += 1
        dept = self.outcomes.setdefault(row.department, {s: Counter() for s, _, _ in SLA_STEPS})
        for step, by_name, done_name in SLA_STEPS:
            by, done = getattr(d, by_name), getattr(row, done_name)
            if by is None:
                continue
            if done is not None:
                outcome = "on_time" if _aware(done) <= _aware(by) else "late"
            else:
                outcome = "overdue" if _aware(by) < as_of and row.status != "waiting_customer" else "open"
            dept[step][outcome] += 1

    def total(self, step: str) -> Counter[str]:
        out: Counter[str] = Counter()
        for steps in self.outcomes.values():
            out.update(steps[step])
        return out

    def size(self) -> int:
        return len(self.regimes) + sum(len(c) for steps in self.outcomes.values() for c in steps.values())


@dataclass(frozen=True, slots=True)
class ListedCase:
    id: str
    received_at: datetime
    level: int
    category: str
    severity: str
    department: str


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class SkippedLine:
    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class PeriodCounts:
    start: date
    end: date
    counts: Counts


@dataclass(frozen=True)
class Report:
    """What the aggregation found; rendering to Markdown and charts reads only this."""

    period: Period
    periods: list[PeriodCounts]
    totals: Counts
    signals: Counter[str]
    rules: Counter[str]
    level_names: dict[int, str]
    first_received: datetime | None
    last_received: datetime | None
    skipped: int
    skipped_lines: list[SkippedLine]
    sla: Sla = field(default_factory=Sla)
    as_of: datetime | None = None
    listed: dict[int, list[ListedCase]] = field(default_factory=lambda: {3: [], 2: []})

    @property
    def rows(self) -> int:
        return self.totals.total

    def columns(self, dim: Dimension) -> list[str]:
        """Labels in the contract's order where it has one (escalation always shows all four levels), the
        rest by how often they occur, so tables and charts of different files line up."""
        seen = self.totals.by[dim]
        order = _CANONICAL.get(dim, ())
        known = [v for v in order if seen[v] or dim == "escalation"]
        rest = sorted((v for v in seen if v not in order), key=lambda v: (-seen[v], v))
        return known + rest

    def column_label(self, dim: Dimension, value: str) -> str:
        if dim == "escalation" and value.isdigit():
            name = self.level_names.get(int(value), LEVEL_NAMES.get(int(value), ""))
            return f"{value} {name}".strip()
        return value

    def period_label(self, p: PeriodCounts) -> str:
        return p.start.isoformat() if self.period == "week" else p.start.strftime("%Y-%m")

    def at_level(self, minimum: int) -> int:
        return sum(n for v, n in self.totals.by["escalation"].items() if int(v) >= minimum)

    def last_period_partial(self) -> bool:
        """The newest bucket is compared with a full one; say so when the data stops before it ends."""
        if not self.periods or self.last_received is None:
            return False
        last_day = self.periods[-1].end - timedelta(days=1)
        return self.last_received.astimezone(UTC).date() < last_day


class ReportBuilder:
    """Feed it lines (or rows) one at a time; ``result()`` may be called at any point."""

    def __init__(self, period: Period = "week", as_of: datetime | None = None):
        """``as_of``: when open steps are judged overdue (default: now)."""
        if period not in PERIODS:
            raise ValueError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")
        self.period: Period = period
        self.as_of = _aware(as_of) if as_of is not None else datetime.now(UTC)
        self._sla = Sla()
        self._listed: dict[int, list[ListedCase]] = {3: [], 2: []}
        self._buckets: dict[date, Counts] = {}
        self._totals = Counts()
        self._signals: Counter[str] = Counter()
        self._rules: Counter[str] = Counter()
        self._level_names: dict[int, str] = {}
        self._first: datetime | None = None
        self._last: datetime | None = None
        self._skipped = 0
        self._skipped_lines: list[SkippedLine] = []

    def add_line(self, number: int, line: str) -> None:
        if not line.strip():
            return
        try:
            row = ReportRow.model_validate_json(line)
        except ValidationError as e:
            self._skip(number, _reason(e))
            return
        self.add(row)

    def add(self, row: ReportRow) -> None:
        when = row.received_at if row.received_at.tzinfo else row.received_at.replace(tzinfo=UTC)
        start = period_start(self.period, when)
        self._buckets.setdefault(start, Counts()).add(row)
        self._totals.add(row)
        self._signals.update(k for k, v in row.signals.items() if v is True)
        self._rules.update(row.rules_fired)
        self._level_names.setdefault(row.escalation.level, row.escalation.name)
        self._sla.add(row, self.as_of)
        level = min(row.escalation.level, 3)
        if level >= 2 and len(self._listed[level]) < LISTED_CASES:
            self._listed[level].append(ListedCase(row.id or "(no id)", when, row.escalation.level,
                                                  row.category.label, row.severity.label, row.department))
        if self._first is None or when < self._first:
            self._first = when
        if self._last is None or when > self._last:
            self._last = when

    def _skip(self, number: int, reason: str) -> None:
        self._skipped += 1
        if len(self._skipped_lines) < SKIPPED_LISTED:
            self._skipped_lines.append(SkippedLine(number, reason))

    def state_size(self) -> int:
        """Entries held, for checking that the state does not grow with the number of rows."""
        return (len(self._buckets) + sum(c.size() for c in self._buckets.values()) + self._totals.size()
                + len(self._signals) + len(self._rules) + len(self._level_names) + len(self._skipped_lines)
                + self._sla.size() + sum(len(v) for v in self._listed.values()))

    def result(self) -> Report:
        periods = []
        if self._buckets:
            # Empty buckets between the first and the last are kept, so "last vs previous" compares
            # neighbouring periods and a chart's time axis has no silent jumps.
            start, last = min(self._buckets), max(self._buckets)
            while start <= last:
                end = next_period(self.period, start)
                periods.append(PeriodCounts(start, end, self._buckets.get(start) or Counts()))
                start = end
        return Report(
            period=self.period, periods=periods, totals=self._totals, signals=Counter(self._signals),
            rules=Counter(self._rules), level_names=dict(self._level_names), first_received=self._first,
            last_received=self._last, skipped=self._skipped, skipped_lines=list(self._skipped_lines),
            sla=self._sla, as_of=self.as_of, listed={k: list(v) for k, v in self._listed.items()},
        )


def _reason(e: ValidationError) -> str:
    err = e.errors(include_url=False)[0]
    if err["type"] == "json_invalid":
        return "not valid JSON"
    if err["type"] == "model_type" and not err["loc"]:
        return "not a JSON object"
    loc = ".".join(str(x) for x in err["loc"])
    if err["type"] == "missing":
        return f"missing {loc}"
    return f"{loc}: {err['msg']}"


def aggregate(lines: Iterable[str], period: Period = "week", as_of: datetime | None = None) -> Report:
    """Lines are numbered from 1 as they come, blank ones included, so a skipped line can be found in the file."""
    builder = ReportBuilder(period, as_of)
    for number, line in enumerate(lines, 1):
        builder.add_line(number, line)
    return builder.result()


# ---------------------------------------------------------------- Markdown

@dataclass(frozen=True, slots=True)
class ReportFiles:
    markdown: Path
    charts: dict[str, Path]


def write_report(report: Report, out_dir: Path, title_source: str | None = None) -> ReportFiles:
    """Charts are optional decoration of the numbers: matplotlib is imported only here."""
    from complaint_triage.batch.report_charts import write_charts

    out_dir.mkdir(parents=True, exist_ok=True)
    charts = write_charts(report, out_dir)
    md = out_dir / "report.md"
    md.write_text(render_markdown(report, {k: p.name for k, p in charts.items()}, title_source), encoding="utf-8")
    return ReportFiles(md, charts)


def _pct(n: int, total: int) -> str:
    return f"{100 * n / total:.1f} %" if total else "–"


def _date_range(report: Report) -> str:
    if report.first_received is None or report.last_received is None:
        return "no complaints"
    a = report.first_received.astimezone(UTC).date()
    b = report.last_received.astimezone(UTC).date()
    return a.isoformat() if a == b else f"{a.isoformat()} to {b.isoformat()}"


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    right = ["---:" if i else "---" for i in range(len(header))]
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join(right) + " |"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out


def dimension_table(report: Report, dim: Dimension) -> list[str]:
    cols = report.columns(dim)
    head = ["week starting" if report.period == "week" else "month", "total",
            *(report.column_label(dim, c) for c in cols)]
    rows: list[list[object]] = [[report.period_label(p), p.counts.total, *(p.counts.by[dim][c] for c in cols)]
                                for p in report.periods]
    rows.append(["**all**", f"**{report.rows}**", *(f"**{report.totals.by[dim][c]}**" for c in cols)])
    return _table(head, rows)


def highlights(report: Report) -> list[str]:
    """The few things a reader of the weekly/monthly analysis should look at first, computed, not written."""
    n, unit = report.rows, report.period
    out: list[str] = []
    if len(report.periods) >= 2:
        last, prev = report.periods[-1], report.periods[-2]
        rises = sorted(((last.counts.by["category"][c] - prev.counts.by["category"][c], c)
                        for c in report.columns("category")), key=lambda t: (-t[0], t[1]))
        partial = ""
        if report.last_period_partial() and report.last_received:
            partial = f" (the last {unit} is partial: data ends {report.last_received.astimezone(UTC).date()})"
        if rises and rises[0][0] > 0:
            rise, cat = rises[0]
            out.append(f"Largest rise, {unit} of {report.period_label(last)} vs the one before: **{cat}**, "
                       f"{prev.counts.by['category'][cat]} → {last.counts.by['category'][cat]} (+{rise}), "
                       f"{pct_change(prev.counts.by['category'][cat], last.counts.by['category'][cat])}{partial}.")
        else:
            out.append(f"No category rose in the {unit} of {report.period_label(last)} vs the one before{partial}.")
        delta = last.counts.total - prev.counts.total
        out.append(f"Complaints in the last {unit}: {last.counts.total} ({'+' if delta >= 0 else ''}{delta} "
                   f"vs {prev.counts.total}).")
    else:
        out.append(f"Only one {unit} of data: no change over time to compare.")
    major = report.at_level(2)
    out.append(f"Escalation level ≥ 2 (major or crisis): {major} of {n} ({_pct(major, n)}).")
    crisis = report.at_level(3)
    if crisis:
        last_crisis = report.periods[-1].counts.by["escalation"]["3"] if report.periods else 0
        out.append(f"Crisis (level 3) complaints: **{crisis}**, {last_crisis} of them in the last {unit}.")
    else:
        out.append("No crisis (level 3) complaints.")
    out.append(f"Needing review (low confidence or unsupported language): {report.totals.needs_review} "
               f"({_pct(report.totals.needs_review, n)}).")
    if report.signals:
        sig, count = report.signals.most_common(1)[0]
        out.append(f"Most frequent signal: **{sig}** in {count} complaints ({_pct(count, n)}).")
    depts = report.totals.by["department"]
    if depts:
        dept, count = depts.most_common(1)[0]
        out.append(f"Busiest department: **{dept}** with {count} complaints ({_pct(count, n)}).")
    return out


def pct_change(previous: int, current: int) -> str:
    """Period-on-period change: "+12 %", "-50 %", "0 %"; "new" from nothing, "–" when both are empty."""
    if previous == 0:
        return "–" if current == 0 else "new"
    return f"{100 * (current - previous) / previous:+.0f} %"


def change_table(report: Report) -> list[str]:
    """Per category (and in all), each period's count and its change vs the period before."""
    if len(report.periods) < 2:
        return [f"Only one {report.period} of data: nothing to compare."]
    cols = report.columns("category")
    head = ["week starting" if report.period == "week" else "month", "total", *cols]
    rows: list[list[object]] = []
    for prev, cur in zip(report.periods, report.periods[1:]):
        cells = [f"{cur.counts.total} ({pct_change(prev.counts.total, cur.counts.total)})"]
        cells += [f"{cur.counts.by['category'][c]} ({pct_change(prev.counts.by['category'][c], cur.counts.by['category'][c])})"
                  for c in cols]
        rows.append([report.period_label(cur), *cells])
    return _table(head, rows)


def listed_cases(report: Report) -> list[str]:
    out: list[str] = []
    for level, title in ((3, "Crisis (level 3)"), (2, "Major (level 2)")):
        total = report.at_level(level) - (report.at_level(3) if level == 2 else 0)
        listed = report.listed.get(level, [])
        out += [f"**{title}: {total}**", ""]
        if not listed:
            out += ["None.", ""]
            continue
        out += _table(["id", "received (UTC)", "category", "severity", "department"],
                      [[f"`{c.id}`", c.received_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"), c.category,
                        c.severity, c.department] for c in listed])
        if total > len(listed):
            out.append(f"\n…and {total - len(listed)} more (the first {len(listed)} in file order are listed; "
                       f"filter the decisions file on `escalation.level` for the rest).")
        out.append("")
    return out


def _share(c: Counter[str]) -> str:
    due = c["on_time"] + c["late"] + c["overdue"]
    return f"{c['on_time']}/{due} ({_pct(c['on_time'], due)})" if due else "–"


def sla_section(report: Report) -> list[str]:
    sla, n = report.sla, report.rows
    as_of = report.as_of.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if report.as_of else "now"
    out = [f"{sla.with_deadlines} of {n} complaints carry deadlines. **A decisions file says when each step is due, "
           "not whether it was done**: the share of deadlines met cannot be known from decisions alone. It is "
           "measured only from lines that also carry the case's `status` and step times (`acknowledged_at`, "
           "`reported_at`, `resolved_at`, as the service stores a case): "
           f"{sla.with_case} of {n} here.", ""]
    if sla.with_deadlines:
        out += ["Time allowed from receipt to each deadline (complaints per bucket):", ""]
        rows = [[step, sum(sla.lead[step]), *sla.lead[step]] for step in LEAD_STEPS if sum(sla.lead[step])]
        out += _table(["deadline", "complaints", *(label for _, label in LEAD_BOUNDS), "> 30 d"], rows)
        out.append("")
        if sla.regimes:
            out.append("Regulatory clocks: " + ", ".join(f"{r} {k}" for r, k in sla.regimes.most_common()) + ".")
        if sla.unconfirmed:
            out.append(f"{sla.unconfirmed} complaints have deadlines in a year whose official make-up working days "
                       "were not yet published (`calendar_unconfirmed`): recheck them when the calendar is out.")
        if sla.regimes or sla.unconfirmed:
            out.append("")
    if sla.with_case:
        out += [f"Compliance, as of {as_of}: deadlines met / deadlines due (done, or passed while open; a case "
                "waiting for the customer is not counted as overdue).", ""]
        steps = [s for s, _, _ in SLA_STEPS]
        rows = [[dept, *(_share(sla.outcomes[dept][s]) for s in steps),
                 sum(sla.outcomes[dept][s]["overdue"] for s in steps)]
                for dept in sorted(sla.outcomes)]
        rows.append(["**all**", *(f"**{_share(sla.total(s))}**" for s in steps),
                     f"**{sum(sla.total(s)['overdue'] for s in steps)}**"])
        out += _table(["department", "acknowledged on time", "reported on time", "resolved on time",
                       "open past a deadline"], rows)
        out.append("")
    else:
        out += ["No line carries case times, so no compliance is reported here (the service's `/v1/stats` "
                "measures it from the stored cases).", ""]
    return out


def render_markdown(report: Report, charts: dict[str, str] | None = None, source: str | None = None) -> str:
    """``charts`` maps a dimension (or "signals") to a file name relative to the Markdown file."""
    charts = charts or {}
    n = report.rows
    title_unit = "weekly" if report.period == "week" else "monthly"
    lines = [f"# Complaint report, {_date_range(report)} ({title_unit})", ""]
    if source:
        lines += [f"From `{source}`.", ""]
    lines += ["## Summary", ""]
    lines += [
        f"- Complaints: **{n}** in {len(report.periods)} {report.period}{'s' if len(report.periods) != 1 else ''}",
        f"- Needing review: {report.totals.needs_review} ({_pct(report.totals.needs_review, n)})",
        (f"- Escalation level ≥ 2: {report.at_level(2)} ({_pct(report.at_level(2), n)}); "
         f"crisis (level 3): {report.at_level(3)}"),
        f"- Skipped lines (unreadable, not counted): {report.skipped}",
        "",
        "## What stands out",
        "",
        *(f"- {h}" for h in highlights(report)),
        "",
        "## Crisis and major cases",
        "",
        *listed_cases(report),
        "## Deadlines and SLA compliance",
        "",
        *sla_section(report),
        f"## Change per category vs the previous {report.period}",
        "",
        *change_table(report),
        "",
    ]
    for dim in DIMENSIONS:
        lines += [f"## {DIMENSION_TITLES[dim]}", ""]
        if dim in charts:
            lines += [f"![{DIMENSION_TITLES[dim]} per {report.period}]({charts[dim]})", ""]
        lines += [*dimension_table(report, dim), ""]
    lines += ["## Top signals", ""]
    if "signals" in charts:
        lines += [f"![Top signals]({charts['signals']})", ""]
    if report.signals:
        lines += _table(["signal", "complaints", "share"],
                        [[s, c, _pct(c, n)] for s, c in report.signals.most_common()])
    else:
        lines.append("No signal flag was set in any complaint.")
    lines += ["", "## Most frequent rules fired", ""]
    if report.rules:
        lines += _table(["rule", "times fired"], [[r, c] for r, c in report.rules.most_common(TOP_RULES)])
    else:
        lines.append("No rules recorded.")
    lines.append("")
    if report.skipped:
        lines += ["## Skipped lines", "",
                  f"{report.skipped} line{'s' if report.skipped != 1 else ''} could not be read and "
                  f"{'are' if report.skipped != 1 else 'is'} not counted above"
                  + (f" (the first {len(report.skipped_lines)} listed)" if report.skipped > len(report.skipped_lines)
                     else "") + ":", ""]
        lines += [f"- line {s.line}: {s.reason}" for s in report.skipped_lines]
        lines.append("")
    return "\n".join(lines)
