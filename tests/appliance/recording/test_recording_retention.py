"""Retention: keep >= keep_days, never a recording of an open case, disk-full behaviour."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.recording import index
from appliance.recording.retention import (
    DeleteRecording,
    DiskAlarm,
    PauseRecording,
    ResumeRecording,
    RetentionPlanner,
    RetentionPolicy,
    StoredRecording,
    run_retention,
)
from appliance.store import open_store

NOW = datetime(2025, 6, 1, 3, 0, tzinfo=UTC)
MB = 1_000_000
POLICY = RetentionPolicy(keep_days=31, low_free_bytes=100 * MB, target_free_bytes=150 * MB,
                         stop_free_bytes=20 * MB)


def rec(rid: str, age_days: float, size: int = 10 * MB, case_id: str | None = None) -> StoredRecording:
    return StoredRecording(rid, NOW - timedelta(days=age_days), size, f"/rec/{rid}.arec", case_id)


def no_case_open(case_id: str) -> bool:
    return False


def deleted(actions: list) -> list[tuple[str, str]]:
    return [(a.recording_id, a.reason) for a in actions if isinstance(a, DeleteRecording)]


def test_nothing_goes_while_there_is_room() -> None:
    planner = RetentionPlanner(POLICY)
    recordings = [rec("a", 400), rec("b", 90)]
    assert planner.plan(recordings, free_bytes=500 * MB, now=NOW, is_case_open=no_case_open) == []


def test_short_of_space_deletes_oldest_expendable_first_up_to_the_target() -> None:
    planner = RetentionPlanner(POLICY)
    recordings = [rec("m", 40), rec("o", 60), rec("n", 50), rec("young", 5), rec("p", 45)]
    actions = planner.plan(recordings, free_bytes=95 * MB, now=NOW, is_case_open=no_case_open)
    # 95 MB free, target 150: six 10 MB files would be needed, four are expendable...
    assert deleted(actions) == [("o", "disk_space"), ("n", "disk_space"), ("p", "disk_space"),
                                ("m", "disk_space")]
    # ...but 135 MB is above the low mark: no alarm
    assert not [a for a in actions if isinstance(a, DiskAlarm)]
    planner = RetentionPlanner(POLICY)
    actions = planner.plan(recordings, free_bytes=125 * MB, now=NOW, is_case_open=no_case_open)
    assert deleted(actions) == []  # above low_free_bytes nothing is touched


def test_stops_once_the_target_is_reached() -> None:
    planner = RetentionPlanner(POLICY)
    recordings = [rec(f"r{i}", 100 - i) for i in range(10)]
    actions = planner.plan(recordings, free_bytes=99 * MB, now=NOW, is_case_open=no_case_open)
    assert [rid for rid, _ in deleted(actions)] == ["r0", "r1", "r2", "r3", "r4", "r5"]  # 99 + 60 >= 150


def test_recordings_younger_than_keep_days_are_never_deleted() -> None:
    planner = RetentionPlanner(POLICY)
    recordings = [rec("y1", 30.99), rec("y2", 1), rec("boundary", 31)]
    actions = planner.plan(recordings, free_bytes=1 * MB, now=NOW, is_case_open=no_case_open)
    assert deleted(actions) == [("boundary", "disk_space")]  # 31 days kept: it may go


def test_a_recording_of_an_open_case_is_never_deleted() -> None:
    open_cases = {"case-open"}
    asked: list[str] = []

    def is_case_open(case_id: str) -> bool:
        asked.append(case_id)
        return case_id in open_cases

    planner = RetentionPlanner(RetentionPolicy(keep_days=31, max_days=60, low_free_bytes=100 * MB,
                                               target_free_bytes=150 * MB, stop_free_bytes=20 * MB))
    recordings = [rec("open-old", 400, case_id="case-open"), rec("closed-old", 300, case_id="case-done"),
                  rec("open-young", 2, case_id="case-open")]
    actions = planner.plan(recordings, free_bytes=1 * MB, now=NOW, is_case_open=is_case_open)
    assert deleted(actions) == [("closed-old", "max_age")]
    assert "case-open" in asked and asked.count("case-open") == 1  # the young one needs no lookup


def test_a_case_store_that_fails_keeps_the_recording() -> None:
    def broken(case_id: str) -> bool:
        raise sqlite3.OperationalError("database is locked")

    planner = RetentionPlanner(POLICY)
    actions = planner.plan([rec("a", 90, case_id="c1"), rec("b", 90)], free_bytes=1 * MB, now=NOW,
                           is_case_open=broken)
    assert deleted(actions) == [("b", "disk_space")]


def test_max_days_deletes_even_with_room_to_spare() -> None:
    policy = RetentionPolicy(keep_days=31, max_days=180)
    planner = RetentionPlanner(policy)
    actions = planner.plan([rec("a", 181), rec("b", 179), rec("c", 500)], free_bytes=10**12, now=NOW,
                           is_case_open=no_case_open)
    assert deleted(actions) == [("c", "max_age"), ("a", "max_age")]


def test_alarm_once_when_nothing_is_left_to_delete_and_clear_once() -> None:
    planner = RetentionPlanner(POLICY)
    recordings = [rec("young", 3), rec("case", 90, case_id="c"), rec("old", 90, size=5 * MB)]
    first = planner.plan(recordings, free_bytes=60 * MB, now=NOW, is_case_open=lambda c: True)
    alarms = [a for a in first if isinstance(a, DiskAlarm)]
    assert deleted(first) == [("old", "disk_space")]
    assert len(alarms) == 1 and alarms[0].raised
    assert (alarms[0].free_bytes, alarms[0].protected_young, alarms[0].protected_by_case) == (65 * MB, 1, 1)
    assert "录音存储空间不足" in alarms[0].message and "31 天保留期" in alarms[0].message
    assert not any(isinstance(a, PauseRecording) for a in first)  # above the stop mark: keep recording
    again = planner.plan(recordings[:2], free_bytes=65 * MB, now=NOW, is_case_open=lambda c: True)
    assert again == []  # still short, already alarmed
    cleared = planner.plan(recordings[:2], free_bytes=300 * MB, now=NOW, is_case_open=lambda c: True)
    assert [(type(a), a.raised, a.free_bytes) for a in cleared] == [(DiskAlarm, False, 300 * MB)]
    assert "已恢复" in cleared[0].message
    assert not planner.alarm_raised


def test_pause_recording_below_the_stop_mark_and_resume_above_the_low_mark() -> None:
    planner = RetentionPlanner(POLICY)
    young = [rec("young", 1)]
    actions = planner.plan(young, free_bytes=10 * MB, now=NOW, is_case_open=no_case_open)
    pause = [a for a in actions if isinstance(a, PauseRecording)]
    assert len(pause) == 1 and pause[0].free_bytes == 10 * MB and "通话照常接通" in pause[0].message
    assert planner.paused and planner.alarm_raised
    # between the marks: still paused (hysteresis), no new actions
    assert planner.plan(young, free_bytes=50 * MB, now=NOW, is_case_open=no_case_open) == []
    actions = planner.plan(young, free_bytes=120 * MB, now=NOW, is_case_open=no_case_open)
    assert ResumeRecording(120 * MB) in actions
    assert [a.raised for a in actions if isinstance(a, DiskAlarm)] == [False]
    assert not planner.paused


@pytest.mark.parametrize("kwargs, message", [
    ({"keep_days": 0}, "keep_days"),
    ({"keep_days": 31, "max_days": 30}, "max_days"),
    ({"low_free_bytes": 10, "target_free_bytes": 5, "stop_free_bytes": 1}, "stop_free_bytes <"),
    ({"low_free_bytes": 10, "target_free_bytes": 20, "stop_free_bytes": 10}, "stop_free_bytes <"),
])
def test_policy_is_checked(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetentionPolicy(**kwargs)


# --- the executor over box.db and files ---------------------------------------------

def stored(conn: sqlite3.Connection, directory: Path, rid: str, age_days: float, size: int = 1000,
           case_id: str | None = None, finish: bool = True) -> Path:
    path = directory / f"{rid}.arec"
    path.write_bytes(b"\x00" * size)
    index.add_recording(conn, recording_id=rid, kind="call", path=str(path), key_id=1,
                        started_at=NOW - timedelta(days=age_days), case_id=case_id)
    if finish:
        index.finish_recording(conn, rid, duration_s=1.0, size=size, at=NOW)
    return path


def test_executor_deletes_files_marks_rows_and_reports(tmp_path: Path) -> None:
    conn = open_store(tmp_path / "data")
    rec_dir = tmp_path / "recordings"
    rec_dir.mkdir()
    old = stored(conn, rec_dir, "old", 90)
    kept = stored(conn, rec_dir, "case", 95, case_id="c-open")
    young = stored(conn, rec_dir, "young", 2)
    live = stored(conn, rec_dir, "live", 400, finish=False)  # still open in pbxd
    gone = stored(conn, rec_dir, "gone", 80)
    gone.unlink()  # an earlier run died between unlink and the row update
    planner = RetentionPlanner(RetentionPolicy(low_free_bytes=10_000, target_free_bytes=20_000,
                                               stop_free_bytes=1_000))
    run = run_retention(conn, planner, recordings_dir=rec_dir, now=NOW,
                        is_case_open=lambda c: c == "c-open", free_bytes=lambda p: 5_000)
    assert run.deleted == ("old", "gone") and run.errors == ()
    assert not old.exists() and kept.exists() and young.exists() and live.exists()
    assert index.get_recording(conn, "old").state == "deleted"
    assert index.get_recording(conn, "gone").deleted_reason == "disk_space"
    assert index.get_recording(conn, "case").state == "complete"
    (alarm,) = run.alarms
    assert isinstance(alarm, DiskAlarm) and alarm.raised
    assert (alarm.protected_young, alarm.protected_by_case) == (1, 1)  # live counts as neither


def test_executor_reports_a_file_it_cannot_delete_and_keeps_its_row(tmp_path: Path) -> None:
    conn = open_store(tmp_path / "data")
    rec_dir = tmp_path / "recordings"
    rec_dir.mkdir()
    stuck = stored(conn, rec_dir, "stuck", 90)
    stuck.unlink()
    stuck.mkdir()  # unlink() of a directory fails: stands for EACCES, EIO …
    (stuck / "x").write_text("x")
    planner = RetentionPlanner(RetentionPolicy(max_days=60))
    run = run_retention(conn, planner, recordings_dir=rec_dir, now=NOW, is_case_open=no_case_open,
                        free_bytes=lambda p: 10**12)
    assert run.deleted == ()
    assert len(run.errors) == 1 and "deleting recording stuck" in run.errors[0]
    assert index.get_recording(conn, "stuck").state == "complete"  # retried next run
