"""Case events the box appends (table `case_events`), each queued for the hub.

A case is an append-only list of events; the box writes `created` (a message left in the
IVR, an alarm) and later events, each in one transaction with its outbox record (kind
`case_event`, bulk lane; alarm cases on the alarm lane). The state of a case is a fold
of its events; on the box only "is it still open?" is needed (recording retention never
deletes a recording linked to an open case), and the answer errs on the side of open:
a case is closed only once a `closed` event for it is here.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from appliance.cases.hlc import Hlc, tick
from appliance.clock import stored
from appliance.store import append, joined_transaction

EVENT_TYPES = ("created", "note", "dispatched", "callback_done", "confirmed_receipt", "reopened", "closed")


@dataclass(frozen=True)
class CaseEvent:
    origin: str
    origin_seq: int
    case_id: str
    type: str
    hlc: Hlc
    at: str
    body: dict[str, Any]

    @property
    def event_id(self) -> str:
        return f"{self.origin}:{self.origin_seq}"

    def to_record(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "origin": self.origin, "origin_seq": self.origin_seq,
                "case_id": self.case_id, "type": self.type, "hlc": str(self.hlc), "at": self.at,
                "body": self.body}


def append_event(conn: sqlite3.Connection, *, origin: str, case_id: str, type: str, at: datetime,
                 body: dict[str, Any], lane: str = "bulk") -> CaseEvent:
    """Append one event of CASE_ID and queue it for the hub, in one transaction."""
    return _append(conn, origin, case_id, type, at, body, lane)


def _append(conn: sqlite3.Connection, origin: str, case_id: str | None, type: str, at: datetime,
            body: dict[str, Any], lane: str) -> CaseEvent:
    """CASE_ID None: a new case, whose id is this event's own id (origin:seq)."""
    if type not in EVENT_TYPES:
        raise ValueError(f"case event type must be one of {', '.join(EVENT_TYPES)}, got {type!r}")
    stamp = stored(at, "case event times")
    with joined_transaction(conn):
        # This origin's events are all stamped here with tick(), so its last seq carries its last clock.
        row = conn.execute("SELECT origin_seq, hlc_wall_ms, hlc_counter FROM case_events WHERE origin = ? "
                           "ORDER BY origin_seq DESC LIMIT 1", (origin,)).fetchone()
        seq = row[0] + 1 if row else 1
        hlc = tick(Hlc(row[1], row[2]) if row else None, round(at.timestamp() * 1000))
        case_id = case_id if case_id is not None else f"{origin}:{seq}"
        event = CaseEvent(origin, seq, case_id, type, hlc, stamp, body)
        conn.execute(
            "INSERT INTO case_events (origin, origin_seq, case_id, type, hlc_wall_ms, hlc_counter, at, body) "
            "VALUES (?,?,?,?,?,?,?,?)",
            (origin, seq, case_id, type, hlc.wall_ms, hlc.counter, stamp,
             json.dumps(body, ensure_ascii=False, sort_keys=True)))
        append(conn, lane, "case_event", event.event_id, stamp, event.to_record())
    return event


def open_case(conn: sqlite3.Connection, *, origin: str, kind: str, at: datetime, body: dict[str, Any],
              lane: str = "bulk") -> CaseEvent:
    """A new case of KIND (e.g. 投诉留言 `complaint_message`): its `created` event.

    The case id is the created event's own id (origin:seq), unique without coordination."""
    return _append(conn, origin, None, "created", at, {"kind": kind, **body}, lane)


def is_case_open(conn: sqlite3.Connection, case_id: str) -> bool:
    """False only when the box holds a `closed` event of CASE_ID not followed by `reopened`."""
    rows = conn.execute("SELECT type FROM case_events WHERE case_id = ? AND type IN ('closed', 'reopened') "
                        "ORDER BY hlc_wall_ms, hlc_counter, origin, origin_seq", (case_id,)).fetchall()
    return not rows or rows[-1][0] != "closed"
