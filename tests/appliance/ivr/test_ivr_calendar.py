"""Business hours: weekly hours, public holidays and 调休 make-up days, in Asia/Shanghai."""

from datetime import UTC, date, datetime

import pytest

from appliance.clock import SHANGHAI
from appliance.ivr.calendar import (
    BusinessCalendar,
    CalendarError,
    Holiday,
    Interval,
    parse_calendar,
    parse_interval,
)
from appliance.ivr.flows import load_default_ivr

NATIONAL_DAY_2025 = {
    "weekly": {"mon": ["08:00-12:00", "13:30-18:00"], "tue": ["08:00-18:00"], "wed": ["08:00-18:00"],
               "thu": ["08:00-18:00"], "fri": ["08:00-18:00"]},
    "makeup_hours": ["09:00-17:00"],
    "holidays": [{"name": "国庆节、中秋节", "from": date(2025, 10, 1), "to": "2025-10-08",
                  "workdays": [date(2025, 9, 28), "2025-10-11"]}],
}


def at(text: str) -> float:
    """Epoch seconds of a wall-clock time in Shanghai."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).timestamp()


@pytest.fixture
def calendar() -> BusinessCalendar:
    return parse_calendar(NATIONAL_DAY_2025)


@pytest.mark.parametrize(("when", "is_open"), [
    ("2025-09-29 08:00", True),    # Monday, opening minute
    ("2025-09-29 07:59", False),
    ("2025-09-29 11:59", True),
    ("2025-09-29 12:00", False),   # lunch break: intervals are [start, end)
    ("2025-09-29 13:30", True),
    ("2025-09-29 17:59", True),
    ("2025-09-29 18:00", False),
    ("2025-09-27 10:00", False),   # an ordinary Saturday
    ("2025-10-01 10:00", False),   # National Day (a Wednesday)
    ("2025-10-08 10:00", False),   # the last day of the holiday
    ("2025-10-09 10:00", True),    # back to work on Thursday
    ("2025-09-28 10:00", True),    # Sunday 调休上班: make-up hours 09:00-17:00
    ("2025-09-28 08:30", False),
    ("2025-10-11 16:59", True),    # Saturday 调休上班
    ("2025-10-11 17:00", False),
])
def test_is_open(calendar: BusinessCalendar, when: str, is_open: bool) -> None:
    assert calendar.is_open(at(when)) is is_open


def test_day_kinds_and_names(calendar: BusinessCalendar) -> None:
    assert calendar.holiday_on(date(2025, 10, 3)) == "国庆节、中秋节"
    assert calendar.holiday_on(date(2025, 10, 9)) is None
    assert calendar.is_makeup_workday(date(2025, 10, 11))
    assert not calendar.is_makeup_workday(date(2025, 10, 12))
    assert calendar.hours_on(date(2025, 10, 11)) == (Interval(540, 1020),)
    assert [str(i) for i in calendar.hours_on(date(2025, 9, 29))] == ["08:00-12:00", "13:30-18:00"]
    assert calendar.hours_on(date(2025, 10, 6)) == ()  # a Monday inside the holiday
    assert calendar.is_holiday(at("2025-10-05 12:00")) and not calendar.is_holiday(at("2025-10-11 12:00"))


def test_time_is_read_in_shanghai_whatever_the_input(calendar: BusinessCalendar) -> None:
    # 00:30 UTC on a Monday is 08:30 in Shanghai: open; 11:00 UTC is 19:00 there: closed.
    utc = datetime(2025, 9, 29, 0, 30, tzinfo=UTC)
    assert calendar.is_open(utc) and calendar.is_open(utc.timestamp())
    assert not calendar.is_open(datetime(2025, 9, 29, 11, 0, tzinfo=UTC))
    with pytest.raises(ValueError, match="naive"):
        calendar.is_open(datetime(2025, 9, 29, 8, 30))


def test_makeup_hours_default_to_mondays() -> None:
    cal = parse_calendar({"weekly": {"mon": ["08:30-17:30"]},
                          "holidays": [{"name": "劳动节", "from": "2025-05-01", "to": "2025-05-05",
                                        "workdays": ["2025-04-27"]}]})
    assert cal.hours_on(date(2025, 4, 27)) == (Interval(510, 1050),)
    assert cal.holiday_on(date(2025, 5, 1)) == "劳动节" and cal.hours_on(date(2025, 5, 5)) == ()


def test_a_day_ending_at_midnight_and_direct_construction() -> None:
    cal = BusinessCalendar({6: [parse_interval("20:00-24:00")]},
                           [Holiday("元旦", date(2026, 1, 1), date(2026, 1, 3), (date(2026, 1, 4),))],
                           makeup_hours=[Interval(0, 1440)])
    assert cal.is_open(at("2025-12-28 23:59"))        # a Sunday
    assert not cal.is_open(at("2025-12-29 00:00"))    # Monday
    assert cal.is_open(at("2026-01-04 03:00"))        # 调休 Sunday, open round the clock


def test_default_calendar_knows_2026() -> None:
    cal = load_default_ivr().calendar
    assert cal is not None
    assert cal.is_open(at("2026-02-14 09:00"))        # Saturday 调休上班 before 春节
    assert cal.holiday_on(date(2026, 2, 15)) == "春节" and cal.holiday_on(date(2026, 2, 23)) == "春节"
    assert not cal.is_open(at("2026-02-16 09:00"))
    assert cal.is_open(at("2026-02-24 09:00"))
    assert cal.is_open(at("2026-09-20 09:00"))        # Sunday 调休 before 国庆节
    assert not cal.is_open(at("2026-10-07 09:00")) and cal.is_open(at("2026-10-10 09:00"))


@pytest.mark.parametrize(("change", "path", "words"), [
    ({"weekly": {"mon": ["18:00-08:00"]}}, ("weekly", "mon"), "split overnight"),
    ({"weekly": {"mon": ["8-18"]}}, ("weekly", "mon"), "HH:MM-HH:MM"),
    ({"weekly": {"mon": ["08:00-25:00"]}}, ("weekly", "mon"), "not a time of day"),
    ({"weekly": {"mon": ["08:00-12:00", "11:00-18:00"]}}, ("weekly", "mon"), "overlap"),
    ({"weekly": {"monday": ["08:00-12:00"]}}, ("weekly", "monday"), "did you mean 'mon'"),
    ({"weekly": {"mon": "08:00-12:00"}}, ("weekly", "mon"), "array"),
    ({"timezone": "Asia/Beijing"}, ("timezone",), "not a known timezone"),
    ({"holiday": []}, ("holiday",), "did you mean 'holidays'"),
    ({"holidays": [{"name": "国庆节", "from": "2025-10-08", "to": "2025-10-01"}]},
     ("holidays", 0, "to"), "before"),
    ({"holidays": [{"name": "国庆节", "from": "2025-10-01", "to": "2026-10-08"}]},
     ("holidays", 0, "to"), "check the year"),
    ({"holidays": [{"name": "国庆节", "from": "2025-10-01", "workdays": ["2025-10-01"]}]},
     ("holidays", 0, "workdays"), "make-up working day and a holiday"),
    ({"holidays": [{"name": "a", "from": "2025-10-01"}, {"name": "b", "from": "2025-10-01"}]},
     ("holidays", 1, "from"), "already in holiday 'a'"),
    ({"holidays": [{"name": "a", "from": datetime(2025, 10, 1, 8, 0)}]},
     ("holidays", 0, "from"), "time of day"),
    ({"holidays": [{"name": "a", "from": "10/01/2025"}]}, ("holidays", 0, "from"), "not a date"),
    ({"holidays": [{"from": "2025-10-01"}]}, ("holidays", 0), "missing required key 'name'"),
    ({"holidays": [{"name": "a", "from": "2025-10-01", "days": 3}]}, ("holidays", 0, "days"), "unknown key"),
])
def test_errors_name_the_key(change: dict, path: tuple, words: str) -> None:
    with pytest.raises(CalendarError, match=words) as info:
        parse_calendar(change)
    assert info.value.path == path
