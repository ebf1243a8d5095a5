"""Business calendars and deadlines as timestamps (policy.md, "Deadlines as timestamps").

A ``BusinessCalendar`` knows where the company works: its time zone, business hours, working weekdays, the
public holidays of its country and — for China — the official make-up working days (调休), all from the
maintained ``holidays`` library, never from a date list kept here. China publishes each year's make-up days
late in the year before; a year the library has none for (2027 as of this writing) is *unconfirmed*: deadlines
that cross it are still computed, on the library's base holidays, but carry ``calendar_unconfirmed`` and a
warning, and the warning is logged once per year.

Arithmetic is done on absolute time (UTC) and shown in the company's zone, so a clock hour across a DST change
is one real hour; calendar days keep the local wall time (a day is 23 or 25 hours across a change).

``DeadlinePolicy.from_thresholds`` reads ``[calendar]`` and ``[regimes]`` of policy.toml; the policy loader calls
it at start-up, so a bad value is a ``PolicyError`` naming the key.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from complaint_triage.contract import REGIMES, Deadlines, Escalation

log = logging.getLogger(__name__)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
COUNTRIES = ("CN", "GB", "US", "none")
CRISIS_LEVEL = 3
# China's holidays the State Council's yearly notice arranges make-up days around: a year that has them in
# the library but no make-up day at all is a year whose notice the library does not know yet.
_CN_LONG_BREAKS = ("Spring Festival", "National Day")
_MAX_DAYS_SEARCHED = 3700  # ten years: no working day in that long means a broken calendar, not a deadline


class CalendarConfigError(ValueError):
    """A bad ``[calendar]`` or ``[regimes]`` value; ``key`` is its dotted name in policy.toml."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"{key}: {message}")


# ---------------------------------------------------------------- configuration
@dataclass(frozen=True)
class CalendarConfig:
    timezone: str = "Asia/Shanghai"
    country: str = "CN"
    subdivision: str | None = None
    opens: time = time(9)
    closes: time = time(18)
    working_weekdays: frozenset[int] = frozenset(range(5))

    @classmethod
    def from_table(cls, t: dict, prefix: str = "calendar") -> CalendarConfig:
        if not isinstance(t, dict):
            raise CalendarConfigError(prefix, "must be a table")
        tz = t.get("timezone", cls.timezone)
        if not isinstance(tz, str):
            raise CalendarConfigError(f"{prefix}.timezone", f"must be an IANA zone name, got {tz!r}")
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise CalendarConfigError(f"{prefix}.timezone", f"unknown time zone {tz!r}") from e
        country = t.get("country", cls.country)
        if country not in COUNTRIES:
            raise CalendarConfigError(f"{prefix}.country", f"must be one of {', '.join(COUNTRIES)}, got {country!r}")
        sub = t.get("subdivision")
        if sub is not None:
            known = () if country == "none" else holidays.country_holidays(country).subdivisions
            if sub not in known:
                raise CalendarConfigError(f"{prefix}.subdivision",
                                          f"{sub!r} is not a subdivision of {country} (known: {', '.join(known)})")
        hours = t.get("business_hours", ["09:00", "18:00"])
        if not (isinstance(hours, list) and len(hours) == 2):
            raise CalendarConfigError(f"{prefix}.business_hours", f'must be ["HH:MM", "HH:MM"], got {hours!r}')
        try:
            opens, closes = (time.fromisoformat(h) for h in hours)
        except (TypeError, ValueError) as e:
            raise CalendarConfigError(f"{prefix}.business_hours", f'must be ["HH:MM", "HH:MM"], got {hours!r}') from e
        if not opens < closes:
            raise CalendarConfigError(f"{prefix}.business_hours", f"opening {hours[0]} must be before closing {hours[1]}")
        days = t.get("working_weekdays", list(WEEKDAYS[:5]))
        if (not isinstance(days, list) or not days or len(set(days)) != len(days)
                or any(d not in WEEKDAYS for d in days)):
            raise CalendarConfigError(f"{prefix}.working_weekdays",
                                      f"must be a non-empty list of distinct {', '.join(WEEKDAYS)}; got {days!r}")
        return cls(tz, country, sub, opens, closes, frozenset(WEEKDAYS.index(d) for d in days))


@dataclass(frozen=True)
class Regime:
    name: str
    deadline_days: dict[str, int]  # name → calendar days after the day of receipt


