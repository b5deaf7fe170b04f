"""Time zones: the hub stores UTC and shows Asia/Shanghai (ARCHITECTURE principle 7)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def parse_iso(text: str, naive_zone: ZoneInfo | None = None) -> datetime:
    """An ISO 8601 string as an aware datetime.

    A naive string gets NAIVE_ZONE; without one it is an error, because guessing the
    zone of an alarm time shifts it by eight hours.
    """
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        if naive_zone is None:
            raise ValueError(f"{text!r} has no UTC offset")
        value = value.replace(tzinfo=naive_zone)
    return value


def to_shanghai_iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(SHANGHAI).isoformat()


def to_shanghai_display(value: datetime | None) -> str:
    """`YYYY-MM-DD HH:MM:SS` in Beijing time, as the web pages show it."""
    return "" if value is None else value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def utc_now() -> datetime:
    return datetime.now(UTC)
