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