@dataclass(frozen=True)
class DeadlinePolicy:
    calendar: CalendarConfig = field(default_factory=CalendarConfig)
    resolve_business_days: tuple[int, int, int] = (5, 5, 3)  # levels 0, 1, 2
    crisis_resolve_days: int = 1
    follow_up_days: int = 7
    default_regime: str | None = None
    regimes: dict[str, Regime] = field(default_factory=dict)

    @classmethod
    def from_thresholds(cls, th: dict) -> DeadlinePolicy:
        """Reads ``[calendar]`` and ``[regimes]`` from a parsed policy.toml (defaults of policy.md where a
        calendar key is absent; every regime of the contract must be configured)."""
        cal = th.get("calendar", {})
        config = CalendarConfig.from_table(cal)
        resolve = cal.get("resolve_business_days", [5, 5, 3])
        if not (isinstance(resolve, list) and len(resolve) == 3 and all(_positive_int(x) for x in resolve)):
            raise CalendarConfigError("calendar.resolve_business_days",
                                      f"must be three whole numbers ≥ 1 (levels 0, 1, 2), got {resolve!r}")
        crisis = cal.get("crisis_resolve_days", 1)
        follow = cal.get("follow_up_days", 7)
        for key, v in (("crisis_resolve_days", crisis), ("follow_up_days", follow)):
            if not _positive_int(v):
                raise CalendarConfigError(f"calendar.{key}", f"must be a whole number ≥ 1, got {v!r}")

        reg = th.get("regimes")
        if not isinstance(reg, dict):
            raise CalendarConfigError("regimes", "is missing (a default and one table per regime)")
        default = reg.get("default", "none")
        if default != "none" and default not in REGIMES:
            raise CalendarConfigError("regimes.default", f"must be none or one of {', '.join(REGIMES)}, got {default!r}")
        regimes = {}
        for name in REGIMES:
            spec = reg.get(name)
            if not isinstance(spec, dict):
                raise CalendarConfigError(f"regimes.{name}", "is missing")
            days = spec.get("deadline_days")
            if not isinstance(days, dict) or not days:
                raise CalendarConfigError(f"regimes.{name}.deadline_days", "must be a table of name = days")
            for k, v in days.items():
                if not _positive_int(v):
                    raise CalendarConfigError(f"regimes.{name}.deadline_days.{k}", f"must be a whole number ≥ 1, got {v!r}")
            for k, v in spec.items():
                if k != "deadline_days" and not _positive_int(v):
                    raise CalendarConfigError(f"regimes.{name}.{k}", f"must be a whole number ≥ 1, got {v!r}")
            regimes[name] = Regime(name, dict(days))
        unknown = set(reg) - set(REGIMES) - {"default"}
        if unknown:
            raise CalendarConfigError(f"regimes.{sorted(unknown)[0]}",
                                      f"unknown regime (known: {', '.join(REGIMES)})")
        return cls(config, tuple(resolve), crisis, follow, None if default == "none" else default, regimes)


def _positive_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 1


# ---------------------------------------------------------------- the calendar
@dataclass(frozen=True)
class YearCalendar:
    holidays: frozenset[date]
    makeup_workdays: frozenset[date]  # weekend days worked in exchange for a holiday bridge (CN 调休)
    unconfirmed: str | None  # why this year's calendar cannot be trusted, or None


