"""Business hours of a centre: weekly hours, Chinese public holidays and 调休 make-up days.

China's public holidays move every year: the State Council (国务院办公厅) publishes the
next year's 放假调休 schedule in November or December, and it swaps weekends around the
holidays — some Saturdays and Sundays become working days (调休上班) to lengthen the
break. No rule computes this, so the schedule is data in the box config, one entry per
holiday with its make-up working days::

    [ivr.calendar]
    timezone = "Asia/Shanghai"
    makeup_hours = ["08:00-18:00"]        # a 调休 working day; default: Monday's hours
    [ivr.calendar.weekly]
    mon = ["08:00-12:00", "13:30-18:00"]  # a day not listed is closed
    [[ivr.calendar.holidays]]
    name = "春节"
    from = 2026-02-15                     # TOML dates or "YYYY-MM-DD" strings
    to = 2026-02-23
    workdays = [2026-02-14, 2026-02-28]   # 调休上班

A day is, in this order: a holiday (closed all day) → a make-up working day (open for
``makeup_hours``) → an ordinary day (its weekday's hours). Intervals are half open,
``[start, end)``, in local time; "24:00" ends a day. Sans-I/O: time comes in as epoch
seconds (or an aware datetime) and is read in the calendar's timezone.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_INTERVAL = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
# A typo such as to = 2026-10-08 for 2025-10-08 makes a year-long "holiday"; the longest
# real one (春节) is 9 days.
MAX_HOLIDAY_DAYS = 31


class CalendarError(ValueError):
    """A bad calendar table. ``path`` is the key inside the table, for file:line errors."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path, self.message = path, message


@dataclass(frozen=True, order=True)
class Interval:
    """Open from ``start`` to ``end``, minutes after local midnight (end ≤ 1440)."""

    start: int
    end: int

    def __str__(self) -> str:
        return f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"


@dataclass(frozen=True)
class Holiday:
    """One holiday of the State Council's schedule: closed from ``first`` to ``last``."""

    name: str
    first: date
    last: date
    workdays: tuple[date, ...] = ()

    def covers(self, day: date) -> bool:
        return self.first <= day <= self.last


class BusinessCalendar:
    """When the centre is staffed. ``weekly`` maps 0 = Monday … 6 = Sunday to intervals."""

    def __init__(self, weekly: Mapping[int, Iterable[Interval]], holidays: Iterable[Holiday] = (),
                 makeup_hours: Iterable[Interval] | None = None,
                 tz: ZoneInfo | str = "Asia/Shanghai") -> None:
        self.tz = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
        self.weekly = {day: tuple(sorted(weekly.get(day, ()))) for day in range(7)}
        self.holidays = tuple(holidays)
        self.makeup_hours = tuple(sorted(makeup_hours)) if makeup_hours is not None else self.weekly[0]
        self._closed: dict[date, str] = {}
        self._workdays: dict[date, str] = {}
        for holiday in self.holidays:
            day = holiday.first
            while day <= holiday.last:
                self._closed[day] = holiday.name
                day += timedelta(days=1)
            for workday in holiday.workdays:
                self._workdays[workday] = holiday.name

    def local(self, now: float | datetime) -> datetime:
        """NOW (epoch seconds or an aware datetime) in the calendar's timezone."""
        if isinstance(now, datetime):
            if now.tzinfo is None:
                raise ValueError("a naive datetime has no timezone: pass epoch seconds or an aware datetime")
            return now.astimezone(self.tz)
        return datetime.fromtimestamp(now, self.tz)

    def holiday_on(self, day: date) -> str | None:
        """The name of the holiday DAY belongs to (春节 …), or None."""
        return self._closed.get(day)

    def is_makeup_workday(self, day: date) -> bool:
        """A weekend day the schedule turned into a working day (调休上班)."""
        return day in self._workdays

    def hours_on(self, day: date) -> tuple[Interval, ...]:
        """The opening intervals of DAY after holidays and make-up days are applied."""
        if day in self._closed:
            return ()
        if day in self._workdays:
            return self.makeup_hours
        return self.weekly[day.weekday()]

    def is_open(self, now: float | datetime) -> bool:
        local = self.local(now)
        minute = local.hour * 60 + local.minute
        return any(i.start <= minute < i.end for i in self.hours_on(local.date()))

    def is_holiday(self, now: float | datetime) -> bool:
        return self.holiday_on(self.local(now).date()) is not None


def parse_interval(text: str) -> Interval:
    """`"08:30-17:00"` → Interval(510, 1020); ValueError with the reason otherwise."""
    match = _INTERVAL.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"{text!r} is not HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    for hour, minute in ((h1, m1), (h2, m2)):
        if minute > 59 or hour > 24 or (hour == 24 and minute):
            raise ValueError(f"{text!r}: {hour:02d}:{minute:02d} is not a time of day")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start >= end:
        # Overnight hours are two intervals on two days: the weekday is not obvious otherwise.
        raise ValueError(f"{text!r}: the end must be after the start (split overnight hours "
                         "at 24:00 over two days)")
    return Interval(start, end)


