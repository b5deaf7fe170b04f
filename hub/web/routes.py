"""Web views: the alarm list and the district's live wallboard."""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from hub.api.params import BOX_ID_RE
from hub.api.routes import box_state, live_json
from hub.auth import current_principal, requires
from hub.db import db, queries
from hub.timeutil import to_shanghai_display, utc_now
from hub.web import bp
from hub.web.labels import AGENT_STATE_ZH, BOX_STATE_ZH, event_label, qualifier_label

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


@bp.get("/alarms")
@requires()
def alarms() -> str:
    box_id = request.args.get("box_id") or None
    if box_id is not None and not BOX_ID_RE.fullmatch(box_id):
        box_id = None  # a hand-edited URL shows everything rather than an error page
    with db.engine.connect() as conn:
        page = queries.list_alarms(conn, box_id=box_id, limit=PAGE_SIZE)
        boxes = queries.list_boxes(conn)
    return render_template(
        "web/alarms.html", rows=page.rows, boxes=boxes, box_id=box_id,
        event_label=event_label, qualifier_label=qualifier_label,
        principal=current_principal(), page_size=PAGE_SIZE, refresh_seconds=REFRESH_SECONDS)
