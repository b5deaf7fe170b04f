from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.cases.hlc import Hlc
from appliance.cases.store import append_event, is_case_open, open_case
from appliance.store import fetch_batch, open_store, transaction

AT = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def test_open_case_commits_the_created_event_with_its_outbox_record(tmp_path: Path) -> None:
    conn = open_store(tmp_path)
    first = open_case(conn, origin="box-7", kind="complaint", at=AT, body={"caller": "13800138000"})
    second = open_case(conn, origin="box-7", kind="complaint", at=AT, body={})
    assert (first.case_id, second.case_id) == ("box-7:1", "box-7:2")
    assert first.hlc == Hlc(round(AT.timestamp() * 1000), 0) and second.hlc.counter == 1  # same ms
    batch = fetch_batch(conn, "bulk", 10)
    assert [(r.kind, r.id) for r in batch] == [("case_event", "box-7:1"), ("case_event", "box-7:2")]
    assert batch[0].body["type"] == "created" and batch[0].body["body"] == {"kind": "complaint",
                                                                         "caller": "13800138000"}
    stored = json.loads(conn.execute("SELECT body FROM case_events WHERE origin_seq = 1").fetchone()[0])
    assert stored["caller"] == "13800138000" and batch[0].at.endswith("+08:00")


def test_a_case_is_open_until_closed_and_open_again_when_reopened(tmp_path: Path) -> None:
    conn = open_store(tmp_path)
    case = open_case(conn, origin="b", kind="complaint", at=AT, body={}).case_id
    assert is_case_open(conn, case)
    append_event(conn, origin="b", case_id=case, type="closed", at=AT + timedelta(minutes=5), body={})
    assert not is_case_open(conn, case)
    append_event(conn, origin="b", case_id=case, type="reopened", at=AT + timedelta(minutes=9), body={})
    assert is_case_open(conn, case)
    assert is_case_open(conn, "unknown:1")  # unknown here: kept as open (retention errs on keeping)


def test_bad_events_are_refused_and_leave_nothing_behind(tmp_path: Path) -> None:
    conn = open_store(tmp_path)
    with pytest.raises(ValueError, match="case event type"):
        append_event(conn, origin="b", case_id="b:1", type="deleted", at=AT, body={})
    with pytest.raises(ValueError, match="timezone-aware"):
        append_event(conn, origin="b", case_id="b:1", type="note", at=datetime(2026, 12, 1), body={})
    assert conn.execute("SELECT COUNT(*) FROM case_events").fetchone()[0] == 0
    assert fetch_batch(conn, "bulk", 10) == []


def test_an_event_inside_the_callers_transaction_rolls_back_with_it(tmp_path: Path) -> None:
    conn = open_store(tmp_path)
    with pytest.raises(RuntimeError, match="boom"), transaction(conn):
        open_case(conn, origin="b", kind="complaint", at=AT, body={})
        raise RuntimeError("boom")
    assert conn.execute("SELECT COUNT(*) FROM case_events").fetchone()[0] == 0
    assert fetch_batch(conn, "bulk", 10) == []
