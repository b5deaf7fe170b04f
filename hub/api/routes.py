"""JSON API views under /api/v1 (CONTRACTS §7)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import Response, current_app, jsonify
from sqlalchemy.exc import SQLAlchemyError

from hub.api import bp
from hub.api.openapi import openapi_document
from hub.api.params import (
    BOX_ID_RE,
    box_id_param,
    cursor_param,
    encode_cursor,
    limit_param,
    seconds_param,
    since_param,
    time_param,
)
from hub.auth import requires
from hub.db import db, queries
from hub.errors import ApiError, BadParameter
from hub.kpi import kpi_report
from hub.timeutil import SHANGHAI, to_shanghai_iso, utc_now

ALARM_FIELDS = ("id", "box_id", "account", "event_code", "qualifier", "zone", "partition",
                "event_zh", "event_en", "category", "life_safety", "recognised", "receiver", "protocol")


def alarm_json(row: dict[str, Any]) -> dict[str, Any]:
    item = {key: row[key] for key in ALARM_FIELDS}
    item["received_at"] = to_shanghai_iso(row["received_at"])
    item["ingested_at"] = to_shanghai_iso(row["ingested_at"])
    item["case_id"] = row["case_id"]
    item["note"] = row["note"]
    return item


# A box sends its live figures every 2 s; three missed in a row and a wallboard says so.
LIVE_STALE = timedelta(seconds=10)
LIVE_SUMMARY = ("at", "calls_waiting", "emergency_waiting", "longest_wait_s", "agents_by_state",
                "trunks_up", "trunks_total")


def box_state(row: dict[str, Any]) -> str:
    return row["state"] if row["state"] in ("online", "offline") else "unknown"


def live_json(row: dict[str, Any], now: datetime, *, full: bool = False) -> dict[str, Any] | None:
    """The box's newest live figures (the summary, or everything with FULL), or None."""
    body = row.get("live")
    if body is None:
        return None
    item = dict(body) if full else {key: body.get(key) for key in LIVE_SUMMARY}
    received = row["live_received_at"]
    item["received_at"] = to_shanghai_iso(received)
    item["stale"] = box_state(row) != "online" or now - received > LIVE_STALE
    return item


def box_json(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "box_id": row["box_id"],
        "state": box_state(row),
        "last_seen_at": to_shanghai_iso(row["last_seen_at"]),
        "first_seen_at": to_shanghai_iso(row["first_seen_at"]),
        "live": live_json(row, now),
    }


@bp.get("/health")
def health() -> tuple[Response, int]:
    version = current_app.config["VERSION"]
    try:
        with db.engine.connect() as conn:
            queries.ping(conn)
    except SQLAlchemyError as exc:
        current_app.logger.warning("health: database unreachable: %s", exc)
        return jsonify(ok=False, db="unreachable", version=version), 503
    return jsonify(ok=True, db="ok", version=version), 200


def newest_first_page(list_rows: Callable[..., queries.Page],
                      to_json: Callable[[dict[str, Any]], dict[str, Any]]) -> Response:
    """A list endpoint's page: box_id, since, limit and cursor from the query string."""
    # Parse every parameter before touching the database: a bad one is a 400, always.
    box_id, since, limit, after = box_id_param(), since_param(), limit_param(), cursor_param()
    with db.engine.connect() as conn:
        page = list_rows(conn, box_id=box_id, since=since, limit=limit, after=after)
    next_cursor = encode_cursor(*page.after) if page.after else None
    return jsonify(items=[to_json(r) for r in page.rows], next=next_cursor)


@bp.get("/alarms")
@requires()
def list_alarms() -> Response:
    return newest_first_page(queries.list_alarms, alarm_json)


CALL_FIELDS = ("id", "box_id", "call_id", "direction", "span", "caller", "called", "category", "elder_id",
               "ended_by", "outcome", "flow", "queue", "queue_wait_s", "agent", "talk_s", "survey_score",
               "survey_label", "recording_id", "message_recording_id", "case_id")
KPI_MAX_WINDOW = timedelta(days=31)
# A call that joined in the window is followed this long after it; events this long
# before it are read too, so a call that joined earlier is not counted and an agent's
# log-in before the window is seen (a shift is shorter).
KPI_FOLLOW = timedelta(days=1)


def call_json(row: dict[str, Any]) -> dict[str, Any]:
    item = {key: row[key] for key in CALL_FIELDS}
    for key in ("started_at", "answered_at", "ended_at", "ingested_at"):
        item[key] = to_shanghai_iso(row[key])
    return item


@bp.get("/calls")
@requires()
def list_calls() -> Response:
    return newest_first_page(queries.list_calls, call_json)


@bp.get("/reports/kpi")
@requires()
def kpi() -> Response:
    now = utc_now()
    today = now.astimezone(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0)
    start, end = time_param("from", today), time_param("to", now)
    box_id = box_id_param()
    target = seconds_param("sl_seconds", 20.0, 3600.0)
    short = seconds_param("short_abandon_s", 5.0, 600.0)
    if end <= start:
        raise BadParameter("to", "must be later than from")
    if end - start > KPI_MAX_WINDOW:
        raise BadParameter("to", f"at most {KPI_MAX_WINDOW.days} days after from")
    report = kpi_figures(box_id, start, end, target, short)
    return jsonify({"from": to_shanghai_iso(start), "to": to_shanghai_iso(end), "box_id": box_id,
                    "sl_seconds": target, "short_abandon_s": short, **report})


def kpi_figures(box_id: str | None, start: datetime, end: datetime, target: float,
                short: float) -> dict[str, Any]:
    """hub/kpi.py's report over the records of [START - a day, END + a day)."""
    try:
        from_at = (start - KPI_FOLLOW).astimezone(SHANGHAI).isoformat()
        to_at = (end + KPI_FOLLOW).astimezone(SHANGHAI).isoformat()
    except OverflowError:
        raise BadParameter("to", "must be a date between the years 1 and 9998") from None
    with db.engine.connect() as conn:
        events = queries.queue_events(conn, box_id=box_id, from_at=from_at, to_at=to_at)
        tasks = queries.queue_events(conn, box_id=box_id, from_at=from_at, to_at=to_at,
                                     kinds=("callback_task",))
    return kpi_report(events, start=start, end=end, service_level_target=target, short_abandon=short,
                      task_records=tasks)


@bp.get("/boxes")
@requires()
def list_boxes() -> Response:
    with db.engine.connect() as conn:
        rows = queries.list_boxes(conn)
    now = utc_now()
    return jsonify(items=[box_json(r, now) for r in rows], next=None)


@bp.get("/boxes/<box_id>/live")
@requires()
def box_live(box_id: str) -> Response:
    if not BOX_ID_RE.fullmatch(box_id):
        raise BadParameter("box_id", "must be 3-64 characters of a-z, 0-9 and -")
    with db.engine.connect() as conn:
        row = queries.box(conn, box_id)
    if row is None:
        raise ApiError(404, "not_found", f"no box {box_id!r} has been seen")
    live = live_json(row, utc_now(), full=True)
    if live is None:
        raise ApiError(404, "no_live_figures", f"box {box_id!r} has sent no live figures yet")
    return jsonify(live)


@bp.get("/openapi.json")
def openapi() -> Response:
    # Public on purpose: clients need the description before they hold a token.
    return jsonify(openapi_document(current_app.config["VERSION"]))
