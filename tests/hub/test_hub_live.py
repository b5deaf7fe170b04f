"""Live figures from the boxes (CONTRACTS §6 `…/live`): the ingest's decision, the table, the API.

On SQLite and PostgreSQL (the db_url fixture), like every hub test that touches the database.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hub_testkit import NOW
from openapi_spec_validator import validate

from hub.ingest import core, store
from hub.timeutil import utc_now

TOPIC = "anxin/v1/box/box-001/live"


def live_payload(box_id: str = "box-001", at: str = "2026-12-01T14:00:00+08:00", **changes) -> dict:
    body = {
        "box_id": box_id, "format": 1, "at": at, "calls_waiting": 2, "emergency_waiting": 1,
        "longest_wait_s": 30.0, "agents_by_state": {"busy": 1, "ready": 1}, "trunks_up": 1, "trunks_total": 2,
        "agents": [{"agent_id": "1001", "name": "王芳", "state": "busy", "state_zh": "通话", "reason": None,
                    "seconds": 42.0},
                   {"agent_id": "1002", "name": "李娜", "state": "ready", "state_zh": "空闲", "reason": None,
                    "seconds": 3.5}],
        "waiting": [{"queue": "emergency", "priority": "emergency", "position": 1, "wait_s": 12.5,
                     "callback": False},
                    {"queue": "general", "priority": "other", "position": 2, "wait_s": 30.0,
                     "callback": True}],
        "trunks": [{"name": "e1-1", "d_channel": "up", "span_state": "up", "alarms": [], "idle_channels": 29},
                   {"name": "e1-2", "d_channel": "down", "span_state": "alarm", "alarms": ["los"],
                    "idle_channels": 0}],
    }
    return body | changes


def decide(body: object, topic: str = TOPIC) -> core.Action:
    return core.decide(topic, json.dumps(body, ensure_ascii=False).encode(), NOW)


def keep(engine, body: dict, now=None) -> bool:
    action = core.decide(f"anxin/v1/box/{body['box_id']}/live", json.dumps(body).encode(), now or utc_now())
    assert isinstance(action, core.UpdateLive), action
    with engine.begin() as conn:
        return store.apply_live(conn, action)


def test_the_ingest_takes_live_figures_on_a_shared_subscription() -> None:
    assert "$share/ingest/anxin/v1/box/+/live" in core.SUBSCRIPTIONS
    action = decide(live_payload())
    assert isinstance(action, core.UpdateLive)
    assert (action.box_id, action.at) == ("box-001", "2026-12-01T14:00:00+08:00")
    assert action.body["calls_waiting"] == 2


@pytest.mark.parametrize(("body", "why"), [
    (live_payload(box_id="box-002"), "box_id 'box-002' != topic box id 'box-001'"),
    (live_payload(calls_waiting=-1), "calls_waiting must be a non-negative integer"),
    (live_payload(trunks_up=True), "trunks_up must be a non-negative integer"),
    (live_payload(longest_wait_s="long"), "longest_wait_s must be a non-negative number"),
    (live_payload(agents_by_state={"ready": "two"}), "agents_by_state must map states"),
    (live_payload(waiting={"a": 1}), "waiting must be a list of objects"),
    (live_payload(at=""), "at must be a string"),
    ([1, 2], "not a JSON object"),
])
def test_malformed_live_figures_are_rejected_with_the_reason(body: object, why: str) -> None:
    action = decide(body)
    assert isinstance(action, core.Reject) and why in action.reason, action


def test_oversized_live_figures_are_rejected() -> None:
    huge = live_payload(agents=[{"agent_id": str(i), "name": "x" * 100} for i in range(3000)])
    action = decide(huge)
    assert isinstance(action, core.Reject) and "bytes (at most" in action.reason


def test_boxes_list_shows_each_boxs_newest_figures(client, auth, engine) -> None:
    assert keep(engine, live_payload())
    assert keep(engine, live_payload(at="2026-12-01T14:00:02+08:00", calls_waiting=3))
    # A late copy of an older one (another worker, out of order) does not win.
    assert not keep(engine, live_payload(at="2026-12-01T14:00:01+08:00", calls_waiting=9))
    [item] = client.get("/api/v1/boxes", headers=auth).json["items"]
    assert item["state"] == "online"
    live = item["live"]
    assert (live["at"], live["calls_waiting"], live["stale"]) == ("2026-12-01T14:00:02+08:00", 3, False)
    assert set(live) == {"at", "calls_waiting", "emergency_waiting", "longest_wait_s", "agents_by_state",
                         "trunks_up", "trunks_total", "received_at", "stale"}
    assert live["received_at"].endswith("+08:00")


def test_a_box_without_figures_has_live_null(client, auth, engine) -> None:
    with engine.begin() as conn:
        store.apply_status(conn, core.UpdateStatus("box-009", "online", NOW, retained=False))
    [item] = client.get("/api/v1/boxes", headers=auth).json["items"]
    assert item["live"] is None
    response = client.get("/api/v1/boxes/box-009/live", headers=auth)
    assert response.status_code == 404 and response.json["error"] == "no_live_figures"


def test_old_figures_or_an_offline_box_are_marked_stale(client, auth, engine) -> None:
    keep(engine, live_payload(), now=utc_now() - timedelta(seconds=30))
    assert client.get("/api/v1/boxes", headers=auth).json["items"][0]["live"]["stale"] is True
    keep(engine, live_payload(at="2026-12-01T14:01:00+08:00"))
    assert client.get("/api/v1/boxes", headers=auth).json["items"][0]["live"]["stale"] is False
    with engine.begin() as conn:
        store.apply_status(conn, core.UpdateStatus("box-001", "offline", utc_now(), retained=False))
    assert client.get("/api/v1/boxes", headers=auth).json["items"][0]["live"]["stale"] is True


def test_one_boxs_whole_live_figures(client, auth, engine) -> None:
    keep(engine, live_payload())
    live = client.get("/api/v1/boxes/box-001/live", headers=auth).json
    assert live["agents"][0]["name"] == "王芳" and live["waiting"][1]["callback"] is True
    assert live["trunks"][1]["alarms"] == ["los"] and live["stale"] is False
    missing = client.get("/api/v1/boxes/box-404/live", headers=auth)
    assert missing.status_code == 404 and missing.json["error"] == "not_found"
    bad = client.get("/api/v1/boxes/BAD_ID/live", headers=auth)
    assert bad.status_code == 400 and bad.json["message"].startswith("box_id:")
    assert client.get("/api/v1/boxes/box-001/live").status_code == 401


def test_the_openapi_document_describes_live_figures_and_stays_valid(client) -> None:
    document = client.get("/api/v1/openapi.json").json
    validate(document)
    assert "/boxes/{box_id}/live" in document["paths"]
    assert document["components"]["schemas"]["Box"]["properties"]["live"] == {
        "$ref": "#/components/schemas/LiveSummary"}


def test_a_box_whose_clock_stepped_back_is_not_frozen_out(client, auth, engine) -> None:
    keep(engine, live_payload(at="2026-12-01T14:30:00+08:00"), now=utc_now() - timedelta(seconds=30))
    # NTP stepped the box's clock back 20 minutes: its figures are older by its clock, newer by ours.
    assert keep(engine, live_payload(at="2026-12-01T14:10:00+08:00", calls_waiting=7))
    live = client.get("/api/v1/boxes/box-001/live", headers=auth).json
    assert (live["at"], live["calls_waiting"], live["stale"]) == ("2026-12-01T14:10:00+08:00", 7, False)
