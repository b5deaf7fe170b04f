"""box.db rows of recordings and the export audit log (schema version 3)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from appliance.recording import index
from appliance.recording.index import RecordingIndexError
from appliance.store import fetch_batch, open_store, transaction

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    return open_store(tmp_path)


def add(conn: sqlite3.Connection, rid: str, started: datetime = T0, **kw: object) -> None:
    fields: dict[str, Any] = {"kind": "call", "path": f"/rec/{rid}.arec", "started_at": started, "key_id": 1,
              "call_id": f"call-{rid}", "caller": "02988886666", "callee": "12349", "agent": "801",
              "queue": "general", **kw}
    index.add_recording(conn, recording_id=rid, **fields)


def test_a_recording_row_through_its_life(conn: sqlite3.Connection) -> None:
    add(conn, "r1")
    row = index.get_recording(conn, "r1")
    assert (row.state, row.duration_s, row.size, row.caller, row.queue) == (
        "recording", None, None, "02988886666", "general")
    assert row.started_at == T0
    assert row.started_at.utcoffset() == timedelta(hours=8)  # stored in Asia/Shanghai
    index.finish_recording(conn, "r1", duration_s=61.5, size=987_654, at=T0 + timedelta(seconds=62))
    index.link_case(conn, "r1", "case-17")
    row = index.get_recording(conn, "r1")
    assert (row.state, row.duration_s, row.size, row.case_id) == ("complete", 61.5, 987_654, "case-17")
    index.mark_deleted(conn, "r1", at=T0 + timedelta(days=40), reason="disk_space")
    row = index.get_recording(conn, "r1")
    assert (row.state, row.deleted_reason) == ("deleted", "disk_space")
    assert row.deleted_at.startswith("2025-04-10T17:00:00")
    assert index.list_recordings(conn) == []
    assert [r.recording_id for r in index.list_recordings(conn, include_deleted=True)] == ["r1"]


def test_finished_and_deleted_recordings_are_queued_for_the_hub(conn: sqlite3.Connection) -> None:
    add(conn, "r1", case_id="case-1")
    assert fetch_batch(conn, "bulk", 10) == []  # nothing until the file is complete
    index.finish_recording(conn, "r1", duration_s=3.0, size=100, at=T0)
    index.mark_deleted(conn, "r1", at=T0, reason="max_age")
    records = fetch_batch(conn, "bulk", 10)
    assert [(r.kind, r.id) for r in records] == [("recording", "r1"), ("recording_deleted", "r1")]
    body = records[0].body
    assert (body["caller"], body["duration_s"], body["case_id"]) == ("02988886666", 3.0, "case-1")
    assert "path" not in body  # where the box keeps a file is its own business
    assert json.dumps(body)  # plain JSON for the wire


def test_index_changes_that_make_no_sense_are_refused(conn: sqlite3.Connection) -> None:
    add(conn, "r1")
    with pytest.raises(RecordingIndexError, match="already indexed"):
        add(conn, "r1")
    with pytest.raises(RecordingIndexError, match="already indexed"):
        add(conn, "r2", path="/rec/r1.arec")  # two rows can never own one file
    with pytest.raises(ValueError, match="kind"):
        add(conn, "r3", kind="voicemail")
    with pytest.raises(RecordingIndexError, match="no recording"):
        index.get_recording(conn, "nope")
    with pytest.raises(RecordingIndexError, match="no recording"):
        index.link_case(conn, "nope", "c")
    index.finish_recording(conn, "r1", duration_s=1, size=1, at=T0)
    with pytest.raises(RecordingIndexError, match="finished or deleted"):
        index.finish_recording(conn, "r1", duration_s=1, size=1, at=T0)
    index.mark_deleted(conn, "r1", at=T0, reason="max_age")
    with pytest.raises(RecordingIndexError, match="already deleted"):
        index.mark_deleted(conn, "r1", at=T0, reason="max_age")
    with pytest.raises(ValueError, match="timezone-aware"):
        add(conn, "r4", started=datetime(2025, 1, 1))


def test_rows_a_crash_left_open_become_interrupted(conn: sqlite3.Connection) -> None:
    add(conn, "r1")
    add(conn, "r2")
    index.finish_recording(conn, "r2", duration_s=1, size=1, at=T0)
    assert index.mark_interrupted(conn) == ["r1"]
    assert index.get_recording(conn, "r1").state == "interrupted"
    # a later repair may still finish it (the intact part was measured)
    index.finish_recording(conn, "r1", duration_s=0.5, size=10, at=T0)
    assert index.get_recording(conn, "r1").state == "complete"


def test_list_filters_and_order(conn: sqlite3.Connection) -> None:
    east = timezone(timedelta(hours=9))
    add(conn, "late", T0 + timedelta(hours=2))
    add(conn, "early", (T0 + timedelta(hours=1)).astimezone(east))  # other offsets are normalised
    add(conn, "msg", T0 + timedelta(hours=3), kind="message", call_id="call-x", case_id="case-9")
    assert [r.recording_id for r in index.list_recordings(conn)] == ["early", "late", "msg"]
    assert [r.recording_id for r in index.list_recordings(conn, case_id="case-9")] == ["msg"]
    assert [r.recording_id for r in index.list_recordings(conn, call_id="call-late")] == ["late"]
    window = index.list_recordings(conn, since=T0 + timedelta(hours=1, minutes=30),
                                   until=T0 + timedelta(hours=3))
    assert [r.recording_id for r in window] == ["late"]


def test_retention_candidates_skip_open_and_deleted_files(conn: sqlite3.Connection) -> None:
    for rid, age in (("old", 40), ("open", 50), ("gone", 60), ("young", 3)):
        add(conn, rid, T0 - timedelta(days=age))
    for rid in ("old", "gone", "young"):
        index.finish_recording(conn, rid, duration_s=1, size=1, at=T0)
    index.mark_deleted(conn, "gone", at=T0, reason="max_age")
    cutoff = T0 - timedelta(days=31)
    assert [r.recording_id for r in index.retention_candidates(conn, started_by=cutoff)] == ["old"]
    assert index.count_recordings(conn, started_after=cutoff) == 1


def test_export_audit_rows_are_written_once_and_never_removed(conn: sqlite3.Connection) -> None:
    add(conn, "r1")
    eid = index.log_export_started(conn, recording_id="r1", exported_by=" 张班长 ", reason="工单 C-17",
                                   at=T0, out_path="/tmp/r1.wav", fmt="alaw")
    (row,) = index.export_log(conn, recording_id="r1")
    assert (row.export_id, row.exported_by, row.reason, row.outcome) == (eid, "张班长", "工单 C-17", None)
    index.log_export_outcome(conn, eid, outcome="ok", at=T0 + timedelta(seconds=2), detail="3.00 s")
    (row,) = index.export_log(conn, export_id=eid)
    assert (row.outcome, row.detail) == ("ok", "3.00 s")
    with pytest.raises(sqlite3.DatabaseError, match="audit log"):
        index.log_export_outcome(conn, eid, outcome="failed", at=T0)
    with pytest.raises(sqlite3.DatabaseError, match="audit log"), transaction(conn):
        conn.execute("UPDATE recording_exports SET exported_by = 'someone else'")
    with pytest.raises(sqlite3.DatabaseError, match="never deleted"), transaction(conn):
        conn.execute("DELETE FROM recording_exports")
    assert len(index.export_log(conn)) == 1
    export_records = [r for r in fetch_batch(conn, "bulk", 10) if r.kind == "recording_export"]
    assert [r.body["outcome"] for r in export_records] == ["ok"]
    assert export_records[0].body["exported_by"] == "张班长"


def test_export_audit_needs_who_why_and_its_own_commit(conn: sqlite3.Connection) -> None:
    add(conn, "r1")
    args: dict[str, Any] = {"recording_id": "r1", "at": T0, "out_path": "/tmp/x.wav", "fmt": "alaw"}
    with pytest.raises(ValueError, match="name of the person"):
        index.log_export_started(conn, exported_by="  ", reason="x", **args)
    with pytest.raises(ValueError, match="reason"):
        index.log_export_started(conn, exported_by="x", reason="", **args)
    with pytest.raises(ValueError, match="format"):
        index.log_export_started(conn, exported_by="x", reason="y", **{**args, "fmt": "mp3"})
    with pytest.raises(RuntimeError, match="outside"), transaction(conn):
        index.log_export_started(conn, exported_by="x", reason="y", **args)
    with pytest.raises(sqlite3.IntegrityError):
        index.log_export_started(conn, exported_by="x", reason="y",
                                 **{**args, "recording_id": "nope"})
    assert index.export_log(conn) == []
