"""Web views: the alarm list."""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from hub.api.params import BOX_ID_RE
from hub.auth import current_principal, requires
from hub.db import db, queries
from hub.timeutil import to_shanghai_display
from hub.web import bp
from hub.web.labels import event_label, qualifier_label

PAGE_SIZE = 200
REFRESH_SECONDS = 5


@bp.app_template_filter("beijing")
def _beijing(value: object) -> str:
    return to_shanghai_display(value)  # type: ignore[arg-type]


@bp.get("/")
def index() -> Response:
    return redirect(url_for("web.alarms"))


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
