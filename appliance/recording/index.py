"""box.db rows of recordings (table `recordings`) and of their exports (`recording_exports`).

The lifecycle of a row: `add_recording` when the writer opens the file (state
'recording'), `finish_recording` when it closed it ('complete'), `mark_interrupted` at
pbxd start for rows a crash left open, `mark_deleted` when retention removed the file
('deleted'; the row stays). A finished recording and every export attempt go to the hub
through the outbox (bulk lane), in the transaction that wrote them (CONTRACTS §6).

Functions that write take their own transaction unless the caller already has one
(`conn.in_transaction`), so pbxd can record the index row together with the call row.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from appliance.clock import stored
from appliance.recording.container import RecordingError
from appliance.store import append, joined_transaction, transaction

KINDS = ("call", "message")
EXPORT_FORMATS = ("alaw", "pcm16")
EXPORT_OUTCOMES = ("ok", "truncated", "refused", "failed")


class RecordingIndexError(RecordingError):
    """A recording that is not in box.db, or an index change that is not allowed."""


@dataclass(frozen=True)
class RecordingRow:
    recording_id: str
    kind: str
    call_id: str | None
    caller: str | None
    callee: str | None
    agent: str | None
    queue: str | None
    started_at: datetime
    duration_s: float | None
    path: str
    size: int | None
    case_id: str | None
    key_id: int
    state: str
    deleted_at: str | None
    deleted_reason: str | None


@dataclass(frozen=True)
class ExportRow:
    export_id: int
    recording_id: str
    exported_by: str
    reason: str
    at: str
    out_path: str
    format: str
    outcome: str | None
    detail: str | None
    finished_at: str | None


def stamp(dt: datetime) -> str:
    """The stored form of a time (appliance.clock.stored)."""
    return stored(dt, "times in the recording index")


def _row(r: sqlite3.Row) -> RecordingRow:
    values = dict(r)
    values["started_at"] = datetime.fromisoformat(values["started_at"])
    return RecordingRow(**values)


def add_recording(conn: sqlite3.Connection, *, recording_id: str, kind: str, path: str,
                  started_at: datetime, key_id: int, call_id: str | None = None,
                  caller: str | None = None, callee: str | None = None, agent: str | None = None,
                  queue: str | None = None, case_id: str | None = None) -> None:
    """The row of a recording being written (before its first chunk is sealed)."""
    if kind not in KINDS:
        raise ValueError(f"recording kind must be one of {', '.join(KINDS)}, got {kind!r}")
    with joined_transaction(conn):
        try:
            conn.execute(
                "INSERT INTO recordings (recording_id, kind, call_id, caller, callee, agent, queue, "
                "started_at, path, case_id, key_id) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (recording_id, kind, call_id, caller, callee, agent, queue, stamp(started_at), path,
                 case_id, key_id))
        except sqlite3.IntegrityError as exc:
            raise RecordingIndexError(f"recording {recording_id} ({path}) is already indexed: {exc}") from exc


def finish_recording(conn: sqlite3.Connection, recording_id: str, *, duration_s: float, size: int,
                     at: datetime) -> None:
    """The writer closed the file: its length and size; queued for the hub."""
    with joined_transaction(conn):
        updated = conn.execute(
            "UPDATE recordings SET duration_s = ?, size = ?, state = 'complete' "
            "WHERE recording_id = ? AND state IN ('recording', 'interrupted')",
            (duration_s, size, recording_id)).rowcount
        if not updated:
            raise RecordingIndexError(
                f"recording {recording_id}: not indexed, or finished or deleted already")
        row = get_recording(conn, recording_id)
        append(conn, "bulk", "recording", recording_id, stamp(at), {
            "recording_id": recording_id, "kind": row.kind, "call_id": row.call_id,
            "caller": row.caller, "callee": row.callee, "agent": row.agent, "queue": row.queue,
            "started_at": stamp(row.started_at), "duration_s": duration_s, "size": size,
            "case_id": row.case_id})


def mark_interrupted(conn: sqlite3.Connection) -> list[str]:
    """At pbxd start: rows still 'recording' belong to files a crash left without a final chunk."""
    with joined_transaction(conn):
        ids = [r[0] for r in conn.execute("SELECT recording_id FROM recordings WHERE state = 'recording'")]
        conn.execute("UPDATE recordings SET state = 'interrupted' WHERE state = 'recording'")
    return ids


def link_case(conn: sqlite3.Connection, recording_id: str, case_id: str | None) -> None:
    """Attach a recording to a case (工单), or detach it with None."""
    with joined_transaction(conn):
        if not conn.execute("UPDATE recordings SET case_id = ? WHERE recording_id = ?",
                            (case_id, recording_id)).rowcount:
            raise RecordingIndexError(f"no recording {recording_id} in box.db")


def mark_deleted(conn: sqlite3.Connection, recording_id: str, *, at: datetime, reason: str) -> None:
    """Retention removed the file; the row stays as the record that it existed."""
    with joined_transaction(conn):
        if not conn.execute(
                "UPDATE recordings SET state = 'deleted', deleted_at = ?, deleted_reason = ? "
                "WHERE recording_id = ? AND state != 'deleted'",
                (stamp(at), reason, recording_id)).rowcount:
            raise RecordingIndexError(f"recording {recording_id}: not indexed or already deleted")
        append(conn, "bulk", "recording_deleted", recording_id, stamp(at),
               {"recording_id": recording_id, "reason": reason})


def get_recording(conn: sqlite3.Connection, recording_id: str) -> RecordingRow:
    row = conn.execute("SELECT * FROM recordings WHERE recording_id = ?", (recording_id,)).fetchone()
    if row is None:
        raise RecordingIndexError(f"没有这条录音 (no recording {recording_id!r} in box.db)")
    return _row(row)


def list_recordings(conn: sqlite3.Connection, *, call_id: str | None = None, case_id: str | None = None,
                    since: datetime | None = None, until: datetime | None = None,
                    include_deleted: bool = False) -> list[RecordingRow]:
    """Recordings oldest first, filtered by call, case and start time [since, until)."""
    where, args = [], []
    for clause, value in (("call_id = ?", call_id), ("case_id = ?", case_id)):
        if value is not None:
            where.append(clause)
            args.append(value)
    if since is not None:
        where.append("started_at >= ?")
        args.append(stamp(since))
    if until is not None:
        where.append("started_at < ?")
        args.append(stamp(until))
    if not include_deleted:
        where.append("state != 'deleted'")
    sql = "SELECT * FROM recordings" + (" WHERE " + " AND ".join(where) if where else "")
    return [_row(r) for r in conn.execute(sql + " ORDER BY started_at, recording_id", args)]


def count_recordings(conn: sqlite3.Connection, *, started_after: datetime) -> int:
    """How many recordings (not deleted) started after STARTED_AFTER."""
    return conn.execute("SELECT COUNT(*) FROM recordings WHERE state != 'deleted' AND started_at > ?",
                        (stamp(started_after),)).fetchone()[0]


def retention_candidates(conn: sqlite3.Connection, *, started_by: datetime) -> list[RecordingRow]:
    """Closed recordings (complete or interrupted) that started by the cut-off, oldest first.

    Rows still 'recording' are never offered: their file is open in pbxd.
    """
    rows = conn.execute(
        "SELECT * FROM recordings WHERE state IN ('complete', 'interrupted') AND started_at <= ? "
        "ORDER BY started_at, recording_id", (stamp(started_by),))
    return [_row(r) for r in rows]


def log_export_started(conn: sqlite3.Connection, *, recording_id: str, exported_by: str, reason: str,
                       at: datetime, out_path: str, fmt: str) -> int:
    """The audit row of an export attempt, committed (durable) before this returns; its id."""
    if not exported_by.strip():
        raise ValueError("an export needs the name of the person doing it")
    if not reason.strip():
        raise ValueError("an export needs a reason (e.g. the case number)")
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"export format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    if conn.in_transaction:
        # The guarantee is "on disk before any plaintext": an outer transaction could still roll back.
        raise RuntimeError("log_export_started commits its own transaction; call it outside one")
    with transaction(conn):
        cur = conn.execute(
            "INSERT INTO recording_exports (recording_id, exported_by, reason, at, out_path, format) "
            "VALUES (?,?,?,?,?,?)", (recording_id, exported_by.strip(), reason.strip(), stamp(at),
                                     out_path, fmt))
    return int(cur.lastrowid or 0)


def log_export_outcome(conn: sqlite3.Connection, export_id: int, *, outcome: str, at: datetime,
                       detail: str | None = None) -> None:
    """Fill in how an export attempt ended (once); queued for the hub."""
    if outcome not in EXPORT_OUTCOMES:
        raise ValueError(f"export outcome must be one of {', '.join(EXPORT_OUTCOMES)}, got {outcome!r}")
    with joined_transaction(conn):
        conn.execute("UPDATE recording_exports SET outcome = ?, detail = ?, finished_at = ? "
                     "WHERE export_id = ?", (outcome, detail, stamp(at), export_id))
        row = export_log(conn, export_id=export_id)[0]
        append(conn, "bulk", "recording_export", f"{row.recording_id}:export:{export_id}", stamp(at), {
            "export_id": export_id, "recording_id": row.recording_id, "exported_by": row.exported_by,
            "reason": row.reason, "at": row.at, "format": row.format, "outcome": outcome,
            "detail": detail})


def export_log(conn: sqlite3.Connection, *, recording_id: str | None = None,
               export_id: int | None = None) -> list[ExportRow]:
    """Export audit rows, oldest first."""
    sql, args = "SELECT * FROM recording_exports", []
    if recording_id is not None:
        sql, args = sql + " WHERE recording_id = ?", [recording_id]
    elif export_id is not None:
        sql, args = sql + " WHERE export_id = ?", [export_id]
    return [ExportRow(**dict(r)) for r in conn.execute(sql + " ORDER BY export_id", args)]
