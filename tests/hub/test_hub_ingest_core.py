"""The ingest core (sans I/O) and its database writes, without MQTT."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from hub_testkit import NOW, alarm_record, batch_payload

from hub.db.schema import alarms, boxes, lane_acks, records
from hub.ingest import core, store

TOPIC = "anxin/v1/box/box-001/up/alarm"


def count(engine, table):
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()


def test_decide_builds_a_batch_with_alarm_rows():
    action = core.decide(TOPIC, batch_payload("box-001", "alarm", [alarm_record(17)]), NOW)
    assert isinstance(action, core.StoreBatch)
    assert (action.box_id, action.lane, action.first_seq, action.last_seq) == \
        ("box-001", "alarm", 17, 17)
    row = action.alarms[17]
    assert row["signal_id"] == f"{17:032x}"
    assert row["received_at"].utcoffset() == timedelta(hours=8)
    assert row["ingested_at"] == NOW
    assert row["case_id"] is None


def test_ack_is_the_stored_high_water_mark():
    ack = core.ack_for("box-001", "bulk", 42)
    assert ack.topic == "anxin/v1/box/box-001/ack/bulk"
    assert json.loads(ack.payload) == {"upto": 42}
    assert ack.qos == 1


def test_duplicates_are_stored_once(engine, ingest):
    first = ingest([alarm_record(1), alarm_record(2)])
    assert (first.new, first.duplicate, first.upto) == (2, 0, 2)
    again = ingest([alarm_record(1), alarm_record(2)])  # the ack was lost; box resends
    assert (again.new, again.duplicate, again.upto) == (0, 2, 2)
    overlap = ingest([alarm_record(2), alarm_record(3)])
    assert (overlap.new, overlap.duplicate, overlap.upto) == (1, 1, 3)
    assert count(engine, records) == 3
    assert count(engine, alarms) == 3


def test_high_water_mark_never_goes_back(engine, ingest):
    assert ingest([alarm_record(5), alarm_record(6)]).upto == 6
    # An old batch redelivered late (e.g. by another worker) acks the stored mark.
    assert ingest([alarm_record(3)]).upto == 6
    with engine.connect() as conn:
        assert conn.execute(sa.select(lane_acks.c.upto)).scalar() == 6
    assert ingest([alarm_record(7)]).upto == 7


def test_lanes_and_boxes_have_their_own_marks(ingest):
    assert ingest([alarm_record(9)], lane="alarm").upto == 9
    bulk = [{"seq": 1, "kind": "call", "id": "c1", "at": "2026-11-22T13:00:00+08:00",
             "body": {"duration": 30}}]
    assert ingest(bulk, lane="bulk").upto == 1
    assert ingest([alarm_record(2)], box_id="box-002").upto == 2
    # Same seq on another box or lane is a different record.
    assert ingest([alarm_record(9, signal_id="f" * 32)], box_id="box-002").new == 1


def test_unknown_kinds_are_kept(engine, ingest):
    outcome = ingest([
        {"seq": 1, "kind": "device_trouble", "id": "t1", "at": "2026-11-22T13:00:00+08:00",
         "body": {"trouble_id": "t1", "type": "receiver_link", "state": "open"}},
        {"seq": 2, "kind": "something_new", "id": "x", "at": "2026-11-22T13:00:00+08:00",
         "body": [1, 2, 3]},
    ])
    assert outcome.new == 2
    with engine.connect() as conn:
        rows = conn.execute(sa.select(records.c.kind, records.c.body)
                            .order_by(records.c.seq)).all()
    assert rows == [("device_trouble", {"trouble_id": "t1", "type": "receiver_link",
                                        "state": "open"}), ("something_new", [1, 2, 3])]
    assert count(engine, alarms) == 0


def test_unrecognised_alarm_is_projected(engine, ingest):
    ingest([alarm_record(1, recognised=False, account=None, event_code=None,
                         qualifier=None, zone=None, note="unknown format")])
    with engine.connect() as conn:
        row = conn.execute(sa.select(alarms)).one()
    assert row.recognised is False
    assert row.event_code is None
    assert row.note == "unknown format"


def test_malformed_alarm_body_is_kept_without_blocking_the_lane(engine, ingest):
    bad = {"seq": 1, "kind": "alarm", "id": "a" * 32, "at": "not a time", "body": "oops"}
    timeless = alarm_record(2, received_at="garbage")
    outcome = ingest([bad, timeless])
    assert (outcome.new, outcome.upto) == (2, 2)
    with engine.connect() as conn:
        [row] = conn.execute(sa.select(alarms)).all()
    assert row.seq == 2
    assert row.received_at == NOW  # fell back to the ingest time


def test_batch_marks_the_box_seen(engine, ingest):
    ingest([alarm_record(1)])
    ingest([alarm_record(2)], now=NOW + timedelta(minutes=5))
    with engine.connect() as conn:
        box = conn.execute(sa.select(boxes)).one()
    assert box.state == "online"
    assert box.first_seen_at == NOW
    assert box.last_seen_at == NOW + timedelta(minutes=5)


def test_status_updates_state_and_retained_does_not_fake_last_seen(engine):
    def status(state, retained, now):
        action = core.decide("anxin/v1/box/box-001/status",
                             json.dumps({"state": state}).encode(), now, retained=retained)
        assert isinstance(action, core.UpdateStatus)
        with engine.begin() as conn:
            store.apply_status(conn, action)
        with engine.connect() as conn:
            return conn.execute(sa.select(boxes)).one()

    box = status("online", False, NOW)
    assert (box.state, box.last_seen_at) == ("online", NOW)
    box = status("offline", True, NOW + timedelta(hours=1))
    assert (box.state, box.last_seen_at) == ("offline", NOW)


def _batch(**overrides):
    payload = {"box_id": "box-001", "lane": "alarm",
               "batch": [alarm_record(1), alarm_record(2)]}
    payload.update(overrides)
    return json.dumps(payload).encode()


@pytest.mark.parametrize(("topic", "payload", "reason"), [
    (TOPIC, b"{not json", "not UTF-8 JSON"),
    (TOPIC, b"\xff\xfe", "not UTF-8 JSON"),
    (TOPIC, b"[1]", "not a JSON object"),
    (TOPIC, _batch(box_id="box-002"), "box_id"),
    (TOPIC, _batch(lane="bulk"), "lane"),
    ("anxin/v1/box/box-001/up/bulk", _batch(), "lane"),
    (TOPIC, _batch(batch=[]), "non-empty"),
    (TOPIC, _batch(batch={"seq": 1}), "non-empty"),
    (TOPIC, _batch(batch=[alarm_record(2), alarm_record(1)]), "strictly increasing"),
    (TOPIC, _batch(batch=[alarm_record(2), alarm_record(2)]), "strictly increasing"),
    (TOPIC, _batch(batch=[{**alarm_record(1), "seq": "1"}]), "seq"),
    (TOPIC, _batch(batch=[{**alarm_record(1), "seq": True}]), "seq"),
    (TOPIC, _batch(batch=[{**alarm_record(1), "seq": 1.5}]), "seq"),
    (TOPIC, _batch(batch=[{**alarm_record(1), "kind": ""}]), "kind"),
    (TOPIC, _batch(batch=[{"seq": 1, "kind": "alarm", "at": "x"}]), "id"),
    (TOPIC, _batch(batch=["x"]), "not an object"),
    ("anxin/v1/box/BOX/up/alarm", _batch(), "box id"),
    ("anxin/v1/box/box-001/up/weird", _batch(), "unknown lane"),
    ("anxin/v1/box/box-001/status", b'{"state":"asleep"}', "state"),
])
def test_invalid_messages_are_rejected_with_a_reason(topic, payload, reason):
    action = core.decide(topic, payload, NOW)
    assert isinstance(action, core.Reject)
    assert reason in action.reason


def test_pull_is_ignored_not_rejected():
    action = core.decide("anxin/v1/box/box-001/up/pull", b'{"since":3}', NOW)
    assert isinstance(action, core.Ignore)


class FakeClient:
    def __init__(self):
        self.published = []

    def publish(self, topic, payload, qos=0):
        self.published.append((topic, json.loads(payload), qos))


def test_worker_acks_after_commit_and_not_for_invalid_messages(engine):
    from hub.ingest.worker import IngestWorker
    from hub.settings import MqttAddress

    worker = IngestWorker(engine, MqttAddress("127.0.0.1", 1, False), clock=lambda: NOW)
    worker.client = FakeClient()
    worker.handle(TOPIC, b"garbage")
    worker.handle(TOPIC, _batch(batch=[alarm_record(2), alarm_record(1)]))
    assert worker.client.published == []
    assert count(engine, records) == 0

    worker.handle(TOPIC, _batch())
    worker.handle(TOPIC, _batch())
    assert worker.client.published == [("anxin/v1/box/box-001/ack/alarm", {"upto": 2}, 1)] * 2
    assert count(engine, alarms) == 2


def test_worker_does_not_ack_when_the_database_fails(engine, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from hub.ingest.worker import IngestWorker
    from hub.settings import MqttAddress

    def fail(*_a, **_k):
        raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    worker = IngestWorker(engine, MqttAddress("127.0.0.1", 1, False), clock=lambda: NOW)
    worker.client = FakeClient()
    monkeypatch.setattr(store, "apply_batch", fail)
    assert worker.handle(TOPIC, _batch()) is None
    assert worker.client.published == []
