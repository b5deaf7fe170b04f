"""Wall-clock helpers. Cores take time as an argument; only shells call these."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def now_local() -> datetime:
    """Now, timezone-aware, in Asia/Shanghai (the time people at the centre read)."""
    return datetime.now(SHANGHAI)


def iso(dt: datetime) -> str:
    return dt.isoformat(timespec="microseconds")


def stored(dt: datetime, what: str = "stored times") -> str:
    """The stored form of a time in box.db: ISO 8601 in Asia/Shanghai (one offset, so text
    order is time order). WHAT names the times for the error on a naive datetime."""
    if dt.tzinfo is None:
        raise ValueError(f"{what} must be timezone-aware")
    return iso(dt.astimezone(SHANGHAI))
