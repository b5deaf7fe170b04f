"""Call records (kind "call") at /api/v1/calls and the district's figures at /api/v1/reports/kpi.

The queue log goes over the wire as the box writes it (appliance/pbx/queue_log.py: its
``at`` stamped in +08:00), and the hub's figures must equal what the box's own metrics say.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from hub_testkit import NOW
from openapi_spec_validator import validate

from appliance.acd.events import QueueEvent
from appliance.acd.metrics import agent_occupancy, overall_occupancy, queue_metrics
from appliance.pbx.cdr import stamp
from hub.timeutil import SHANGHAI

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=SHANGHAI).timestamp()


def call_record(seq: int, call_id: str, **body) -> dict:
    full = {"call_id": call_id, "direction": "in", "span": "span1", "caller": "13800138000",
            "called": "96101", "category": "elder", "elder_id": "E001",
            "started_at": f"2026-12-01T10:{seq:02d}:00.250000+08:00",
            "answered_at": f"2026-12-01T10:{seq:02d}:05+08:00",
            "ended_at": f"2026-12-01T10:{seq:02d}:50+08:00",
            "ended_by": "caller", "outcome": "agent", "flow": "default", "digits": "1", "queue": "general",
            "queue_wait_s": 4.5, "agent": "1001", "talk_s": 40.0, "survey_score": 1, "survey_label": "满意",
            "recording_id": f"r-{call_id}", "message_recording_id": None, "case_id": None} | body
    return {"seq": seq, "kind": "call", "id": call_id, "at": full["started_at"], "body": full}


def test_call_records_are_listed_newest_first_with_paging(client, auth, ingest) -> None:
    ingest([call_record(1, "span1-1"), call_record(2, "span1-2", outcome="abandoned", agent=None,
                                                    talk_s=None, answered_at=None)], lane="bulk")
    # The same call id on another box is another call.
    ingest([call_record(3, "span1-1", caller="13900000000")], box_id="box-002", lane="bulk")
    ingest([call_record(1, "span1-1")], lane="bulk")  # a redelivery: stored once
    page = client.get("/api/v1/calls?limit=2", headers=auth).json
    assert [(c["box_id"], c["call_id"]) for c in page["items"]] == [("box-002", "span1-1"),
                                                                     ("box-001", "span1-2")]
    rest = client.get(f"/api/v1/calls?limit=2&cursor={page['next']}", headers=auth).json
    assert [(c["box_id"], c["call_id"]) for c in rest["items"]] == [("box-001", "span1-1")]
    assert rest["next"] is None
    first = rest["items"][0]
    assert (first["started_at"], first["answered_at"]) == ("2026-12-01T10:01:00.250000+08:00",
                                                          "2026-12-01T10:01:05+08:00")
    assert (first["queue_wait_s"], first["talk_s"], first["agent"], first["survey_label"]) == \
        (4.5, 40.0, "1001", "满意")
    assert first["recording_id"] == "r-span1-1"
    only = client.get("/api/v1/calls?box_id=box-001&since=2026-12-01T10:02:00", headers=auth).json["items"]
    assert [c["call_id"] for c in only] == ["span1-2"] and only[0]["outcome"] == "abandoned"
    assert client.get("/api/v1/calls?limit=0", headers=auth).json["message"].startswith("limit:")


def test_a_call_record_with_bad_fields_is_stored_without_them(client, auth, ingest) -> None:
    ingest([call_record(1, "span1-9", talk_s="long", answered_at="yesterday")], lane="bulk")
    [call] = client.get("/api/v1/calls", headers=auth).json["items"]
    assert call["talk_s"] is None and call["answered_at"] is None and call["outcome"] == "agent"


def box_events(offset: float = 0.0) -> list[QueueEvent]:
    """One box's morning: c1 answered in 5 s (60 s talk, 10 s wrap-up), c2 abandoned after
    30 s, c3 a short abandon (2 s), c4 answered in 30 s (120 s talk) — and agent 1001's day."""
    t = T0 + offset
    return [
        QueueEvent(t - 60, "logged_in", None, None, "1001", {"device": "8001"}),
        QueueEvent(t, "joined", "c1", "general", None, {"priority": "elder", "position": 1}),
        QueueEvent(t + 5, "connected", "c1", "general", "1001", {"wait_s": 5.0, "ring_s": 2.0}),
        QueueEvent(t + 65, "completed", "c1", "general", "1001", {"by": "caller", "wait_s": 5.0,
                                                                   "talk_s": 60.0}),
        QueueEvent(t + 65, "wrapup_started", None, None, "1001", {}),
        QueueEvent(t + 75, "wrapup_ended", None, None, "1001", {"wrapup_s": 10.0}),
        QueueEvent(t + 100, "joined", "c2", "general", None, {"priority": "other", "position": 1}),
        QueueEvent(t + 130, "abandoned", "c2", "general", None, {"wait_s": 30.0, "position": 1}),
        QueueEvent(t + 200, "joined", "c3", "emergency", None, {"priority": "emergency", "position": 1}),
        QueueEvent(t + 202, "abandoned", "c3", "emergency", None, {"wait_s": 2.0, "position": 1}),
        QueueEvent(t + 300, "joined", "c4", "emergency", None, {"priority": "emergency", "position": 1}),
        QueueEvent(t + 330, "connected", "c4", "emergency", "1001", {"wait_s": 30.0, "ring_s": 3.0}),
        QueueEvent(t + 450, "completed", "c4", "emergency", "1001", {"by": "agent", "wait_s": 30.0,
                                                                      "talk_s": 120.0}),
        QueueEvent(t + 450, "wrapup_started", None, None, "1001", {}),
        QueueEvent(t + 450, "wrapup_ended", None, None, "1001", {"wrapup_s": 0.0}),
        QueueEvent(t + 3540, "logged_out", None, None, "1001", {"device": "8001"}),
    ]


