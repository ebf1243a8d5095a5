"""Deadlines as timestamps on business calendars (policy.md; issue 13, item 3).

Holidays and China's make-up working days (调休) come from the ``holidays`` library; CN working days are
cross-checked against ``chinese-calendar``. Times are written with the offset they must come back with.
"""

from __future__ import annotations

import logging
import shutil
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from complaint_triage.contract import Complaint, Decision
from complaint_triage.rules.calendar import (
    BusinessCalendar,
    CalendarConfig,
    DeadlineClock,
    DeadlinePolicy,
)
from complaint_triage.rules.policy import PolicyError, load_policy

CALENDARS = {
    "CN": BusinessCalendar(CalendarConfig(timezone="Asia/Shanghai", country="CN")),
    "GB": BusinessCalendar(CalendarConfig(timezone="Europe/London", country="GB", subdivision="ENG")),
    "US": BusinessCalendar(CalendarConfig(timezone="America/New_York", country="US")),
    "none": BusinessCalendar(CalendarConfig(timezone="Asia/Shanghai", country="none")),
}


def t(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def shipped_clock(**changes) -> DeadlineClock:
    policy = DeadlinePolicy.from_thresholds(load_policy().thresholds)
    return DeadlineClock(DeadlinePolicy(**{**policy.__dict__, **changes}))


# ---------------------------------------------------------------- working days
@pytest.mark.parametrize("country, day, working", [
    # weekends
    ("CN", "2025-03-08", False), ("CN", "2025-03-09", False), ("CN", "2025-03-10", True),
    ("none", "2025-03-08", False), ("none", "2025-10-01", True),  # no country: weekdays only
    # CN Spring Festival 2025 (01-28 … 02-04) with its make-up Sunday 01-26 and Saturday 02-08
    ("CN", "2025-01-26", True), ("CN", "2025-01-28", False), ("CN", "2025-01-29", False),
    ("CN", "2025-02-04", False), ("CN", "2025-02-05", True), ("CN", "2025-02-08", True),
    ("CN", "2025-02-09", False),  # an ordinary Sunday stays a day off
    # CN Labour Day 2025 (05-01 … 05-05), make-up Sunday 04-27
    ("CN", "2025-04-27", True), ("CN", "2025-05-05", False),
    # CN Golden Week 2025 (10-01 … 10-08), make-up Sunday 09-28 and Saturday 10-11
    ("CN", "2025-09-28", True), ("CN", "2025-10-01", False), ("CN", "2025-10-08", False),
    ("CN", "2025-10-11", True), ("CN", "2025-10-12", False),
    # UK (England) bank holidays
    ("GB", "2025-12-25", False), ("GB", "2025-12-26", False), ("GB", "2025-05-26", False),
    ("GB", "2025-04-21", False), ("GB", "2025-12-24", True),
    ("GB", "2025-01-26", False), ("GB", "2025-10-01", True),  # China's make-up day and holiday mean nothing here
    # US federal holidays
    ("US", "2025-07-04", False), ("US", "2025-11-27", False), ("US", "2025-11-28", True),  # Black Friday works
    ("US", "2025-02-08", False),
    # negatives: other countries' holidays are working days in China
    ("CN", "2025-07-04", True), ("CN", "2025-12-25", True),
])
def test_working_days(country, day, working):
    assert CALENDARS[country].is_working_day(date.fromisoformat(day)) is working


def test_cn_working_days_agree_with_chinese_calendar_2024_to_2026():
    chinese_calendar = pytest.importorskip("chinese_calendar")
    cal = CALENDARS["CN"]
    d, disagree = date(2024, 1, 1), []
    while d <= date(2026, 12, 31):
        if cal.is_working_day(d) != chinese_calendar.is_workday(d):
            disagree.append(d)
        d += timedelta(days=1)
    assert disagree == []


# ---------------------------------------------------------------- clock arithmetic
@pytest.mark.parametrize("country, start, op, amount, expected", [
    # inside one business day; before opening; exactly to closing time
    ("CN", "2025-03-10T10:00+08:00", "hours", 4, "2025-03-10T14:00+08:00"),
    ("CN", "2025-03-10T07:00+08:00", "hours", 1, "2025-03-10T10:00+08:00"),
    ("CN", "2025-03-10T09:00+08:00", "hours", 9, "2025-03-10T18:00+08:00"),
    ("CN", "2025-03-10T09:00+08:00", "hours", 9.5, "2025-03-11T09:30+08:00"),
    # received outside business hours: an evening, a weekend
    ("CN", "2025-03-10T20:00+08:00", "hours", 4, "2025-03-11T13:00+08:00"),
    ("CN", "2025-03-08T11:00+08:00", "hours", 4, "2025-03-10T13:00+08:00"),
    ("CN", "2025-03-07T16:00+08:00", "hours", 4, "2025-03-10T11:00+08:00"),
    ("CN", "2025-03-08T20:00+08:00", "hours", 24, "2025-03-12T15:00+08:00"),
    # a UTC receipt is answered in company time
    ("CN", "2025-03-10T01:00+00:00", "hours", 4, "2025-03-10T13:00+08:00"),
    # CN Spring Festival 2025: make-up Sunday 01-26 and Saturday 02-08 count
    ("CN", "2025-01-24T19:00+08:00", "hours", 4, "2025-01-26T13:00+08:00"),
    ("CN", "2025-01-27T17:00+08:00", "hours", 4, "2025-02-05T12:00+08:00"),
    ("CN", "2025-02-07T17:00+08:00", "hours", 4, "2025-02-08T12:00+08:00"),
    ("CN", "2025-01-20T10:00+08:00", "days", 15, "2025-02-14T18:00+08:00"),
    # CN Golden Week 2025: make-up Sunday 09-28 before, Saturday 10-11 after
    ("CN", "2025-09-26T20:00+08:00", "hours", 24, "2025-09-30T15:00+08:00"),
    ("CN", "2025-09-30T19:00+08:00", "hours", 4, "2025-10-09T13:00+08:00"),
    ("CN", "2025-09-30T19:00+08:00", "hours", 24, "2025-10-11T15:00+08:00"),
    ("CN", "2025-09-30T19:00+08:00", "days", 5, "2025-10-14T18:00+08:00"),
    ("CN", "2025-04-26T10:00+08:00", "hours", 4, "2025-04-27T13:00+08:00"),  # Saturday, then make-up Sunday
    # Friday evening before a CN public holiday: the first working day after it; a make-up Saturday counts
    ("CN", "2025-05-30T20:00+08:00", "hours", 4, "2025-06-03T13:00+08:00"),  # Dragon Boat 05-31 … 06-02
    ("CN", "2026-02-13T20:00+08:00", "hours", 4, "2026-02-14T13:00+08:00"),  # make-up Sat before Spring Festival
    ("CN", "2026-02-13T20:00+08:00", "hours", 24, "2026-02-25T15:00+08:00"),  # … then 02-15 … 02-23 off
    # business days: closing time of the Nth working day after the day of receipt, whatever the hour
    ("CN", "2025-03-10T08:00+08:00", "days", 1, "2025-03-11T18:00+08:00"),
    ("CN", "2025-03-07T23:00+08:00", "days", 3, "2025-03-12T18:00+08:00"),
    ("none", "2025-09-30T19:00+08:00", "days", 5, "2025-10-07T18:00+08:00"),  # negative: no holidays, no make-up
    # UK bank holidays (England)
    ("GB", "2025-12-24T17:00+00:00", "hours", 4, "2025-12-29T12:00+00:00"),
    ("GB", "2025-05-23T17:00+01:00", "hours", 2, "2025-05-27T10:00+01:00"),
    ("GB", "2025-04-17T17:00+01:00", "hours", 2, "2025-04-22T10:00+01:00"),  # Good Friday, Easter Monday
    # US federal holidays
    ("US", "2025-07-03T17:00-04:00", "hours", 2, "2025-07-07T10:00-04:00"),
    ("US", "2025-11-26T17:00-05:00", "hours", 2, "2025-11-28T10:00-05:00"),
    # DST, Europe/London (2025-03-30 forward, 2025-10-26 back): business and clock hours
    ("GB", "2025-03-28T17:00+00:00", "hours", 2, "2025-03-31T10:00+01:00"),
    ("GB", "2025-10-24T17:00+01:00", "hours", 2, "2025-10-27T10:00+00:00"),
    ("GB", "2025-03-30T00:30+00:00", "clock", 1, "2025-03-30T02:30+01:00"),
    ("GB", "2025-10-26T00:30+00:00", "clock", 1, "2025-10-26T01:30+00:00"),  # 01:30 BST → 01:30 GMT
    ("GB", "2025-03-29T12:00+00:00", "calendar_days", 1, "2025-03-30T12:00+01:00"),  # a 23-hour day
    ("GB", "2025-10-25T12:00+01:00", "calendar_days", 1, "2025-10-26T12:00+00:00"),  # a 25-hour day
    # DST, America/New_York (2025-03-09 forward, 2025-11-02 back)
    ("US", "2025-03-07T17:00-05:00", "hours", 2, "2025-03-10T10:00-04:00"),
    ("US", "2025-10-31T17:00-04:00", "hours", 2, "2025-11-03T10:00-05:00"),
    ("US", "2025-03-09T01:30-05:00", "clock", 1, "2025-03-09T03:30-04:00"),
    ("US", "2025-11-02T01:30-04:00", "clock", 1, "2025-11-02T01:30-05:00"),
    ("US", "2025-03-08T02:30-05:00", "calendar_days", 1, "2025-03-09T03:30-04:00"),  # 02:30 does not exist
])
def test_clock_arithmetic(country, start, op, amount, expected):
    cal = CALENDARS[country]
    fn = {"hours": cal.add_business_hours, "days": cal.add_business_days, "clock": cal.add_clock_hours,
          "calendar_days": cal.add_calendar_days}[op]
    got = fn(t(start), amount)
    assert got.isoformat(timespec="minutes") == expected
    assert got.astimezone(timezone.utc) == t(expected)  # the instant (fold=1 times never compare equal across zones)


def test_one_clock_hour_is_one_real_hour_across_dst():
    for country, start in (("GB", "2025-03-30T00:30+00:00"), ("GB", "2025-10-26T00:30+00:00"),
                           ("US", "2025-03-09T06:30+00:00"), ("US", "2025-11-02T05:30+00:00")):
        assert CALENDARS[country].add_clock_hours(t(start), 1) - t(start) == timedelta(hours=1)


def test_negative_amounts_are_refused():
    with pytest.raises(ValueError):
        CALENDARS["CN"].add_business_hours(t("2025-03-10T10:00+08:00"), -1)
    with pytest.raises(ValueError):
        CALENDARS["CN"].add_business_days(t("2025-03-10T10:00+08:00"), -1)


# ---------------------------------------------------------------- deadlines of a decision
def test_level_0_received_on_a_saturday_evening():
    d = shipped_clock().deadlines(t("2025-03-08T20:00+08:00"), level=0, respond_within_hours=24,
                                  report_within_hours=None)
    assert d.acknowledge_by == t("2025-03-12T15:00+08:00")
    assert d.report_by is None and d.regulatory_by is None and d.regime is None
    assert d.resolve_by == t("2025-03-14T18:00+08:00")  # five working days: Mon … Fri
    assert d.follow_up_by == t("2025-03-21T18:00+08:00")
    assert not d.calendar_unconfirmed and d.calendar_warnings == []


def test_level_2_counts_business_hours_and_three_days_across_golden_week():
    d = shipped_clock().deadlines(t("2025-09-30T19:00+08:00"), 2, 4, 24)
    assert d.acknowledge_by == t("2025-10-09T13:00+08:00")
    assert d.report_by == t("2025-10-11T15:00+08:00")  # the make-up Saturday counts
    assert d.resolve_by == t("2025-10-11T18:00+08:00")
    assert d.follow_up_by == t("2025-10-18T18:00+08:00")


@pytest.mark.parametrize("received", [
    "2025-10-01T03:17:00+08:00",  # a holiday night
    "2025-03-08T23:30:00+08:00",  # a Saturday night
    "2025-03-10T10:00:00+08:00",
])
def test_level_3_clocks_run_around_the_clock(received):
    d = shipped_clock().deadlines(t(received), 3, 1, 1)
    assert d.acknowledge_by - t(received) == timedelta(hours=1)
    assert d.report_by - t(received) == timedelta(hours=1)
    assert d.resolve_by - t(received) == timedelta(days=1)
    assert d.follow_up_by - d.resolve_by == timedelta(days=7)
    assert d.acknowledge_by.utcoffset() == timedelta(hours=8)


@pytest.mark.parametrize("regime, expected", [
    ("cn_banking", "2025-02-08T23:59:59+08:00"),  # 15 days (extendable to 30 with notice)
    ("cn_telecom", "2025-02-08T23:59:59+08:00"),  # 15 days
    ("us_cfpb", "2025-02-08T23:59:59+08:00"),  # the earlier of 15 and 60 days
    ("uk_fca", "2025-03-21T23:59:59+08:00"),  # eight weeks
    (None, None),  # the shipped policy applies no regime by default
])
def test_regulatory_deadlines(regime, expected):
    d = shipped_clock().deadlines(t("2025-01-24T20:00+08:00"), 1, 24, None, regime)
    assert d.regulatory_by == (t(expected) if expected else None)
    assert d.regime == regime


def test_the_policys_default_regime_applies_when_the_complaint_names_none():
    clock = shipped_clock(default_regime="us_cfpb")
    assert clock.deadlines(t("2025-01-24T20:00+08:00"), 1, 24, None).regime == "us_cfpb"
    assert clock.deadlines(t("2025-01-24T20:00+08:00"), 1, 24, None, "uk_fca").regime == "uk_fca"


def test_the_complaint_regime_is_a_vocabulary():
    assert Complaint(text="x", regime="cn_banking").regime == "cn_banking"
    with pytest.raises(ValidationError):
        Complaint(text="x", regime="eu_psd2")


# ---------------------------------------------------------------- unpublished make-up days
def test_a_year_without_published_make_up_days_is_unconfirmed():
    cal = CALENDARS["CN"]
    for year in (2024, 2025, 2026):
        assert cal.year(year).unconfirmed is None
    assert "2027" in cal.year(2027).unconfirmed
    assert cal.year(2027).makeup_workdays == frozenset()
    assert CALENDARS["GB"].year(2027).unconfirmed is None  # no make-up days to publish
    assert CALENDARS["none"].year(2027).unconfirmed is None


def test_deadlines_crossing_an_unconfirmed_year_are_flagged_and_logged(caplog):
    clock = shipped_clock()
    with caplog.at_level(logging.WARNING, logger="complaint_triage.rules.calendar"):
        d = clock.deadlines(t("2026-12-30T10:00+08:00"), 0, 24, None)  # resolve_by falls in January 2027
    assert d.calendar_unconfirmed and "2027" in d.calendar_warnings[0]
    assert any("2027" in r.getMessage() for r in caplog.records)
    assert clock.deadlines(t("2027-09-28T10:00+08:00"), 1, 24, None).calendar_unconfirmed
    # negatives: inside a published year; a crisis (no business clock at all)
    assert not clock.deadlines(t("2026-06-01T10:00+08:00"), 1, 24, None).calendar_unconfirmed
    assert not clock.deadlines(t("2027-02-01T10:00+08:00"), 3, 1, 1).calendar_unconfirmed


# ---------------------------------------------------------------- paused clocks (waiting_customer)
DEADLINE = "2025-03-12T15:00+08:00"


@pytest.mark.parametrize("pauses, expected", [
    ([], DEADLINE),
    ([("2025-03-10T10:00+08:00", "2025-03-10T12:00+08:00")], "2025-03-12T17:00+08:00"),
    # nights and weekends paused cost no business time
    ([("2025-03-07T18:30+08:00", "2025-03-10T08:30+08:00")], DEADLINE),
    # overlapping pauses count once
    ([("2025-03-10T10:00+08:00", "2025-03-10T12:00+08:00"), ("2025-03-10T11:00+08:00", "2025-03-10T13:00+08:00")],
     "2025-03-12T18:00+08:00"),
    # pushed past closing time into the next working day
    ([("2025-03-11T09:00+08:00", "2025-03-11T13:00+08:00")], "2025-03-13T10:00+08:00"),
    # a pause that starts after the deadline passed does not revive it
    ([("2025-03-12T16:00+08:00", "2025-03-13T12:00+08:00")], DEADLINE),
    # an open pause runs until now
    ([("2025-03-12T14:00+08:00", None)], "2025-03-13T10:00+08:00"),
])
def test_paused_clock_moves_a_business_deadline(pauses, expected):
    got = CALENDARS["CN"].extend_for_pauses(
        t(DEADLINE), [(t(s), t(e) if e else None) for s, e in pauses], now=t("2025-03-12T18:00+08:00"))
    assert got == t(expected)


def test_paused_clock_across_a_holiday_and_around_the_clock():
    cal = CALENDARS["CN"]
    golden_week = [(t("2025-10-01T00:00+08:00"), t("2025-10-09T00:00+08:00"))]
    assert cal.extend_for_pauses(t("2025-10-09T13:00+08:00"), golden_week) == t("2025-10-09T13:00+08:00")
    assert cal.business_time_between(t("2025-09-30T17:00+08:00"), t("2025-10-09T10:00+08:00")) == timedelta(hours=2)
    assert (cal.extend_for_pauses(t("2025-10-09T13:00+08:00"), golden_week, around_the_clock=True)
            == t("2025-10-17T13:00+08:00"))


# ---------------------------------------------------------------- the policy config
def copy_policy(tmp_path: Path) -> Path:
    src = Path(load_policy().directory)
    dst = tmp_path / "policy"
    shutil.copytree(src / "rulesets", dst / "rulesets")
    shutil.copy(src / "policy.toml", dst)
    shutil.copy(src / "plan_text.toml", dst)
    return dst


def edit(d: Path, old: str, new: str) -> None:
    text = (d / "policy.toml").read_text(encoding="utf-8")
    assert old in text
    (d / "policy.toml").write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize("old, new, key", [
    ('timezone = "Asia/Shanghai"', 'timezone = "Mars/Olympus_Mons"', "calendar.timezone"),
    ('country = "CN"', 'country = "FR"', "calendar.country"),
    ('# subdivision = "ENG"', 'subdivision = "XX"', "calendar.subdivision"),
    ('business_hours = ["09:00", "18:00"]', 'business_hours = ["18:00", "09:00"]', "calendar.business_hours"),
    ('business_hours = ["09:00", "18:00"]', 'business_hours = ["nine", "18:00"]', "calendar.business_hours"),
    ('working_weekdays = ["mon", "tue", "wed", "thu", "fri"]', "working_weekdays = []", "calendar.working_weekdays"),
    ('working_weekdays = ["mon", "tue", "wed", "thu", "fri"]', 'working_weekdays = ["monday"]',
     "calendar.working_weekdays"),
    ("resolve_business_days = [5, 5, 3]", "resolve_business_days = [5, 5]", "calendar.resolve_business_days"),
    ("follow_up_days = 7", "follow_up_days = 7.5", "calendar.follow_up_days"),
    ('default = "none"', 'default = "eu_psd2"', "regimes.default"),
    ("deadline_days = { decision = 15 }", "deadline_days = { decision = 0 }",
     "regimes.cn_banking.deadline_days.decision"),
    ("deadline_days = { answer = 15 }", 'deadline_days = { answer = "15" }',
     "regimes.cn_telecom.deadline_days.answer"),
    ("[regimes.uk_fca]", "[regimes.uk_fsa]", "regimes.uk_fca"),
])
def test_a_bad_calendar_config_is_a_policy_error_naming_the_key(tmp_path, old, new, key):
    d = copy_policy(tmp_path)
    edit(d, old, new)
    with pytest.raises(PolicyError, match=key.replace(".", r"\.")):
        load_policy(d)


def test_a_policy_in_london_gives_london_offsets(tmp_path):
    d = copy_policy(tmp_path)
    edit(d, 'timezone = "Asia/Shanghai"', 'timezone = "Europe/London"')
    edit(d, 'country = "CN"', 'country = "GB"')
    edit(d, '# subdivision = "ENG"', 'subdivision = "ENG"')
    edit(d, 'default = "none"', 'default = "uk_fca"')
    clock = DeadlineClock.from_thresholds(load_policy(d).thresholds)
    got = clock.deadlines(t("2025-12-31T16:00+00:00"), 1, 24, None)
    assert got.acknowledge_by.isoformat() == "2026-01-06T13:00:00+00:00"  # 01-01 and the weekend off
    assert got.regulatory_by.isoformat() == "2026-02-25T23:59:59+00:00"  # eight weeks
    assert clock.deadlines(t("2026-06-01T09:00+01:00"), 1, 24, None).acknowledge_by.isoformat() == (
        "2026-06-03T15:00:00+01:00")  # summer time


# ---------------------------------------------------------------- through the pipeline
@pytest.fixture(scope="module")
def decider(shipped_triage):
    from complaint_triage.pipeline import Decider

    return Decider(triage=shipped_triage)


def test_a_friday_evening_complaint_before_a_cn_holiday(decider):
    """Done when: acknowledge_by falls on the first working day after it; a make-up Saturday counts."""
    text = "The courier lost my parcel and nobody answers the phone."
    major = decider.decide(Complaint(text=text, severity="high", received_at=t("2025-05-30T20:00+08:00")))
    assert major.escalation.level == 2
    assert major.deadlines.acknowledge_by == t("2025-06-03T13:00+08:00")
    makeup = decider.decide(Complaint(text=text, severity="high", received_at=t("2026-02-13T20:00+08:00"),
                                      regime="cn_banking"))
    assert makeup.deadlines.acknowledge_by == t("2026-02-14T13:00+08:00")
    assert makeup.deadlines.report_by is not None and makeup.deadlines.regulatory_by is not None
    line = makeup.model_dump(mode="json")["deadlines"]
    assert line["acknowledge_by"] == "2026-02-14T13:00:00+08:00"
    assert Decision.model_validate(makeup.model_dump(mode="json")).deadlines == makeup.deadlines


def test_a_crisis_is_acknowledged_one_clock_hour_after_receipt(decider):
    received = t("2025-10-01T02:10:00+08:00")  # a holiday night
    d = decider.decide(Complaint(text="The heater caught fire and burned my hand.", severity="critical",
                                 received_at=received))
    assert d.escalation.level == 3
    assert d.deadlines.acknowledge_by - received == timedelta(hours=1)
    assert d.deadlines.acknowledge_by.isoformat() == "2025-10-01T03:10:00+08:00"