def _intervals(value: Any, path: tuple[str | int, ...]) -> tuple[Interval, ...]:
    if not isinstance(value, list):
        raise CalendarError(path, 'expected an array of "HH:MM-HH:MM" strings')
    out: list[Interval] = []
    for i, text in enumerate(value):
        try:
            out.append(parse_interval(text))
        except ValueError as exc:
            raise CalendarError(path, f"[{i}] {exc}") from exc
    out.sort()
    for a, b in zip(out, out[1:], strict=False):
        if b.start < a.end:
            raise CalendarError(path, f"intervals {a} and {b} overlap")
    return tuple(out)


def _date(value: Any, path: tuple[str | int, ...]) -> date:
    if isinstance(value, datetime):
        raise CalendarError(path, f"{value} has a time of day: write the date only (2026-02-15)")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise CalendarError(path, f"{value!r} is not a date (YYYY-MM-DD)")


def _unknown(data: Mapping[str, Any], known: Iterable[str], path: tuple[str | int, ...]) -> None:
    known = list(known)
    for key in data:
        if key not in known:
            hint = difflib.get_close_matches(key, known, n=1)
            extra = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise CalendarError((*path, key), f"unknown key{extra}")


def parse_calendar(data: Mapping[str, Any]) -> BusinessCalendar:
    """Build a calendar from its TOML table; CalendarError names the key that is wrong."""
    if not isinstance(data, Mapping):
        raise CalendarError((), "must be a table")
    _unknown(data, ("timezone", "weekly", "makeup_hours", "holidays"), ())
    tz_name = data.get("timezone", "Asia/Shanghai")
    try:
        tz = ZoneInfo(tz_name) if isinstance(tz_name, str) else None
    except (ZoneInfoNotFoundError, ValueError):
        tz = None
    if tz is None:
        raise CalendarError(("timezone",), f"{tz_name!r} is not a known timezone (e.g. Asia/Shanghai)")
    weekly_table = data.get("weekly", {})
    if not isinstance(weekly_table, Mapping):
        raise CalendarError(("weekly",), "must be a table of mon … sun")
    _unknown(weekly_table, WEEKDAYS, ("weekly",))
    weekly = {WEEKDAYS.index(name): _intervals(value, ("weekly", name))
              for name, value in weekly_table.items()}
    makeup = (_intervals(data["makeup_hours"], ("makeup_hours",)) if "makeup_hours" in data else None)
    rows = data.get("holidays", [])
    if not isinstance(rows, list):
        raise CalendarError(("holidays",), "must be an array of tables ([[…calendar.holidays]])")
    holidays: list[Holiday] = []
    seen: dict[date, str] = {}
    for i, row in enumerate(rows):
        where = ("holidays", i)
        if not isinstance(row, Mapping):
            raise CalendarError(where, "must be a table with name, from, to, workdays")
        _unknown(row, ("name", "from", "to", "workdays"), where)
        for key in ("name", "from"):
            if key not in row:
                raise CalendarError(where, f"missing required key {key!r}")
        name = row["name"]
        if not isinstance(name, str) or not name.strip():
            raise CalendarError((*where, "name"), "must be a non-empty string (春节, 国庆节 …)")
        first = _date(row["from"], (*where, "from"))
        last = _date(row["to"], (*where, "to")) if "to" in row else first
        if last < first:
            raise CalendarError((*where, "to"), f"{last} is before from = {first}")
        if (last - first).days + 1 > MAX_HOLIDAY_DAYS:
            raise CalendarError((*where, "to"), f"{(last - first).days + 1} days is not a holiday "
                                f"(at most {MAX_HOLIDAY_DAYS}): check the year")
        raw_workdays = row.get("workdays", [])
        if not isinstance(raw_workdays, list):
            raise CalendarError((*where, "workdays"), "expected an array of dates")
        workdays = tuple(_date(d, (*where, "workdays")) for d in raw_workdays)
        day = first
        while day <= last:
            if day in seen:
                raise CalendarError((*where, "from"), f"{day} is already in holiday {seen[day]!r}")
            seen[day] = name
            day += timedelta(days=1)
        holidays.append(Holiday(name, first, last, workdays))
    for i, holiday in enumerate(holidays):
        for workday in holiday.workdays:
            if workday in seen:
                raise CalendarError(("holidays", i, "workdays"),
                                    f"{workday} is a make-up working day and a holiday ({seen[workday]!r})")
    return BusinessCalendar(weekly, holidays, makeup, tz)
