"""JSON API views under /api/v1 (CONTRACTS §7)."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify
from sqlalchemy.exc import SQLAlchemyError

from hub.api import bp
from hub.api.openapi import openapi_document
from hub.api.params import box_id_param, cursor_param, encode_cursor, limit_param, since_param
from hub.auth import requires
from hub.db import db, queries
from hub.timeutil import to_shanghai_iso

ALARM_FIELDS = ("id", "box_id", "account", "event_code", "qualifier", "zone", "partition",
                "event_zh", "event_en", "category", "life_safety", "recognised", "receiver", "protocol")


def alarm_json(row: dict[str, Any]) -> dict[str, Any]:
    item = {key: row[key] for key in ALARM_FIELDS}
    item["received_at"] = to_shanghai_iso(row["received_at"])
    item["ingested_at"] = to_shanghai_iso(row["ingested_at"])
    item["case_id"] = row["case_id"]
    item["note"] = row["note"]
    return item


def box_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "box_id": row["box_id"],
        "state": row["state"] if row["state"] in ("online", "offline") else "unknown",
        "last_seen_at": to_shanghai_iso(row["last_seen_at"]),
        "first_seen_at": to_shanghai_iso(row["first_seen_at"]),
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


@bp.get("/alarms")
@requires()
def list_alarms() -> Response:
    # Parse every parameter before touching the database: a bad one is a 400, always.
    box_id, since, limit, after = box_id_param(), since_param(), limit_param(), cursor_param()
    with db.engine.connect() as conn:
        page = queries.list_alarms(conn, box_id=box_id, since=since, limit=limit, after=after)
    next_cursor = encode_cursor(*page.after) if page.after else None
    return jsonify(items=[alarm_json(r) for r in page.rows], next=next_cursor)


@bp.get("/boxes")
@requires()
def list_boxes() -> Response:
    with db.engine.connect() as conn:
        rows = queries.list_boxes(conn)
    return jsonify(items=[box_json(r) for r in rows], next=None)


@bp.get("/openapi.json")
def openapi() -> Response:
    # Public on purpose: clients need the description before they hold a token.
    return jsonify(openapi_document(current_app.config["VERSION"]))
