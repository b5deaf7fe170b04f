"""The OpenAPI 3.0 description of /api/v1, kept next to the views it describes."""

from __future__ import annotations

from typing import Any

from hub.api.params import DEFAULT_LIMIT, MAX_LIMIT


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": _ref("Error")}}}


def _ok(schema: str, description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": _ref(schema)}}}


NULLABLE_STR = {"type": "string", "nullable": True}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object", "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "description": "machine-readable code",
                      "example": "bad_parameter"},
            "message": {"type": "string", "description": "for humans; a bad parameter "
                        "is named first", "example": "limit: must be an integer between 1 "
                        "and 1000"},
        },
    },
    "Health": {
        "type": "object", "required": ["ok", "db", "version"],
        "properties": {"ok": {"type": "boolean"}, "db": {"type": "string", "enum": ["ok",
                       "unreachable"]}, "version": {"type": "string"}},
    },
    "Alarm": {
        "type": "object",
        "required": ["id", "box_id", "event_code", "qualifier", "received_at", "recognised"],
        "properties": {
            "id": {"type": "integer"},
            "box_id": {"type": "string"},
            "account": NULLABLE_STR,
            "event_code": {**NULLABLE_STR, "description": "Contact ID event, 3 digits",
                           "example": "101"},
            "qualifier": {**NULLABLE_STR, "enum": ["new", "restore", "previous", None]},
            "zone": NULLABLE_STR,
            "partition": NULLABLE_STR,
            "event_zh": NULLABLE_STR,
            "event_en": NULLABLE_STR,
            "category": NULLABLE_STR,
            "life_safety": {"type": "boolean", "nullable": True},
            "recognised": {"type": "boolean",
                           "description": "false: the box could not interpret the signal"},
            "receiver": NULLABLE_STR,
            "protocol": {"type": "string", "nullable": True,
                         "description": "surgard, ademco685, dc09, usb; emergency_call / contact_id_inband: "
                                        "a one-button phone calling in on the trunk"},
            "received_at": {"type": "string", "format": "date-time",
                            "description": "when the box received it, in +08:00"},
            "ingested_at": {"type": "string", "format": "date-time"},
            "case_id": NULLABLE_STR,
            "note": NULLABLE_STR,
        },
    },
    "AlarmList": {
        "type": "object", "required": ["items", "next"],
        "properties": {
            "items": {"type": "array", "items": _ref("Alarm")},
            "next": {**NULLABLE_STR, "description": "pass as `cursor` (with the same "
                     "filters) for the next page; null on the last page"},
        },
    },
    "Call": {
        "type": "object", "required": ["id", "box_id", "call_id", "started_at"],
        "properties": {
            "id": {"type": "integer"}, "box_id": {"type": "string"}, "call_id": {"type": "string"},
            "direction": {**NULLABLE_STR, "enum": ["in", "out", "internal", None]},
            "span": NULLABLE_STR, "caller": NULLABLE_STR, "called": NULLABLE_STR,
            "category": {**NULLABLE_STR, "description": "elder, vip, important, blacklist, unknown"},
            "elder_id": NULLABLE_STR,
            "started_at": {"type": "string", "format": "date-time"},
            "answered_at": {"type": "string", "format": "date-time", "nullable": True},
            "ended_at": {"type": "string", "format": "date-time", "nullable": True},
            "ingested_at": {"type": "string", "format": "date-time"},
            "ended_by": NULLABLE_STR,
            "outcome": {**NULLABLE_STR, "description": "in: agent, callback, message, ivr, abandoned, "
                        "no_answer, refused, blacklisted, failed; out: answered, busy, no_answer, "
                        "cancelled, failed"},
            "flow": NULLABLE_STR, "queue": NULLABLE_STR,
            "queue_wait_s": {"type": "number", "nullable": True},
            "agent": NULLABLE_STR,
            "talk_s": {"type": "number", "nullable": True},
            "survey_score": {"type": "integer", "nullable": True}, "survey_label": NULLABLE_STR,
            "recording_id": NULLABLE_STR, "message_recording_id": NULLABLE_STR, "case_id": NULLABLE_STR,
        },
    },
    "CallList": {
        "type": "object", "required": ["items", "next"],
        "properties": {"items": {"type": "array", "items": _ref("Call")},
                       "next": {**NULLABLE_STR, "description": "pass as `cursor` for the next page"}},
    },
    "QueueFigures": {
        "type": "object",
        "description": "the box's own definitions (docs/acd.md, Metrics); null where nothing to divide",
        "properties": {
            **{k: {"type": "integer"} for k in (
                "offered", "answered", "answered_within_target", "abandoned", "short_abandoned",
                "overflowed", "callbacks_requested", "waiting")},
            **{k: {"type": "number", "nullable": True} for k in (
                "service_level", "asa_s", "aht_s", "abandon_rate", "max_wait_s")},
        },
    },
    "Kpi": {
        "type": "object", "required": ["from", "to", "calls"],
        "properties": {
            "from": {"type": "string", "format": "date-time"},
            "to": {"type": "string", "format": "date-time"},
            "box_id": NULLABLE_STR,
            "sl_seconds": {"type": "number"}, "short_abandon_s": {"type": "number"},
            "calls": _ref("QueueFigures"),
            "by_queue": {"type": "object", "additionalProperties": _ref("QueueFigures")},
            "by_box": {"type": "object", "additionalProperties": _ref("QueueFigures")},
            "emergency": {"allOf": [_ref("QueueFigures")],
                          "description": "the emergency queue: one-button phones and alarm callbacks"},
            "occupancy": {"type": "number", "nullable": True},
            "missed_calls": {
                "type": "object", "description": "未接来电回访: callback tasks created in the window",
                "properties": {
                    **{k: {"type": "integer"} for k in ("tasks", "closed", "reached", "open")},
                    "response_rate": {"type": "number", "nullable": True,
                                      "description": "closed ÷ created (the seed's target: 100 %)"},
                    "median_close_s": {"type": "number", "nullable": True},
                },
            },
            "agent_hours": {"type": "object", "additionalProperties": {"type": "number"}},
            "unreadable_events": {"type": "integer"},
        },
    },
    "LiveSummary": {
        "type": "object", "nullable": True,
        "description": "the box's newest live figures (sent every 2 s while it reaches the hub)",
        "required": ["at", "calls_waiting", "received_at", "stale"],
        "properties": {
            "at": {"type": "string", "description": "the box's clock when pbxd took them"},
            "calls_waiting": {"type": "integer", "minimum": 0},
            "emergency_waiting": {"type": "integer", "minimum": 0},
            "longest_wait_s": {"type": "number", "minimum": 0},
            "agents_by_state": {"type": "object", "additionalProperties": {"type": "integer"},
                                "description": "ready, ringing, busy, wrapup, not_ready, "
                                               "logged_out: how many"},
            "trunks_up": {"type": "integer", "minimum": 0},
            "trunks_total": {"type": "integer", "minimum": 0},
            "received_at": {"type": "string", "format": "date-time"},
            "stale": {"type": "boolean", "description": "true: the box is offline or sent nothing "
                      "for 10 s; the figures are old"},
        },
    },
    "Live": {
        "allOf": [_ref("LiveSummary"), {
            "type": "object",
            "properties": {
                "box_id": {"type": "string"},
                "agents": {"type": "array", "items": {"type": "object", "properties": {
                    "agent_id": {"type": "string"}, "name": NULLABLE_STR, "state": {"type": "string"},
                    "state_zh": NULLABLE_STR, "reason": NULLABLE_STR,
                    "seconds": {"type": "number", "nullable": True}}}},
                "waiting": {"type": "array", "items": {"type": "object", "properties": {
                    "queue": {"type": "string"}, "priority": {"type": "string"},
                    "position": {"type": "integer", "nullable": True},
                    "wait_s": {"type": "number"}, "callback": {"type": "boolean", "nullable": True}}}},
                "trunks": {"type": "array", "items": {"type": "object", "properties": {
                    "name": {"type": "string"}, "d_channel": {"type": "string", "enum": ["up", "down"]},
                    "span_state": {"type": "string"},
                    "alarms": {"type": "array", "items": {"type": "string"}},
                    "idle_channels": {"type": "integer"}}}},
            },
        }],
    },
    "Box": {
        "type": "object", "required": ["box_id", "state", "live"],
        "properties": {
            "box_id": {"type": "string"},
            "state": {"type": "string", "enum": ["online", "offline", "unknown"]},
            "last_seen_at": {"type": "string", "format": "date-time", "nullable": True},
            "first_seen_at": {"type": "string", "format": "date-time", "nullable": True},
            "live": _ref("LiveSummary"),
        },
    },
    "BoxList": {
        "type": "object", "required": ["items", "next"],
        "properties": {"items": {"type": "array", "items": _ref("Box")},
                       "next": NULLABLE_STR},
    },
}