class BusinessCalendar:
    """Business time in one place: working days, business hours, holidays and make-up days. Thread-safe."""

    def __init__(self, config: CalendarConfig | None = None):
        self.config = config or CalendarConfig()
        self.tz = ZoneInfo(self.config.timezone)
        self._years: dict[int, YearCalendar] = {}
        self._warned: set[int] = set()
        self._lock = threading.Lock()

    # ------------------------------------------------ days
    def year(self, year: int) -> YearCalendar:
        cached = self._years.get(year)
        if cached is not None:
            return cached
        with self._lock:
            if year not in self._years:
                self._years[year] = self._load_year(year)
            return self._years[year]

    def _load_year(self, year: int) -> YearCalendar:
        c = self.config.country
        if c == "none":
            return YearCalendar(frozenset(), frozenset(), None)
        # Neighbouring years too: a make-up day can fall in the year before its holiday (2011-12-31 for 2012).
        h = holidays.country_holidays(c, subdiv=self.config.subdivision, years=[year - 1, year, year + 1],
                                      language="en_US")
        days = frozenset(d for d in h if d.year == year)
        makeup = frozenset(d for d in getattr(h, "weekend_workdays", ()) if d.year == year)
        unconfirmed = None
        if not days:
            unconfirmed = f"no public holidays of {c} are known for {year}"
        elif c == "CN" and not makeup and any(any(b in h[d] for b in _CN_LONG_BREAKS) for d in days):
            unconfirmed = (f"China's make-up working days (调休) for {year} are not published in the holidays "
                           f"library: weekends around Spring Festival and National Day are taken as days off")
        return YearCalendar(days, makeup, unconfirmed)

    def is_working_day(self, d: date) -> bool:
        y = self.year(d.year)
        if d in y.holidays:
            return False
        if d in y.makeup_workdays:
            return True
        return d.weekday() in self.config.working_weekdays

    def unconfirmed_years(self, first: date, last: date) -> dict[int, str]:
        """Years between the two dates whose calendar is not confirmed, with the reason; logged once per year."""
        out = {}
        for year in range(first.year, last.year + 1):
            why = self.year(year).unconfirmed
            if why:
                out[year] = why
                if year not in self._warned:
                    self._warned.add(year)
                    log.warning("calendar unconfirmed: %s; deadlines in %d may be off by the make-up days", why, year)
        return out

    # ------------------------------------------------ instants
    def local(self, t: datetime) -> datetime:
        """``t`` in the company's zone (a naive time is taken as UTC, as the contract's received_at is)."""
        if t.tzinfo is None:
            t = t.replace(tzinfo=timezone.utc)
        return t.astimezone(self.tz)

    def _at(self, d: date, wall: time) -> datetime:
        """The instant of a local wall time (one that a spring-forward skips lands just after the gap)."""
        return datetime.combine(d, wall, tzinfo=self.tz).astimezone(timezone.utc).astimezone(self.tz)

    def _hours_of(self, d: date) -> tuple[datetime, datetime]:
        return self._at(d, self.config.opens), self._at(d, self.config.closes)

    def add_clock_hours(self, start: datetime, hours: float) -> datetime:
        """Around the clock: ``hours`` real hours later, DST or not."""
        return (self.local(start).astimezone(timezone.utc) + timedelta(hours=hours)).astimezone(self.tz)

    def add_calendar_days(self, start: datetime, days: int) -> datetime:
        """The same local wall time ``days`` calendar days later."""
        s = self.local(start)
        return self._at(s.date() + timedelta(days=days), s.time())

    def end_of_day_after(self, start: datetime, days: int) -> datetime:
        """23:59:59 local time on the ``days``-th calendar day after the day of ``start`` (regulators' days)."""
        return self._at(self.local(start).date() + timedelta(days=days), time(23, 59, 59))

    def add_business_hours(self, start: datetime, hours: float) -> datetime:
        """``hours`` of business time after ``start``: only inside business hours on working days (holidays
        skipped, make-up days counted). A deadline that uses up a day exactly falls at its closing time."""
        if hours < 0:
            raise ValueError("hours must be ≥ 0")
        left = timedelta(hours=hours)
        cur = self.local(start)
        d = cur.date()
        for _ in range(_MAX_DAYS_SEARCHED):
            if self.is_working_day(d):
                opens, closes = self._hours_of(d)
                begin = max(opens, cur)
                if begin < closes:
                    available = _between(begin, closes)
                    if left <= available:
                        return (begin.astimezone(timezone.utc) + left).astimezone(self.tz)
                    left -= available
            d += timedelta(days=1)
        raise ValueError(f"no working day within {_MAX_DAYS_SEARCHED} days of {start.isoformat()}")

    def add_business_days(self, start: datetime, days: int) -> datetime:
        """Closing time of the ``days``-th working day after the day of ``start`` (the day of receipt does not
        count, whatever the hour; with 0, the closing time of the first working day still open)."""
        if days < 0:
            raise ValueError("days must be ≥ 0")
        s = self.local(start)
        d = s.date()
        if days > 0 or not (self.is_working_day(d) and s < self._hours_of(d)[1]):
            d = self.next_working_day(d, max(days, 1))
        return self._hours_of(d)[1]

    def next_working_day(self, d: date, n: int = 1) -> date:
        """The ``n``-th working day after ``d``."""
        found = 0
        for _ in range(_MAX_DAYS_SEARCHED):
            d += timedelta(days=1)
            if self.is_working_day(d):
                found += 1
                if found >= n:
                    return d
        raise ValueError(f"no working day within {_MAX_DAYS_SEARCHED} days of {d.isoformat()}")

    def business_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Business time elapsed from ``a`` to ``b`` (zero when ``b`` is not after ``a``)."""
        a, b = self.local(a), self.local(b)
        total = timedelta(0)
        d = a.date()
        while d <= b.date():
            if self.is_working_day(d):
                opens, closes = self._hours_of(d)
                lo, hi = max(opens, a), min(closes, b)
                if lo < hi:
                    total += _between(lo, hi)
            d += timedelta(days=1)
        return total

    def extend_for_pauses(self, deadline: datetime, pauses: Iterable[tuple[datetime, datetime | None]],
                          now: datetime | None = None, around_the_clock: bool = False) -> datetime:
        """The deadline moved by the time its clock stood still (a case ``waiting_customer``).

        ``pauses`` are (start, end) intervals; an open pause (end None) lasts until ``now``. Overlaps count once.
        A pause counts only if it began before the (already moved) deadline: a case that was overdue stays
        overdue. Business deadlines move by the business time paused; around-the-clock ones by the clock time.
        """
        now = now or datetime.now(timezone.utc)
        spans = sorted((self.local(s), self.local(e if e is not None else now)) for s, e in pauses)
        merged: list[list[datetime]] = []
        for s, e in spans:
            if e <= s:
                continue
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        d = self.local(deadline)
        for s, e in merged:
            if s >= d:
                break
            if around_the_clock:
                d = self.add_clock_hours(d, _between(s, e) / timedelta(hours=1))
            else:
                d = self.add_business_hours(d, self.business_time_between(s, e) / timedelta(hours=1))
        return d


def _fixed(t: datetime | None) -> datetime | None:
    """The same instant with a fixed UTC offset: what the contract shows, and it compares as an instant even
    in the repeated hour of a DST change (zone-aware times with fold=1 never compare equal across zones)."""
    return None if t is None else t.astimezone(timezone(t.utcoffset()))


def _between(a: datetime, b: datetime) -> timedelta:
    """Real time from a to b (aware datetimes in one zone subtract as wall times; UTC does not)."""
    return b.astimezone(timezone.utc) - a.astimezone(timezone.utc)


# ---------------------------------------------------------------- deadlines
class DeadlineClock:
    """Turns a decision's escalation level and received_at into ``Deadlines`` (policy.md). Build once per policy."""

    def __init__(self, policy: DeadlinePolicy | None = None):
        self.policy = policy or DeadlinePolicy()
        self.calendar = BusinessCalendar(self.policy.calendar)

    @classmethod
    def from_thresholds(cls, thresholds: dict) -> DeadlineClock:
        return cls(DeadlinePolicy.from_thresholds(thresholds))

    def for_escalation(self, received_at: datetime, escalation: Escalation, regime: str | None = None) -> Deadlines:
        return self.deadlines(received_at, escalation.level, escalation.respond_within_hours,
                              escalation.report_within_hours, regime)

    def deadlines(self, received_at: datetime, level: int, respond_within_hours: float,
                  report_within_hours: float | None, regime: str | None = None) -> Deadlines:
        cal, p = self.calendar, self.policy
        received = cal.local(received_at)
        warnings: list[str] = []
        if level >= CRISIS_LEVEL:  # crisis clocks run around the clock
            ack = cal.add_clock_hours(received, respond_within_hours)
            report = None if report_within_hours is None else cal.add_clock_hours(received, report_within_hours)
            resolve = cal.add_calendar_days(received, p.crisis_resolve_days)
        else:
            ack = cal.add_business_hours(received, respond_within_hours)
            report = None if report_within_hours is None else cal.add_business_hours(received, report_within_hours)
            resolve = cal.add_business_days(received, p.resolve_business_days[level])
            last = max(x for x in (ack, report, resolve) if x is not None)
            for year, why in cal.unconfirmed_years(received.date(), last.date()).items():
                warnings.append(f"{why} (deadlines computed without them in {year})")
        regime = regime or p.default_regime
        regulatory = None
        if regime is not None:
            regulatory = min(cal.end_of_day_after(received, n) for n in p.regimes[regime].deadline_days.values())
        return Deadlines(
            acknowledge_by=_fixed(ack), report_by=_fixed(report), resolve_by=_fixed(resolve),
            follow_up_by=_fixed(cal.add_calendar_days(resolve, p.follow_up_days)), regulatory_by=_fixed(regulatory),
            regime=regime, calendar_unconfirmed=bool(warnings), calendar_warnings=warnings,
        )
