"""The JSON API (/api/v1) with the Flask test client on a temporary SQLite file."""

from __future__ import annotations

import pytest
from hub_testkit import NOW, alarm_record
from openapi_spec_validator import validate

from hub.ingest import core, store


def test_health_needs_no_auth(client):
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json["ok"] is True
    assert response.json["db"] == "ok"
    assert response.json["version"]


def test_health_is_503_when_the_database_is_unreachable(app, client, tmp_path):
    from sqlalchemy import create_engine

    # A directory where the database file should be: SQLite cannot open it.
    (tmp_path / "isadir.db").mkdir()
    app.extensions["anxin_db"] = create_engine(f"sqlite:///{tmp_path}/isadir.db")
    response = client.get("/api/v1/health")
    assert response.status_code == 503
    assert response.json["ok"] is False
    assert response.json["db"] == "unreachable"


@pytest.mark.parametrize("path", ["/api/v1/alarms", "/api/v1/boxes"])
@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic dXNlcjpwdw==", "Bearer "])
def test_missing_or_bad_auth_is_401_json(client, path, header):
    headers = {"Authorization": header} if header else {}
    response = client.get(path, headers=headers)
    assert response.status_code == 401
    assert response.json["error"] == "unauthorized"
    assert response.json["message"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_token_auth_lists_alarms(client, auth, ingest):
    ingest([alarm_record(1)])
    response = client.get("/api/v1/alarms", headers=auth)
    assert response.status_code == 200
    [item] = response.json["items"]
    assert response.json["next"] is None
    assert item["box_id"] == "box-001"
    assert item["account"] == "5678"
    assert item["event_code"] == "101"
    assert item["qualifier"] == "new"
    assert item["zone"] == "001"
    assert item["partition"] == "00"
    assert item["event_zh"] == "紧急求助"
    assert item["life_safety"] is True
    assert item["recognised"] is True
    assert item["case_id"] is None
    assert item["received_at"] == "2026-11-22T13:05:01.123456+08:00"
    assert item["ingested_at"] == "2026-11-22T13:06:00+08:00"
    assert "raw_hex" not in item


def test_received_at_is_shown_in_shanghai_time_whatever_the_sender_offset(
        client, auth, ingest):
    ingest([alarm_record(1, received_at="2026-11-22T05:05:01+00:00")])
    [item] = client.get("/api/v1/alarms", headers=auth).json["items"]
    assert item["received_at"] == "2026-11-22T13:05:01+08:00"


def test_revoked_token_is_refused(client, engine, token, auth):
    import sqlalchemy as sa

    from hub.db.schema import api_tokens

    with engine.begin() as conn:
        conn.execute(sa.update(api_tokens).values(revoked_at=sa.func.current_timestamp()))
    assert client.get("/api/v1/alarms", headers=auth).status_code == 401


def test_newest_first_by_received_at_then_id(client, auth, ingest):
    ingest([
        alarm_record(1, received_at="2026-11-22T10:00:00+08:00"),
        alarm_record(2, received_at="2026-11-22T12:00:00+08:00"),
        # Same instant as seq 2 but written in UTC: must tie with it, ordered by id.
        alarm_record(3, received_at="2026-11-22T04:00:00+00:00"),
        alarm_record(4, received_at="2026-11-22T11:00:00+08:00"),
    ])
    items = client.get("/api/v1/alarms", headers=auth).json["items"]
    assert [i["received_at"][:19] for i in items] == [
        "2026-11-22T12:00:00", "2026-11-22T12:00:00", "2026-11-22T11:00:00",
        "2026-11-22T10:00:00"]
    assert items[0]["id"] > items[1]["id"]


def test_filter_by_box(client, auth, ingest):
    ingest([alarm_record(1)], box_id="box-001")
    ingest([alarm_record(1, signal_id="b" * 32)], box_id="box-002")
    items = client.get("/api/v1/alarms?box_id=box-002", headers=auth).json["items"]
    assert [i["box_id"] for i in items] == ["box-002"]
    assert len(client.get("/api/v1/alarms", headers=auth).json["items"]) == 2


def test_since_is_inclusive_and_naive_means_shanghai(client, auth, ingest):
    ingest([alarm_record(s, received_at=f"2026-11-22T1{s}:00:00+08:00") for s in range(4)])

    def hours(query):
        items = client.get(f"/api/v1/alarms?{query}", headers=auth).json["items"]
        return [i["received_at"][11:13] for i in items]

    assert hours("since=2026-11-22T12:00:00") == ["13", "12"]
    assert hours("since=2026-11-22T04:00:00%2B00:00") == ["13", "12"]
    assert hours("since=2026-11-22T12:00:01") == ["13"]
    assert hours("since=2026-11-22") == ["13", "12", "11", "10"]


def test_limit_and_cursor_walk_every_row_once(client, auth, ingest):
    # Pairs of equal received_at force the cursor to break ties by id.
    ingest([alarm_record(s, received_at=f"2026-11-22T10:00:0{s // 2}+08:00")
            for s in range(1, 8)])
    seen, cursor, pages = [], None, 0
    while True:
        url = "/api/v1/alarms?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url, headers=auth).json
        assert len(body["items"]) <= 2
        seen += [i["id"] for i in body["items"]]
        pages += 1
        cursor = body["next"]
        if cursor is None:
            break
    assert pages == 4
    assert len(seen) == 7 == len(set(seen))
    full = [i["id"] for i in client.get("/api/v1/alarms", headers=auth).json["items"]]
    assert seen == full


def test_cursor_is_stable_when_new_alarms_arrive(client, auth, ingest):
    ingest([alarm_record(s, received_at=f"2026-11-22T10:00:0{s}+08:00") for s in range(1, 5)])
    first = client.get("/api/v1/alarms?limit=2", headers=auth).json
    ingest([alarm_record(9, received_at="2026-11-22T11:00:00+08:00")])
    second = client.get(f"/api/v1/alarms?limit=2&cursor={first['next']}", headers=auth).json
    assert [i["received_at"][17:19] for i in second["items"]] == ["02", "01"]


@pytest.mark.parametrize(("query", "name"), [
    ("limit=0", "limit"), ("limit=1001", "limit"), ("limit=abc", "limit"),
    ("since=yesterday", "since"), ("box_id=BAD BOX", "box_id"), ("cursor=%%%", "cursor"),
    ("cursor=WzFd", "cursor"),
])
def test_bad_parameters_are_named(client, auth, query, name):
    response = client.get(f"/api/v1/alarms?{query}", headers=auth)
    assert response.status_code == 400
    assert response.json["error"] == "bad_parameter"
    assert response.json["message"].startswith(f"{name}: ")


def test_limit_message_is_exact(client, auth):
    body = client.get("/api/v1/alarms?limit=5000", headers=auth).json
    assert body["message"] == "limit: must be an integer between 1 and 1000"


def test_limit_bounds_are_allowed(client, auth):
    for limit in (1, 1000):
        assert client.get(f"/api/v1/alarms?limit={limit}", headers=auth).status_code == 200


def test_unknown_api_path_and_wrong_method_are_json(client, auth):
    response = client.get("/api/v1/nothing-here", headers=auth)
    assert response.status_code == 404
    assert response.json["error"] == "not_found"
    response = client.post("/api/v1/alarms", headers=auth)
    assert response.status_code == 405
    assert response.json["error"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


def test_unexpected_error_is_500_json(app, client, auth, monkeypatch):
    from hub.db import queries

    def boom(*_a, **_k):
        raise RuntimeError("kaput")

    monkeypatch.setattr(queries, "list_alarms", boom)
    app.testing = False  # let the error handler answer instead of re-raising
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.get("/api/v1/alarms", headers=auth)
    assert response.status_code == 500
    assert response.json == {"error": "internal_error", "message": "internal server error"}


def test_boxes_show_state_and_times(client, auth, ingest, engine):
    ingest([alarm_record(1)], box_id="box-001")
    with engine.begin() as conn:
        store.apply_status(conn, core.UpdateStatus("box-002", "offline", NOW, retained=True))
    items = client.get("/api/v1/boxes", headers=auth).json["items"]
    assert items == [
        {"box_id": "box-001", "state": "online", "first_seen_at": "2026-11-22T13:06:00+08:00",
         "last_seen_at": "2026-11-22T13:06:00+08:00", "live": None},
        {"box_id": "box-002", "state": "offline", "first_seen_at": "2026-11-22T13:06:00+08:00",
         "last_seen_at": None, "live": None},
    ]


def test_openapi_document_validates_and_covers_the_api(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.json
    validate(doc)
    assert {"/health", "/alarms", "/boxes"} <= set(doc["paths"])
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    params = {p["$ref"].rsplit("/", 1)[1] for p in doc["paths"]["/alarms"]["get"]["parameters"]}
    assert params == {"box_id", "since", "limit", "cursor"}
    assert set(doc["components"]["schemas"]["Error"]["required"]) == {"error", "message"}
    # Every field the endpoint returns is described.
    described = set(doc["components"]["schemas"]["Alarm"]["properties"])
    from hub.api.routes import ALARM_FIELDS
    assert set(ALARM_FIELDS) | {"received_at", "ingested_at", "case_id", "note"} <= described