PARAMETERS: dict[str, Any] = {
    "box_id": {"name": "box_id", "in": "query", "required": False,
               "schema": {"type": "string", "pattern": "^[a-z0-9-]{3,64}$"},
               "description": "only this box"},
    "since": {"name": "since", "in": "query", "required": False,
              "schema": {"type": "string"},
              "description": "ISO 8601; received_at >= since. Without an offset the time "
                             "is Asia/Shanghai."},
    "limit": {"name": "limit", "in": "query", "required": False,
              "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                         "default": DEFAULT_LIMIT}},
    "cursor": {"name": "cursor", "in": "query", "required": False,
               "schema": {"type": "string"},
               "description": "the `next` value of the previous page (keyset pagination: "
                              "stable while new alarms arrive)"},
}

AUTH_ERRORS = {"401": _error("missing or invalid credentials"),
               "403": _error("the role may not do this")}


def _newest_first_list(summary: str, operation: str, schema: str, description: str) -> dict[str, Any]:
    """A list endpoint paged by box_id, since, limit and cursor (routes.newest_first_page)."""
    return {"get": {
        "summary": summary, "operationId": operation,
        "parameters": [{"$ref": f"#/components/parameters/{p}"}
                       for p in ("box_id", "since", "limit", "cursor")],
        "responses": {"200": _ok(schema, description),
                      "400": _error("a bad parameter (named in the message)"), **AUTH_ERRORS},
    }}


def openapi_document(version: str) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Anxin hub API", "version": version,
                 "description": "District hub of the Anxin (安心) elderly-care call centres. "
                                "Times are ISO 8601 in Asia/Shanghai (+08:00)."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}, {"sessionCookie": []}],
        "paths": {
            "/health": {"get": {
                "summary": "liveness and database check", "security": [],
                "operationId": "health",
                "responses": {"200": _ok("Health", "healthy"),
                              "503": _ok("Health", "the database is unreachable")},
            }},
            "/alarms": _newest_first_list("signals received from alarm equipment, newest first",
                                          "listAlarms", "AlarmList", "a page of alarms"),
            "/boxes": {"get": {
                "summary": "boxes with online state and last-seen time",
                "operationId": "listBoxes",
                "responses": {"200": _ok("BoxList", "all boxes"), **AUTH_ERRORS},
            }},
            "/calls": _newest_first_list("call records (CDR), newest first", "listCalls", "CallList",
                                         "a page of call records"),
            "/reports/kpi": {"get": {
                "summary": "service level, ASA, AHT, abandon rate and occupancy for calls that "
                           "joined a queue in [from, to)",
                "operationId": "kpiReport",
                "parameters": [
                    {"name": "from", "in": "query", "schema": {"type": "string"},
                     "description": "ISO 8601 (naive: Beijing time); default today 00:00"},
                    {"name": "to", "in": "query", "schema": {"type": "string"},
                     "description": "ISO 8601; default now; at most 31 days after from"},
                    {"$ref": "#/components/parameters/box_id"},
                    {"name": "sl_seconds", "in": "query",
                     "schema": {"type": "number", "minimum": 0, "maximum": 3600, "default": 20},
                     "description": "the service level's answer target"},
                    {"name": "short_abandon_s", "in": "query",
                     "schema": {"type": "number", "minimum": 0, "maximum": 600, "default": 5},
                     "description": "abandons sooner than this are left out"},
                ],
                "responses": {"200": _ok("Kpi", "the figures"),
                              "400": _error("a bad parameter (named in the message)"), **AUTH_ERRORS},
            }},
            "/boxes/{box_id}/live": {"get": {
                "summary": "a box's newest live figures: agents by state, calls waiting, trunks",
                "operationId": "getBoxLive",
                "parameters": [{"name": "box_id", "in": "path", "required": True,
                                "schema": {"type": "string", "pattern": "^[a-z0-9-]{3,64}$"}}],
                "responses": {"200": _ok("Live", "the newest live figures"),
                              "400": _error("a bad box id"),
                              "404": _error("no such box, or it has sent no live figures yet"),
                              **AUTH_ERRORS},
            }},
            "/openapi.json": {"get": {
                "summary": "this document", "security": [], "operationId": "openapi",
                "responses": {"200": {"description": "OpenAPI 3 document",
                                      "content": {"application/json": {
                                          "schema": {"type": "object"}}}}},
            }},
        },
        "components": {
            "schemas": SCHEMAS,
            "parameters": PARAMETERS,
            "responses": {"Error": _error("any error")},
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer",
                               "description": "a token from `anxin-hub create-token`"},
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "session",
                                  "description": "the web session after /login"},
            },
        },
    }
