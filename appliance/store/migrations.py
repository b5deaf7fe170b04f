"""Versioned schema migrations for box.db, applied in order at daemon start.

A migration is never edited once released; a change is a new version. Each runs in its
own exclusive transaction together with its row in schema_migrations, so a box that
loses power mid-upgrade restarts from a consistent version.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "outbox and alarm intake", """
        -- Per-lane counter: seqs are strictly increasing and never reused, even after
        -- the rows they numbered are deleted on the hub's ack (CONTRACTS §6).
        CREATE TABLE lane_seq (
            lane TEXT PRIMARY KEY CHECK (lane IN ('alarm', 'bulk')),
            last_seq INTEGER NOT NULL
        );
        INSERT INTO lane_seq (lane, last_seq) VALUES ('alarm', 0), ('bulk', 0);

        CREATE TABLE outbox (
            lane TEXT NOT NULL CHECK (lane IN ('alarm', 'bulk')),
            seq INTEGER NOT NULL,
            kind TEXT NOT NULL,
            record_id TEXT NOT NULL,
            at TEXT NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (lane, seq)
        ) WITHOUT ROWID;

        -- Every signal from alarm equipment, with its raw bytes for audit.
        CREATE TABLE alarm_signals (
            id INTEGER PRIMARY KEY,
            signal_id TEXT NOT NULL UNIQUE,
            received_at TEXT NOT NULL,
            receiver TEXT NOT NULL,
            protocol TEXT NOT NULL,
            raw BLOB NOT NULL,
            recognised INTEGER NOT NULL,
            receiver_no TEXT,
            line TEXT,
            account TEXT,
            message_type TEXT,
            event_code TEXT,
            qualifier TEXT,
            partition TEXT,
            zone TEXT,
            note TEXT,
            repeats INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX alarm_signals_received ON alarm_signals (received_at);
        CREATE INDEX alarm_signals_account ON alarm_signals (account, received_at);

        CREATE TABLE device_troubles (
            trouble_id TEXT PRIMARY KEY,
            type TEXT NOT NULL,
            subject TEXT NOT NULL,
            opened_at TEXT NOT NULL,
            closed_at TEXT,
            detail TEXT
        );
        CREATE INDEX device_troubles_open ON device_troubles (type, subject) WHERE closed_at IS NULL;

        CREATE TABLE receiver_status (
            receiver TEXT PRIMARY KEY,
            last_frame_at TEXT,
            last_heartbeat_at TEXT,
            frames_damaged INTEGER NOT NULL DEFAULT 0
        );
    """),
    (2, "residents and their alarm devices", """
        -- The residents (老人) a centre serves; filled by the hub's registry sync and,
        -- until then or offline, by a technician's import.
        CREATE TABLE elders (
            elder_id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            phone TEXT,
            address TEXT,
            emergency_contact TEXT,
            emergency_phone TEXT,
            notes TEXT,
            updated_at TEXT NOT NULL
        );
        -- Which alarm account (on which receiver and receiver line; '' = any) is whose.
        CREATE TABLE alarm_devices (
            receiver TEXT NOT NULL DEFAULT '',
            line TEXT NOT NULL DEFAULT '',
            account TEXT NOT NULL,
            elder_id TEXT NOT NULL REFERENCES elders (elder_id) ON DELETE CASCADE,
            kind TEXT NOT NULL DEFAULT 'one_button',
            PRIMARY KEY (receiver, line, account)
        ) WITHOUT ROWID;
        ALTER TABLE alarm_signals ADD COLUMN elder_id TEXT;
    """),
    (3, "call recordings and their export audit log", """
        -- One row per encrypted recording file (docs/recording.md). Rows stay after
        -- retention deleted the file (state 'deleted'): the box can still say what
        -- existed, when it went and why. Times are ISO 8601 in Asia/Shanghai, so text
        -- order is time order.
        CREATE TABLE recordings (
            recording_id TEXT PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('call', 'message')),
            call_id TEXT,
            caller TEXT,
            callee TEXT,
            agent TEXT,
            queue TEXT,
            started_at TEXT NOT NULL,
            duration_s REAL,
            path TEXT NOT NULL UNIQUE,
            size INTEGER,
            case_id TEXT,
            key_id INTEGER NOT NULL,
            state TEXT NOT NULL DEFAULT 'recording'
                CHECK (state IN ('recording', 'complete', 'interrupted', 'deleted')),
            deleted_at TEXT,
            deleted_reason TEXT
        );
        CREATE INDEX recordings_started ON recordings (started_at) WHERE state != 'deleted';
        CREATE INDEX recordings_call ON recordings (call_id);
        CREATE INDEX recordings_case ON recordings (case_id) WHERE case_id IS NOT NULL;

        -- Who decrypted which recording, when and why. The row is committed before any
        -- plaintext is written; its outcome is filled in once, afterwards. NULL outcome =
        -- the export never finished (power cut, killed).
        CREATE TABLE recording_exports (
            export_id INTEGER PRIMARY KEY,
            recording_id TEXT NOT NULL REFERENCES recordings (recording_id),
            exported_by TEXT NOT NULL CHECK (length(trim(exported_by)) > 0),
            reason TEXT NOT NULL CHECK (length(trim(reason)) > 0),
            at TEXT NOT NULL,
            out_path TEXT NOT NULL,
            format TEXT NOT NULL CHECK (format IN ('alaw', 'pcm16')),
            outcome TEXT CHECK (outcome IN ('ok', 'truncated', 'refused', 'failed')),
            detail TEXT,
            finished_at TEXT
        );
        CREATE INDEX recording_exports_recording ON recording_exports (recording_id, at);
        CREATE TRIGGER recording_exports_no_delete BEFORE DELETE ON recording_exports
        BEGIN SELECT RAISE(ABORT, 'recording_exports is an audit log: rows are never deleted'); END;
        CREATE TRIGGER recording_exports_outcome_once BEFORE UPDATE ON recording_exports
        WHEN OLD.outcome IS NOT NULL OR NEW.export_id IS NOT OLD.export_id
            OR NEW.recording_id IS NOT OLD.recording_id
            OR NEW.exported_by IS NOT OLD.exported_by OR NEW.reason IS NOT OLD.reason
            OR NEW.at IS NOT OLD.at OR NEW.out_path IS NOT OLD.out_path OR NEW.format IS NOT OLD.format
        BEGIN SELECT RAISE(ABORT, 'recording_exports is an audit log: only its outcome is set, once'); END;
    """),
    (4, "call records, the ACD queue log and box-side case events", """
        -- One row per call the box handled (the CDR), written once when the call ends,
        -- in the transaction that queues it for the hub (kind 'call').
        CREATE TABLE calls (
            call_id TEXT PRIMARY KEY,
            direction TEXT NOT NULL CHECK (direction IN ('in', 'out', 'internal')),
            span TEXT,
            timeslot INTEGER,
            caller TEXT,
            called TEXT,
            category TEXT,
            elder_id TEXT,
            started_at TEXT NOT NULL,
            answered_at TEXT,
            ended_at TEXT NOT NULL,
            ended_by TEXT,
            outcome TEXT NOT NULL,
            flow TEXT,
            digits TEXT,
            queue TEXT,
            queue_wait_s REAL,
            agent TEXT,
            talk_s REAL,
            survey_score INTEGER,
            survey_label TEXT,
            recording_id TEXT,
            message_recording_id TEXT,
            case_id TEXT
        );
        CREATE INDEX calls_started ON calls (started_at);
        CREATE INDEX calls_caller ON calls (caller, started_at);

        -- The ACD's queue log (docs/acd.md): append-only, one row per engine event.
        CREATE TABLE queue_log (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            call_id TEXT,
            queue TEXT,
            agent_id TEXT,
            data TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX queue_log_at ON queue_log (at);
        CREATE INDEX queue_log_call ON queue_log (call_id) WHERE call_id IS NOT NULL;

        -- Cases are event-sourced (ARCHITECTURE §4): the events this box appended, each
        -- with its id (origin, origin_seq) and hybrid logical clock (wall ms, counter).
        CREATE TABLE case_events (
            origin TEXT NOT NULL,
            origin_seq INTEGER NOT NULL,
            case_id TEXT NOT NULL,
            type TEXT NOT NULL,
            hlc_wall_ms INTEGER NOT NULL,
            hlc_counter INTEGER NOT NULL,
            at TEXT NOT NULL,
            body TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (origin, origin_seq)
        );
        CREATE INDEX case_events_case ON case_events (case_id);
    """),
    (5, "caller categories, the blacklist and caller-recognition indexes", """
        -- A resident's caller category (来电分类): NULL = an ordinary elder, 'vip', 'important'.
        -- No CHECK: a newer hub may send a category this release does not know, and
        -- recognition then treats the resident as an ordinary elder instead of failing.
        ALTER TABLE elders ADD COLUMN category TEXT;

        -- 骚扰电话: numbers the box rejects or answers with an announcement. `number` is the
        -- canonical national form (appliance/callers/numbers.py). A blocked call is still a
        -- call: its CDR in `calls` (category 'blacklist') is the hit log, so no second table.
        CREATE TABLE blacklist (
            number TEXT PRIMARY KEY
                CHECK (length(number) BETWEEN 5 AND 20 AND number NOT GLOB '*[^0-9]*'),
            action TEXT NOT NULL CHECK (action IN ('reject', 'announce')),
            reason TEXT,
            added_by TEXT NOT NULL CHECK (length(trim(added_by)) > 0),
            added_at TEXT NOT NULL,
            expires_at TEXT,
            source TEXT NOT NULL CHECK (source IN ('box', 'hub'))
        ) WITHOUT ROWID;

        -- Exact lookups of a stored phone, and recognition's lookup of its digits: the
        -- expression must stay identical to recognition.PHONE_DIGITS or the planner
        -- cannot use these indexes.
        CREATE INDEX elders_phone ON elders (phone);
        CREATE INDEX elders_emergency_phone ON elders (emergency_phone);
        CREATE INDEX elders_phone_digits
            ON elders (replace(replace(replace(phone, '-', ''), ' ', ''), '+', ''));
        CREATE INDEX elders_emergency_phone_digits
            ON elders (replace(replace(replace(emergency_phone, '-', ''), ' ', ''), '+', ''));

        -- A caller's cases: the created event names the elder and the calling number.
        CREATE INDEX case_events_created_elder ON case_events (json_extract(body, '$.elder_id'))
            WHERE type = 'created' AND json_valid(body);
        CREATE INDEX case_events_created_caller ON case_events (json_extract(body, '$.caller'))
            WHERE type = 'created' AND json_valid(body);
    """),
    (6, "missed-call callback tasks", """
        -- 未接来电回访: one row per task, its current state (appliance/pbx/callback_tasks.py);
        -- every change also goes to the hub (kind 'callback_task') and the queue log.
        CREATE TABLE callback_tasks (
            task_id TEXT PRIMARY KEY,
            number TEXT NOT NULL,
            queue TEXT NOT NULL,
            reason TEXT NOT NULL,
            created_at TEXT NOT NULL,
            call_ids TEXT NOT NULL DEFAULT '[]',
            last_at TEXT NOT NULL,
            wait_s REAL NOT NULL DEFAULT 0,
            agent_id TEXT,
            closed_at TEXT,
            outcome TEXT,
            closed_by TEXT
        );
        CREATE INDEX callback_tasks_open ON callback_tasks (closed_at, agent_id);
    """),
]


def current_version(conn: sqlite3.Connection) -> int:
    conn.execute("""CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)""")
    row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return row[0] or 0


def migrate(conn: sqlite3.Connection) -> list[int]:
    """Apply the migrations this box.db lacks; returns the versions applied."""
    applied: list[int] = []
    for version, description, sql in MIGRATIONS:
        # Re-check inside the lock: two daemons may start at once.
        conn.execute("BEGIN EXCLUSIVE")
        try:
            if current_version(conn) >= version:
                conn.execute("ROLLBACK")
                continue
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?,?,?)",
                (version, description, datetime.now(UTC).isoformat()),
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        applied.append(version)
    latest = MIGRATIONS[-1][0]
    found = current_version(conn)
    if found > latest:
        raise sqlite3.DatabaseError(
            f"box.db is at schema version {found}, newer than this software ({latest}); "
            "refusing to run an older release on it"
        )
    return applied


def _statements(sql: str) -> list[str]:
    """Split a migration script; executescript() would COMMIT our transaction."""
    out, buf = [], []
    for line in sql.splitlines():
        stripped = line.split("--", 1)[0]
        buf.append(stripped)
        if stripped.rstrip().endswith(";"):
            stmt = "\n".join(buf).strip()
            if stmt.strip(";").strip():
                out.append(stmt)
            buf = []
    tail = "\n".join(buf).strip()
    if tail:
        out.append(tail)
    return out
