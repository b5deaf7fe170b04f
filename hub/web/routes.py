"""Web views: the alarm list, the call records, the figures and the live wallboard."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any

from flask import redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from hub.api.params import BOX_ID_RE
from hub.api.routes import box_state, kpi_figures, live_json
from hub.auth import current_principal, requires
from hub.db import db, queries
from hub.timeutil import SHANGHAI, to_shanghai_display, utc_now
from hub.web import bp
from hub.web.labels import (
    AGENT_STATE_ZH,
    BOX_STATE_ZH,
    CATEGORY_ZH,
    DIRECTION_ZH,
    OUTCOME_ZH,
    QUEUE_ZH,
    event_label,
    label,
    qualifier_label,
)

PAGE_SIZE = 200
REFRESH_SECONDS = 5


@bp.app_template_filter("beijing")
def _beijing(value: object) -> str:
    return to_shanghai_display(value)  # type: ignore[arg-type]


@bp.get("/")
def index() -> Response:
    return redirect(url_for("web.alarms"))


@bp.get("/live")
@requires()
def live() -> str:
    """实时看板: each box's calls waiting, agents by state and trunks, as it last said."""
    with db.engine.connect() as conn:
        rows = queries.list_boxes(conn)
    now = utc_now()
    boxes = [{"box_id": r["box_id"], "state": box_state(r), "state_zh": BOX_STATE_ZH[box_state(r)],
              "live": live_json(r, now)} for r in rows]
    return render_template("web/live.html", boxes=boxes, states=AGENT_STATE_ZH,
                           principal=current_principal(), refresh_seconds=REFRESH_SECONDS)


def _box_filter() -> str | None:
    box_id = request.args.get("box_id") or None
    # A hand-edited URL shows everything rather than an error page.
    return box_id if box_id is not None and BOX_ID_RE.fullmatch(box_id) else None


def _box_listing(list_rows: Callable[..., queries.Page]) -> dict[str, Any]:
    """What a list page by box renders: its rows (the newest PAGE_SIZE), the boxes, the filter."""
    box_id = _box_filter()
    with db.engine.connect() as conn:
        page = list_rows(conn, box_id=box_id, limit=PAGE_SIZE)
        boxes = queries.list_boxes(conn)
    return {"rows": page.rows, "boxes": boxes, "box_id": box_id, "page_size": PAGE_SIZE,
            "principal": current_principal()}


@bp.get("/calls")
@requires()
def calls() -> str:
    """通话记录: the newest call records, by box."""
    return render_template("web/calls.html", **_box_listing(queries.list_calls), label=label,
                           directions=DIRECTION_ZH, categories=CATEGORY_ZH, outcomes=OUTCOME_ZH,
                           queues=QUEUE_ZH)


@bp.get("/reports")
@requires()
def reports() -> str:
    """统计报表: one day's figures (service level, ASA, AHT, abandon rate, missed-call follow-up)."""
    box_id = _box_filter()
    today = utc_now().astimezone(SHANGHAI).date()
    try:
        day = date.fromisoformat(request.args.get("day") or today.isoformat())
        if not date(2000, 1, 1) <= day <= date(9000, 1, 1):
            raise ValueError(day)
    except ValueError:
        day = today  # as for the box: a hand-edited URL shows today
    start = datetime.combine(day, time(0), tzinfo=SHANGHAI)
    report = kpi_figures(box_id, start, start + timedelta(days=1), 20.0, 5.0)
    with db.engine.connect() as conn:
        boxes = queries.list_boxes(conn)
    return render_template("web/reports.html", report=report, day=day, box_id=box_id, boxes=boxes,
                           label=label, queues=QUEUE_ZH, principal=current_principal())


@bp.get("/alarms")
@requires()
def alarms() -> str:
    return render_template("web/alarms.html", **_box_listing(queries.list_alarms),
                           event_label=event_label, qualifier_label=qualifier_label,
                           refresh_seconds=REFRESH_SECONDS)