def as_records(events: list[QueueEvent]) -> list[dict]:
    """As appliance/pbx/queue_log.py puts them in the outbox."""
    out = []
    for seq, e in enumerate(events, 1):
        kind = "agent_event" if e.call_id is None else "queue_event"
        at = stamp(e.at)
        out.append({"seq": seq, "kind": kind, "id": f"q{seq}", "at": at, "body": {**e.to_dict(), "at": at}})
    return out


def test_the_hub_figures_equal_the_boxs_own(client, auth, ingest) -> None:
    ingest(as_records(box_events()), box_id="box-001", lane="bulk")
    ingest(as_records(box_events(offset=1800)), box_id="box-002", lane="bulk")  # the same call ids
    report = client.get("/api/v1/reports/kpi?from=2026-12-01T09:00:00&to=2026-12-01T12:00:00",
                        headers=auth).json
    calls = report["calls"]
    # Eight calls, two short abandons left out: 4 answered, 2 judged abandons.
    assert (calls["offered"], calls["answered"], calls["abandoned"], calls["short_abandoned"]) == (8, 4, 4, 2)
    assert calls["service_level"] == pytest.approx(2 / 6) and calls["abandon_rate"] == pytest.approx(2 / 6)
    assert calls["asa_s"] == pytest.approx(17.5) and calls["aht_s"] == pytest.approx((70 + 120) / 2)
    assert calls["max_wait_s"] == 30.0
    box = queue_metrics(box_events(), start=T0 - 3600, end=T0 + 7200)
    for name in ("service_level", "abandon_rate", "asa_s", "aht_s", "offered", "answered"):
        mine = getattr(box, {"asa_s": "asa", "aht_s": "aht"}.get(name, name))
        assert report["by_box"]["box-001"][name] == pytest.approx(mine), name
    assert report["by_queue"]["emergency"]["answered"] == 2 and report["emergency"]["asa_s"] == 30.0
    # Each agent: an hour logged in, 60 + 120 s talking and 10 s wrap-up (no offer, so no ringing).
    own = overall_occupancy(agent_occupancy(box_events(), start=T0 - 3600, end=T0 + 7200)).occupancy
    assert report["occupancy"] == pytest.approx(own) == pytest.approx(190 / 3600)
    assert (report["from"], report["to"], report["sl_seconds"]) == \
        ("2026-12-01T09:00:00+08:00", "2026-12-01T12:00:00+08:00", 20.0)
    narrow = client.get("/api/v1/reports/kpi?from=2026-12-01T09:00:00&to=2026-12-01T12:00:00"
                        "&box_id=box-002&sl_seconds=40&short_abandon_s=0", headers=auth).json
    assert narrow["calls"]["offered"] == 4 and narrow["calls"]["service_level"] == pytest.approx(2 / 4)
    assert list(narrow["by_box"]) == ["box-002"]


def test_kpi_window_outside_the_calls_has_nothing_to_divide(client, auth, ingest) -> None:
    ingest(as_records(box_events()), lane="bulk")
    report = client.get("/api/v1/reports/kpi?from=2026-12-02T00:00:00&to=2026-12-03T00:00:00",
                        headers=auth).json
    assert report["calls"]["offered"] == 0 and report["calls"]["service_level"] is None


@pytest.mark.parametrize(("query", "name"), [
    ("from=yesterday", "from"), ("to=2026-11-01T00:00:00&from=2026-12-01T00:00:00", "to"),
    ("from=2026-01-01T00:00:00&to=2026-12-01T00:00:00", "to"), ("sl_seconds=-1", "sl_seconds"),
    ("short_abandon_s=nan", "short_abandon_s"), ("box_id=NO", "box_id"),
])
def test_a_bad_kpi_parameter_is_named(client, auth, query, name) -> None:
    response = client.get(f"/api/v1/reports/kpi?{query}", headers=auth)
    assert response.status_code == 400 and response.json["message"].startswith(f"{name}:"), response.json


def test_unreadable_queue_events_are_counted_not_fatal(client, auth, ingest) -> None:
    records = as_records(box_events())
    records.append({"seq": 99, "kind": "queue_event", "id": "q99", "at": "2026-12-01T10:30:00+08:00",
                    "body": {"at": "not a time", "kind": "joined"}})
    ingest(records, lane="bulk", now=NOW)
    report = client.get("/api/v1/reports/kpi?from=2026-12-01T09:00:00&to=2026-12-01T12:00:00",
                        headers=auth).json
    assert report["unreadable_events"] == 1 and report["calls"]["offered"] == 4


