"""Query parameter parsing; each failure names its parameter (CONTRACTS §7)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from flask import request

from hub.errors import BadParameter
from hub.timeutil import SHANGHAI, parse_iso

T = TypeVar("T", int, float)
BOX_ID_RE = re.compile(r"[a-z0-9-]{3,64}")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def _number_param(name: str, convert: Callable[[str], T], default: T, low: T, high: T, problem: str) -> T:
    """NAME converted, DEFAULT when absent; BadParameter(PROBLEM) unless LOW <= it <= HIGH."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = convert(raw)
    except ValueError:
        raise BadParameter(name, problem) from None
    if not low <= value <= high:  # also refuses a float nan
        raise BadParameter(name, problem)
    return value


def limit_param(name: str = "limit") -> int:
    return _number_param(name, int, DEFAULT_LIMIT, 1, MAX_LIMIT,
                         f"must be an integer between 1 and {MAX_LIMIT}")


def since_param(name: str = "since") -> datetime | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        # Naive times are Beijing time: that is what district staff type.
        return parse_iso(raw, naive_zone=SHANGHAI)
    except ValueError:
        raise BadParameter(name, "must be an ISO 8601 date or date-time, "
                                 "e.g. 2026-11-22T13:05:00+08:00") from None


def time_param(name: str, default: datetime) -> datetime:
    """A time parameter (naive: Beijing time), DEFAULT when absent."""
    return since_param(name) or default


def seconds_param(name: str, default: float, maximum: float) -> float:
    return _number_param(name, float, default, 0.0, maximum,
                         f"must be a number of seconds from 0 to {maximum:g}")


def box_id_param(name: str = "box_id") -> str | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if not BOX_ID_RE.fullmatch(raw):
        raise BadParameter(name, "must be 3-64 characters of a-z, 0-9 and '-'")
    return raw


def encode_cursor(at: datetime, row_id: int) -> str:
    raw = json.dumps([at.isoformat(), row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_param(name: str = "cursor") -> tuple[datetime, int] | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        at, row_id = data
        if not isinstance(row_id, int) or isinstance(row_id, bool):
            raise ValueError(row_id)
        return parse_iso(at), row_id
    except (ValueError, TypeError, binascii.Error):
        raise BadParameter(name, "not a cursor returned in 'next'") from None
