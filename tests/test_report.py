"""The weekly/monthly report over a batch's decision lines: buckets, counts, skipped lines, files, command."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from datetime import date, datetime
from itertools import islice
from pathlib import Path

import pytest
from click.testing import CliRunner

from complaint_triage.batch.cli_report import report as report_command
from complaint_triage.batch.report import (
    DIMENSIONS,
    LEVEL_NAMES,
    SKIPPED_LISTED,
    Report,
    ReportBuilder,
    ReportRow,
    aggregate,
    highlights,
    next_period,
    period_start,
    render_markdown,
    write_report,
)
from complaint_triage.contract import (
    CategoryOut,
    Decision,
    Escalation,
    Refund,
    SeverityOut,
    Signals,
    Versions,
)
from complaint_triage.triage.signals import FLAG_SIGNALS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ROUTE = {"product_quality": "quality", "delivery": "logistics", "billing": "billing", "refund_return": "after_sales",
         "service_attitude": "customer_service", "safety": "safety"}


def decision(received_at: str, category: str = "delivery", severity: str = "medium", level: int = 1,
             refund: str = "not_requested", needs_review: bool = False, signals: tuple[str, ...] = (),
             rules: tuple[str, ...] = ("route_by_category",), department: str | None = None) -> dict:
    """A decision line as the batch job writes it: a real ``Decision`` (so a schema change breaks this helper,
    not silently the report) plus ``received_at``."""
    d = Decision(
        id=f"c-{received_at}",
        language="en",
        category=CategoryOut(label=category, confidence=0.9, source="model"),
        severity=SeverityOut(label=severity, model_label=severity, confidence=0.8),
        signals=Signals(**{s: True for s in signals}),
        department=department or ROUTE.get(category, "customer_service"),
        also_notify=[],
        exclude_handlers=[],
        escalation=Escalation(level=level, name=LEVEL_NAMES[level], respond_within_hours=24,
                              report_within_hours=24 if level >= 2 else None),
        refund=Refund(eligibility=refund, kind=None, reason="test", verify_within_days=None, approval_required=False),
        plan=[],
        needs_review=needs_review,
        rules_fired=list(rules),
        versions=Versions(model="test-model", policy="test-policy"),
    )
    return {**d.model_dump(mode="json"), "received_at": received_at}


def line(received_at: str, **kw) -> str:
    return json.dumps(decision(received_at, **kw), ensure_ascii=False)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(x + "\n" for x in lines), encoding="utf-8")
    return path


# A fixed sample: three weeks of March 2025 (Mondays 03-03, 03-10, 03-17) and one line in April.
SAMPLE = [
    line("2025-03-03T09:00:00+00:00", category="delivery", severity="low", level=0),
    line("2025-03-05T10:00:00Z", category="billing", severity="medium", level=1, refund="needs_verification"),
    line("2025-03-09T23:59:59Z", category="delivery", severity="high", level=2, signals=("repeat",),
         rules=("route_by_category", "repeat_complaint")),
    line("2025-03-10T00:00:00Z", category="safety", severity="critical", level=3, signals=("injury", "media_threat"),
         rules=("route_by_category", "injury_crisis", "notify_pr")),
    line("2025-03-11T08:00:00Z", category="delivery", severity="medium", level=1, needs_review=True),
    line("2025-03-12T08:00:00Z", category="delivery", severity="high", level=2, signals=("repeat", "legal_threat"),
         refund="pre_refund", rules=("route_by_category", "repeat_complaint")),
    line("2025-03-18T08:00:00Z", category="product_quality", severity="low", level=0, refund="eligible"),
    line("2025-04-01T08:00:00Z", category="product_quality", severity="medium", level=1),
]


@pytest.fixture
def sample_week() -> Report:
    return aggregate(SAMPLE, "week")


# ---------------------------------------------------------------- buckets

@pytest.mark.parametrize("received_at, period, start", [
    # weeks start on Monday (ISO): Sunday night and Monday morning are different weeks
    ("2025-03-16T23:59:59+00:00", "week", date(2025, 3, 10)),
    ("2025-03-17T00:00:00+00:00", "week", date(2025, 3, 17)),
    ("2025-03-17T00:00:00Z", "week", date(2025, 3, 17)),
    # a week across the new year belongs to the Monday it starts on
    ("2025-01-05T12:00:00Z", "week", date(2024, 12, 30)),
    ("2024-12-31T12:00:00Z", "week", date(2024, 12, 30)),
    # months start on the 1st
    ("2025-01-31T23:59:59Z", "month", date(2025, 1, 1)),
    ("2025-02-01T00:00:00Z", "month", date(2025, 2, 1)),
    ("2024-02-29T12:00:00Z", "month", date(2024, 2, 1)),
    # buckets are UTC dates, as in the store's /stats: Monday 01:00 in Shanghai is still Sunday in UTC
    ("2025-03-17T01:00:00+08:00", "week", date(2025, 3, 10)),
    ("2025-02-01T07:00:00+08:00", "month", date(2025, 1, 1)),
    # no offset: read as UTC
    ("2025-03-17T00:30:00", "week", date(2025, 3, 17)),
])
def test_period_start(received_at, period, start):
    assert period_start(period, datetime.fromisoformat(received_at)) == start


@pytest.mark.parametrize("period, start, following", [
    ("week", date(2025, 12, 29), date(2026, 1, 5)),
    ("month", date(2025, 1, 1), date(2025, 2, 1)),
    ("month", date(2025, 12, 1), date(2026, 1, 1)),
])
def test_next_period(period, start, following):
    assert next_period(period, start) == following


@pytest.mark.parametrize("period, a, b, same_bucket", [
    ("week", "2025-03-16T20:00:00Z", "2025-03-17T08:00:00Z", False),   # Sunday, next Monday
    ("week", "2025-03-17T08:00:00Z", "2025-03-23T20:00:00Z", True),    # Monday, same Sunday
    ("month", "2025-01-31T20:00:00Z", "2025-02-01T08:00:00Z", False),  # Jan 31, Feb 1
    ("month", "2025-03-16T20:00:00Z", "2025-03-17T08:00:00Z", True),   # Sunday, Monday, same month
])
def test_rows_fall_in_buckets(period, a, b, same_bucket):
    r = aggregate([line(a), line(b)], period)
    assert [p.counts.total for p in r.periods] == ([2] if same_bucket else [1, 1])


def test_empty_periods_between_rows_are_kept():
    r = aggregate([line("2025-03-03T08:00:00Z"), line("2025-03-26T08:00:00Z")], "week")
    assert [(p.start, p.counts.total) for p in r.periods] == [
        (date(2025, 3, 3), 1), (date(2025, 3, 10), 0), (date(2025, 3, 17), 0), (date(2025, 3, 24), 1)]


# ---------------------------------------------------------------- counts

@pytest.mark.parametrize("dim, value, total", [
    ("category", "delivery", 4),
    ("category", "product_quality", 2),
    ("category", "billing", 1),
    ("category", "safety", 1),
    ("severity", "low", 2),
    ("severity", "medium", 3),
    ("severity", "high", 2),
    ("severity", "critical", 1),
    ("department", "logistics", 4),
    ("department", "quality", 2),
    ("escalation", "0", 2),
    ("escalation", "1", 3),
    ("escalation", "2", 2),
    ("escalation", "3", 1),
    ("refund", "not_requested", 5),
    ("refund", "eligible", 1),
    ("refund", "pre_refund", 1),
    ("refund", "needs_verification", 1),
])
def test_totals_per_dimension(sample_week, dim, value, total):
    assert sample_week.totals.by[dim][value] == total


@pytest.mark.parametrize("period, dim, value, per_period", [
    ("week", "category", "delivery", [2, 2, 0, 0, 0]),
    ("week", "escalation", "3", [0, 1, 0, 0, 0]),
    ("week", "category", "product_quality", [0, 0, 1, 0, 1]),
    ("month", "category", "delivery", [4, 0]),
    ("month", "severity", "medium", [2, 1]),
])
def test_counts_per_period(period, dim, value, per_period):
    r = aggregate(SAMPLE, period)
    assert [p.counts.by[dim][value] for p in r.periods] == per_period


def test_summary_counts(sample_week):
    r = sample_week
    assert (r.rows, len(r.periods), r.totals.needs_review, r.at_level(2), r.at_level(3)) == (8, 5, 1, 3, 1)
    assert sum(p.counts.total for p in r.periods) == r.rows
    assert r.period_label(r.periods[0]) == "2025-03-03"
    assert aggregate(SAMPLE, "month").period_label(aggregate(SAMPLE, "month").periods[0]) == "2025-03"


@pytest.mark.parametrize("signal, count", [("repeat", 2), ("injury", 1), ("media_threat", 1), ("legal_threat", 1),
                                           ("collective", 0)])
def test_signal_counts(sample_week, signal, count):
    assert sample_week.signals[signal] == count


def test_rules_fired_counts(sample_week):
    assert sample_week.rules.most_common(2) == [("route_by_category", 8), ("repeat_complaint", 2)]


def test_escalation_columns_always_show_all_four_levels():
    r = aggregate([line("2025-03-03T08:00:00Z", level=0)], "week")
    assert [r.column_label("escalation", c) for c in r.columns("escalation")] == [
        "0 frontline", "1 department", "2 major", "3 crisis"]
    assert r.columns("category") == ["delivery"]


def test_report_reads_only_fields_a_decision_has():
    from complaint_triage.contract import Deadlines
    from complaint_triage.service.store import CLOCKS

    # besides the decision's fields, the case's status and step times under the store's own column names
    case_fields = {"status", *(done for _, done in CLOCKS)}
    assert set(ReportRow.model_fields) - {"received_at"} - case_fields <= set(Decision.model_fields)
    assert set(ReportRow.model_fields["deadlines"].annotation.__args__[0].model_fields) <= set(Deadlines.model_fields)
    assert {"level", "name"} <= set(Escalation.model_fields)
    assert "eligibility" in Refund.model_fields
    assert set(FLAG_SIGNALS) <= set(Signals.model_fields)


# ---------------------------------------------------------------- bad lines

@pytest.mark.parametrize("bad, reason", [
    ("{not json", "not valid JSON"),
    ('["a", "list"]', "not a JSON object"),
    ('"a string"', "not a JSON object"),
    (json.dumps({k: v for k, v in decision("2025-03-03T08:00:00Z").items() if k != "category"}), "missing category"),
    (json.dumps({k: v for k, v in decision("2025-03-03T08:00:00Z").items() if k != "received_at"}),
     "missing received_at"),
    (json.dumps({**decision("2025-03-03T08:00:00Z"), "received_at": "last tuesday"}), "received_at"),
    (json.dumps({**decision("2025-03-03T08:00:00Z"), "escalation": {"level": "high", "name": "x"}}),
     "escalation.level"),
])
def test_bad_line_is_skipped_with_its_reason(bad, reason):
    r = aggregate([SAMPLE[0], bad, SAMPLE[1]], "week")
    assert (r.rows, r.skipped) == (2, 1)
    assert r.skipped_lines[0].line == 2
    assert reason in r.skipped_lines[0].reason


def test_skipped_line_numbers_count_blank_lines_but_do_not_skip_them():
    r = aggregate([SAMPLE[0], "\n", "oops\n", SAMPLE[1], "   \n", "{}\n"], "week")
    assert (r.rows, r.skipped, [s.line for s in r.skipped_lines]) == (2, 2, [3, 6])


def test_only_the_first_skipped_lines_are_listed_but_all_are_counted():
    r = aggregate(["x"] * (SKIPPED_LISTED + 5) + [SAMPLE[0]], "week")
    assert (r.rows, r.skipped, len(r.skipped_lines)) == (1, SKIPPED_LISTED + 5, SKIPPED_LISTED)
    md = render_markdown(r)
    assert f"first {SKIPPED_LISTED} listed" in md and "- line 1: not valid JSON" in md


# ---------------------------------------------------------------- Markdown and charts

def test_markdown_has_title_summary_tables_and_chart_links(tmp_path, sample_week):
    files = write_report(sample_week, tmp_path, "decisions.jsonl")
    md = files.markdown.read_text(encoding="utf-8")
    assert md.startswith("# Complaint report, 2025-03-03 to 2025-04-01 (weekly)")
    for heading in ("## Summary", "## What stands out", "## Category", "## Severity (final)", "## Department",
                    "## Escalation level", "## Refund eligibility", "## Top signals", "## Most frequent rules fired"):
        assert f"\n{heading}\n" in md
    for name in (*DIMENSIONS, "signals"):
        assert f"]({name}.png)" in md
        assert (tmp_path / f"{name}.png").is_file()
    assert "| week starting | total | product_quality | delivery | billing | safety |" in md
    assert "| 2025-03-10 | 3 | 0 | 2 | 0 | 1 |" in md
    assert "| **all** | **8** | **2** | **4** | **1** | **1** |" in md
    assert "| week starting | total | 0 frontline | 1 department | 2 major | 3 crisis |" in md
    assert "| repeat | 2 | 25.0 % |" in md
    assert "## Skipped lines" not in md


@pytest.mark.parametrize("lines, expected", [
    # the category with the largest rise, last period vs the one before
    ([line("2025-03-03T08:00:00Z", category="billing"), line("2025-03-10T08:00:00Z", category="billing"),
      line("2025-03-11T08:00:00Z", category="delivery"), line("2025-03-12T08:00:00Z", category="delivery")],
     "**delivery**, 0 → 2 (+2)"),
    ([line("2025-03-03T08:00:00Z", category="billing"), line("2025-03-04T08:00:00Z", category="billing"),
      line("2025-03-10T08:00:00Z", category="billing")],
     "No category rose in the week of 2025-03-10"),
    # the last week ends before its Sunday: said, not hidden
    ([line("2025-03-03T08:00:00Z"), line("2025-03-11T08:00:00Z"), line("2025-03-12T08:00:00Z")],
     "the last week is partial: data ends 2025-03-12"),
    ([line("2025-03-03T08:00:00Z")], "Only one week of data"),
    ([line("2025-03-03T08:00:00Z", level=3), line("2025-03-04T08:00:00Z", level=2), line("2025-03-05T08:00:00Z")],
     "Escalation level ≥ 2 (major or crisis): 2 of 3 (66.7 %)"),
    ([line("2025-03-03T08:00:00Z", level=3), line("2025-03-11T08:00:00Z", level=3)],
     "Crisis (level 3) complaints: **2**, 1 of them in the last week"),
    ([line("2025-03-03T08:00:00Z", level=1)], "No crisis (level 3) complaints"),
    ([line("2025-03-03T08:00:00Z", signals=("injury",)), line("2025-03-04T08:00:00Z", signals=("injury", "repeat"))],
     "Most frequent signal: **injury** in 2 complaints (100.0 %)"),
])
def test_what_stands_out(lines, expected):
    assert any(expected in h for h in highlights(aggregate(lines, "week")))


def many_weeks(n: int) -> list[str]:
    cats = ["delivery", "billing", "product_quality", "safety", "service_attitude"]
    return [line(f"{date.fromordinal(date(2023, 1, 2).toordinal() + 7 * w + i).isoformat()}T08:00:00Z",
                 category=cats[(w + i) % len(cats)], level=(w * i) % 4, signals=(FLAG_SIGNALS[w % 10],))
            for w in range(n) for i in range(w % 3 + 1)]


@pytest.mark.parametrize("lines, period", [
    ([SAMPLE[0]], "week"),          # a single bar
    ([SAMPLE[0]], "month"),
    (SAMPLE, "week"),
    (many_weeks(120), "week"),      # more bars than tick labels
    (many_weeks(120), "month"),
])
def test_charts_are_valid_pngs(tmp_path, lines, period):
    files = write_report(aggregate(lines, period), tmp_path)
    assert set(files.charts) == {*DIMENSIONS, "signals"}
    for path in files.charts.values():
        data = path.read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 5_000, path.name


def test_signal_chart_without_any_signal(tmp_path):
    files = write_report(aggregate([SAMPLE[0]], "week"), tmp_path)
    assert files.charts["signals"].read_bytes()[:8] == PNG_MAGIC
    assert "No signal flag was set" in files.markdown.read_text(encoding="utf-8")


# ---------------------------------------------------------------- the command

def test_command_writes_next_to_the_file_by_default(tmp_path):
    src = write_lines(tmp_path / "decisions.jsonl", SAMPLE)
    res = CliRunner().invoke(report_command, [str(src)])
    assert res.exit_code == 0, res.output
    out = tmp_path / "decisions-report"
    assert (out / "report.md").is_file() and (out / "category.png").is_file()
    assert f"wrote {out / 'report.md'}" in res.output
    assert "8 complaints in 5 weeks, 1 needing review, 3 at escalation level ≥ 2, 1 crisis; 0 lines skipped" \
        in res.output


def test_command_month_out_dir_and_skipped_lines(tmp_path):
    src = write_lines(tmp_path / "d.jsonl", [SAMPLE[0], "garbage", SAMPLE[7]])
    res = CliRunner().invoke(report_command, [str(src), "--period", "month", "-o", str(tmp_path / "rep")])
    assert res.exit_code == 0, res.output
    assert "2 complaints in 2 months" in res.output and "1 line skipped" in res.output
    assert "skipped lines (not valid decisions): 2" in res.stderr
    md = (tmp_path / "rep" / "report.md").read_text(encoding="utf-8")
    assert "(monthly)" in md and "- line 2: not valid JSON" in md


def test_command_reads_stdin(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(report_command, ["-"], input="".join(x + "\n" for x in SAMPLE))
    assert res.exit_code == 0, res.output
    assert (tmp_path / "decisions-report" / "report.md").is_file()


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    ("", "is empty"),
    ("\n\n", "is empty"),
    ("not json\n{}\n", "has no valid decision lines (2 skipped; line 1: not valid JSON; line 2: missing"),
])
def test_command_errors_are_messages_not_tracebacks(tmp_path, content, message):
    src = tmp_path / "decisions.jsonl"
    if content is not None:
        src.write_text(content, encoding="utf-8")
    res = CliRunner().invoke(report_command, [str(src)])
    assert res.exit_code == 1
    assert isinstance(res.exception, SystemExit)
    assert message in res.output and "Traceback" not in res.output
    assert not (tmp_path / "decisions-report").exists()


def test_command_help_does_not_need_matplotlib():
    res = CliRunner().invoke(report_command, ["--help"])
    assert res.exit_code == 0 and "--period [week|month]" in res.output


# ---------------------------------------------------------------- streaming

def generated_lines(n: int) -> Iterator[str]:
    """n lines spread over eight weeks, built from a few templates so generating them stays cheap."""
    templates = [line("__TS__", category=c, level=lvl, signals=(s,)).replace('"__TS__"', '"{ts}"')
                 for c, lvl, s in [("delivery", 0, "repeat"), ("billing", 1, "refund_request"),
                                   ("safety", 3, "injury"), ("product_quality", 2, "media_threat")]]
    for i in range(n):
        day = date.fromordinal(date(2025, 1, 6).toordinal() + i % 56)
        yield templates[i % len(templates)].replace("{ts}", f"{day.isoformat()}T{i % 24:02d}:00:00Z")


def test_state_does_not_grow_with_rows():
    builder = ReportBuilder("week")
    rows = generated_lines(50_000)
    for n, text in enumerate(islice(rows, 1_000), 1):
        builder.add_line(n, text)
    size_early = builder.state_size()
    for n, text in enumerate(rows, 1_001):
        builder.add_line(n, text)
    r = builder.result()
    assert (r.rows, len(r.periods)) == (50_000, 8)
    assert builder.state_size() == size_early


def test_memory_peak_is_flat_in_the_number_of_rows():
    tracemalloc.start()
    try:
        r = aggregate(generated_lines(50_000), "week")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.rows == 50_000
    # each line is ~1.5 kB: keeping the rows (or even the lines) would take tens of megabytes
    assert peak < 2_000_000, f"peak {peak / 1e6:.1f} MB"


# ---------------------------------------------------------------- deadlines, SLA, crisis and major cases, change
def with_case(received_at: str, ack_h: float, resolve_h: float, report_h: float | None = None, status=None,
              acked_h: float | None = None, resolved_h: float | None = None, dept="logistics", **kw) -> str:
    """A decision line with deadlines ``*_h`` hours after receipt and, when ``status`` is given, the case's
    status and step times (hours after receipt)."""
    from datetime import timedelta

    t0 = datetime.fromisoformat(received_at)

    def at(h):
        return (t0 + timedelta(hours=h)).isoformat() if h is not None else None

    d = decision(received_at, department=dept, **kw)
    d["deadlines"] = {"acknowledge_by": at(ack_h), "report_by": at(report_h), "resolve_by": at(resolve_h),
                      "follow_up_by": at(resolve_h + 168), "regulatory_by": None, "regime": None,
                      "calendar_unconfirmed": False, "calendar_warnings": []}
    if status is not None:
        d.update(status=status, acknowledged_at=at(acked_h), resolved_at=at(resolved_h), reported_at=None)
    return json.dumps(d)


AS_OF = datetime.fromisoformat("2025-03-20T00:00:00+00:00")


def test_deadlines_distribution_without_case_times_says_compliance_is_unknowable():
    r = aggregate([with_case("2025-03-03T09:00:00+00:00", 0.5, 20, report_h=1, level=3),
                   with_case("2025-03-04T09:00:00+00:00", 6, 100),
                   line("2025-03-05T09:00:00Z")], "week", as_of=AS_OF)  # no deadlines (an older file)
    assert r.sla.with_deadlines == 2 and r.sla.with_case == 0
    assert r.sla.lead["acknowledge"] == [1, 0, 1, 0, 0, 0, 0, 0, 0, 0][:len(r.sla.lead["acknowledge"])]
    assert r.sla.lead["resolve"][3] == 1 and r.sla.lead["resolve"][5] == 1  # ≤ 1 d and ≤ 5 d
    assert sum(r.sla.lead["report"]) == 1 and sum(r.sla.lead["regulatory"]) == 0
    md = render_markdown(r)
    assert "cannot be known from decisions alone" in md and "0 of 3 here" in md
    assert "no compliance is reported here" in md
    assert "| acknowledge | 2 | 1 | 0 | 1 |" in md


def test_compliance_from_lines_that_carry_the_case():
    lines = [
        # acknowledged on time, resolved late
        with_case("2025-03-03T09:00:00+00:00", 4, 48, status="resolved", acked_h=1, resolved_h=60),
        # acknowledged late, resolution open and overdue as of AS_OF
        with_case("2025-03-04T09:00:00+00:00", 4, 48, status="in_progress", acked_h=5),
        # nothing done, nothing due yet
        with_case("2025-03-19T20:00:00+00:00", 24, 96, status="new", dept="billing"),
        # waiting for the customer: open past the deadline but its clocks stand still
        with_case("2025-03-05T09:00:00+00:00", 4, 48, status="waiting_customer", acked_h=2, dept="billing"),
    ]
    r = aggregate(lines, "week", as_of=AS_OF)
    assert r.sla.with_case == 4
    logistics = r.sla.outcomes["logistics"]
    assert logistics["acknowledge"] == {"on_time": 1, "late": 1}
    assert logistics["resolve"] == {"late": 1, "overdue": 1}
    billing = r.sla.outcomes["billing"]
    assert billing["acknowledge"] == {"open": 1, "on_time": 1} and billing["resolve"] == {"open": 2}
    md = render_markdown(r)
    assert "| logistics | 1/2 (50.0 %) | – | 0/2 (0.0 %) | 1 |" in md
    assert "| billing | 1/1 (100.0 %) | – | – | 0 |" in md
    assert "as of 2025-03-20 00:00 UTC" in md


def test_crisis_and_major_cases_are_listed_with_ids(sample_week):
    md = render_markdown(sample_week)
    section = md.split("## Crisis and major cases")[1].split("\n## ")[0]
    assert "**Crisis (level 3): 1**" in section and "**Major (level 2): 2**" in section
    assert "| `c-2025-03-10T00:00:00Z` | 2025-03-10 00:00 | safety | critical | safety |" in section
    assert section.index("c-2025-03-09T23:59:59Z") > section.index("Major")
    assert "c-2025-03-12T08:00:00Z" in section and "c-2025-03-03" not in section


def test_listed_cases_are_capped_but_all_counted(monkeypatch):
    import complaint_triage.batch.report as report_module

    monkeypatch.setattr(report_module, "LISTED_CASES", 2)
    r = aggregate([line(f"2025-03-0{i}T08:00:00Z", level=3) for i in range(1, 6)], "week")
    assert len(r.listed[3]) == 2 and r.at_level(3) == 5
    assert "…and 3 more" in render_markdown(r)


@pytest.mark.parametrize("previous, current, shown", [
    (10, 12, "+20 %"), (8, 4, "-50 %"), (5, 5, "+0 %"), (0, 3, "new"), (0, 0, "–"), (3, 0, "-100 %"),
])
def test_pct_change(previous, current, shown):
    from complaint_triage.batch.report import pct_change

    assert pct_change(previous, current) == shown


def test_change_per_category_vs_the_previous_period(sample_week):
    md = render_markdown(sample_week)
    section = md.split("## Change per category vs the previous week")[1].split("\n## ")[0]
    # weeks of 03-03 (delivery 2, billing 1), 03-10 (delivery 2, safety 1), 03-17 (quality 1), 03-24 (none), 03-31;
    # columns in the contract's order: product_quality, delivery, billing, safety
    assert "| 2025-03-10 | 3 (+0 %) | 0 (–) | 2 (+0 %) | 0 (-100 %) | 1 (new) |" in section
    assert "| 2025-03-17 | 1 (-67 %) |" in section
    assert section.count("\n| 20") == len(sample_week.periods) - 1
    one = aggregate([line("2025-03-03T08:00:00Z")], "week")
    assert "nothing to compare" in render_markdown(one)