def test_the_openapi_document_describes_calls_and_kpi(client) -> None:
    document = client.get("/api/v1/openapi.json").json
    validate(document)
    assert {"/calls", "/reports/kpi"} <= set(document["paths"])


def test_a_call_record_that_would_not_fit_a_column_does_not_stall_the_lane(client, auth, ingest) -> None:
    outcome = ingest([call_record(1, "span1-7", survey_score=3_000_000_000, caller="1380\x000138000")],
                     lane="bulk")
    assert (outcome.new, outcome.upto) == (1, 1)  # stored and acked
    [call] = client.get("/api/v1/calls", headers=auth).json["items"]
    assert call["survey_score"] is None and call["caller"] == "13800138000"


def test_a_call_that_joined_before_the_window_is_not_counted_in_it(client, auth, ingest) -> None:
    ingest(as_records(box_events()), lane="bulk")
    # From 10:00:03: c1 (joined 10:00:00, answered 10:00:05) belongs to the hour before.
    report = client.get("/api/v1/reports/kpi?from=2026-12-01T10:00:03&to=2026-12-01T11:00:03",
                        headers=auth).json
    assert report["calls"]["offered"] == 3 and report["calls"]["answered"] == 1
    before = client.get("/api/v1/reports/kpi?from=2026-12-01T09:00:03&to=2026-12-01T10:00:03",
                        headers=auth).json
    assert before["calls"]["offered"] == 1 and before["calls"]["answered"] == 1
    # The agent logged in at 09:59, before the window: logged in from its start to 10:59 (3,537 s).
    own = overall_occupancy(agent_occupancy(box_events(), start=T0 + 3, end=T0 + 3603)).occupancy
    assert report["occupancy"] == pytest.approx(own) == pytest.approx(190 / 3537)


def test_an_event_with_a_queue_that_is_not_a_name_is_unreadable(client, auth, ingest) -> None:
    records = as_records(box_events())
    records.append({"seq": 99, "kind": "queue_event", "id": "q99", "at": "2026-12-01T10:30:00+08:00",
                    "body": {"at": "2026-12-01T10:30:00+08:00", "kind": "joined", "call_id": "c9",
                             "queue": ["general"], "agent_id": None, "data": {}}})
    ingest(records, lane="bulk")
    report = client.get("/api/v1/reports/kpi?from=2026-12-01T09:00:00&to=2026-12-01T12:00:00",
                        headers=auth).json
    assert report["unreadable_events"] == 1 and report["calls"]["offered"] == 4


def test_a_far_future_window_is_a_named_error(client, auth) -> None:
    response = client.get("/api/v1/reports/kpi?from=9999-12-30T00:00:00&to=9999-12-31T00:00:00",
                          headers=auth)
    assert response.status_code == 400 and response.json["message"].startswith("to:")


def task_records() -> list[dict]:
    """Three missed calls' tasks through the box's own book, each step's records as
    appliance/pbx/callback_tasks.py sends them right after it: one reached after 10 min,
    one closed no_answer after 15 min (from its own creation: 13 min 20 s), one still open."""
    from appliance.acd.missed import MissedCalls
    from appliance.pbx.callback_tasks import task_body

    book, out = MissedCalls(), []

    def sent() -> None:
        for event in book.events():
            at = stamp(event.at)
            out.append({"seq": len(out) + 1, "kind": "callback_task", "id": f"t{len(out) + 1}", "at": at,
                        "body": {"event": event.kind, "at": at, "data": dict(event.data),
                                 "task": task_body(book.task(event.task_id))}})

    book.agent_logged_in("1001", T0 - 60)
    sent()
    for i, number in enumerate(("13900000001", "13900000002", "13900000003")):
        book.add(f"c{i}", number, "general", T0 + 100 * i, 30.0, "abandoned")
        sent()
    first, second, _ = (t.task_id for t in book.open_tasks())
    book.close(first, "reached", T0 + 600, "1001")
    sent()
    book.close(second, "no_answer", T0 + 900, "1001")
    sent()
    return out


def test_missed_calls_response_rate_from_the_boxs_callback_tasks(client, auth, ingest) -> None:
    ingest(task_records(), lane="bulk")
    report = client.get("/api/v1/reports/kpi?from=2026-12-01T09:00:00&to=2026-12-01T12:00:00",
                        headers=auth).json
    assert report["missed_calls"] == {"tasks": 3, "closed": 2, "reached": 1, "open": 1,
                                      "response_rate": pytest.approx(2 / 3), "median_close_s": 700.0}
    later = client.get("/api/v1/reports/kpi?from=2026-12-01T11:00:00&to=2026-12-01T12:00:00",
                       headers=auth).json
    assert later["missed_calls"]["tasks"] == 0 and later["missed_calls"]["response_rate"] is None
