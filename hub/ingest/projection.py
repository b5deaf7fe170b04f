"""Records projected onto their tables' columns: alarms (kind "alarm") and call records
(kind "call", the box's CDR)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.timeutil import parse_iso

TEXT_FIELDS = {
    # column: longest value kept (longer values are cut, not rejected: see alarm_row)
    "account": 32, "event_code": 8, "qualifier": 16, "zone": 16, "partition": 16,
    "event_zh": 128, "event_en": 128, "category": 32, "receiver": 64, "protocol": 32,
}


def alarm_row(box_id: str, lane: str, seq: int, record_id: str, at: str, body: Any,
              now: datetime) -> tuple[dict[str, Any] | None, str | None]:
    """(row, problem). Lenient on purpose: the record is already valid and will be
    stored, so a quirk in one field costs that field, not the alarm."""
    if not isinstance(body, dict):
        return None, "alarm body is not an object; kept in records only"
    problems = []
    signal_id = body.get("signal_id") or record_id
    if not isinstance(signal_id, str) or len(signal_id) > 64:
        return None, "alarm signal_id is not a string of at most 64 characters"
    received_at = _time(body.get("received_at")) or _time(at)
    if received_at is None:
        problems.append("no valid received_at; using the ingest time")
        received_at = now
    row: dict[str, Any] = {
        "box_id": box_id, "lane": lane, "seq": seq, "signal_id": signal_id,
        "received_at": received_at, "ingested_at": now, "case_id": None,
        "recognised": body.get("recognised") is True,
        "life_safety": _bool(body.get("life_safety")),
        "raw_hex": _text(body.get("raw_hex")),
        "note": _text(body.get("note")),
    }
    _texts(body, TEXT_FIELDS, row, problems)
    return row, "; ".join(problems) or None


def _texts(body: dict[str, Any], limits: dict[str, int], row: dict[str, Any], problems: list[str]) -> None:
    """ROW's text columns from BODY, each cut to its limit (and said so in PROBLEMS)."""
    for column, limit in limits.items():
        value = _text(body.get(column))
        if value is not None and len(value) > limit:
            problems.append(f"{column} longer than {limit}; cut")
            value = value[:limit]
        row[column] = value


CALL_TEXT_FIELDS = {
    "direction": 16, "span": 64, "caller": 64, "called": 64, "category": 32, "elder_id": 64,
    "ended_by": 32, "outcome": 32, "flow": 64, "queue": 64, "agent": 64, "survey_label": 64,
    "recording_id": 128, "message_recording_id": 128, "case_id": 64,
}


def call_row(box_id: str, lane: str, seq: int, record_id: str, at: str, body: Any,
             now: datetime) -> tuple[dict[str, Any] | None, str | None]:
    """(row, problem), as lenient as alarm_row: a bad field costs that field."""
    if not isinstance(body, dict):
        return None, "call body is not an object; kept in records only"
    call_id = body.get("call_id") or record_id
    if not isinstance(call_id, str) or len(call_id) > 128:
        return None, "call_id is not a string of at most 128 characters"
    problems = []
    started_at = _time(body.get("started_at")) or _time(at)
    if started_at is None:
        problems.append("no valid started_at; using the ingest time")
        started_at = now
    row: dict[str, Any] = {"box_id": box_id, "lane": lane, "seq": seq, "call_id": call_id,
                           "started_at": started_at, "ingested_at": now}
    for column in ("answered_at", "ended_at"):
        row[column] = _time(body.get(column))
        if body.get(column) is not None and row[column] is None:
            problems.append(f"{column} is not an ISO 8601 time with an offset; dropped")
    for column in ("queue_wait_s", "talk_s"):
        value = body.get(column)
        ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
        row[column] = float(value) if ok else None
        if value is not None and not ok:
            problems.append(f"{column} is not a number of seconds; dropped")
    score = body.get("survey_score")
    ok = isinstance(score, int) and not isinstance(score, bool) and 0 <= score <= 100
    row["survey_score"] = score if ok else None  # a key the caller pressed, 1 … 9
    if score is not None and not ok:
        problems.append("survey_score is not a small number; dropped")
    _texts(body, CALL_TEXT_FIELDS, row, problems)
    return row, "; ".join(problems) or None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    # PostgreSQL text takes no NUL: one would fail the batch and stall the lane.
    return (value if isinstance(value, str) else str(value)).replace("\x00", "")


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_iso(value)  # the box always writes an offset; naive is not trusted
    except ValueError:
        return None
