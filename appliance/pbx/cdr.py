"""Call detail records (table `calls`): one row per call, written when the call ends.

The row and its outbox record (kind `call`, bulk lane, CONTRACTS §6) commit in one
transaction, so the hub's call list (`GET /api/v1/calls`) is exactly the box's.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from appliance.clock import stored
from appliance.store import append, joined_transaction

OUTCOMES = ("agent", "message", "ivr", "abandoned", "no_answer", "refused", "failed",
            # calls the box placed (direction "out"): "answered", or why not
            "answered", "busy", "cancelled",
            # the waiting caller asked to be called back (the callback is its own "out" call)
            "callback",
            # a blacklisted caller (骚扰电话): refused or played the announcement, still logged
            "blacklisted")


@dataclass(frozen=True)
class CallRecord:
    call_id: str
    direction: str
    started_at: str           # ISO 8601, Asia/Shanghai
    ended_at: str
    outcome: str              # one of OUTCOMES
    span: str | None = None
    timeslot: int | None = None
    caller: str | None = None
    called: str | None = None
    category: str | None = None
    elder_id: str | None = None
    answered_at: str | None = None
    ended_by: str | None = None
    flow: str | None = None
    digits: str | None = None
    queue: str | None = None
    queue_wait_s: float | None = None
    agent: str | None = None
    talk_s: float | None = None
    survey_score: int | None = None
    survey_label: str | None = None
    recording_id: str | None = None
    message_recording_id: str | None = None
    case_id: str | None = None

    def __post_init__(self) -> None:
        if self.direction not in ("in", "out", "internal"):
            raise ValueError(f"call {self.call_id}: direction must be in/out/internal, "
                             f"got {self.direction!r}")
        if self.outcome not in OUTCOMES:
            raise ValueError(f"call {self.call_id}: outcome must be one of {', '.join(OUTCOMES)}, "
                             f"got {self.outcome!r}")


def stamp(epoch: float | None) -> str | None:
    """Epoch seconds as the stored form (ISO 8601 in Asia/Shanghai)."""
    if epoch is None:
        return None
    return stored(datetime.fromtimestamp(epoch, UTC))


def store_call(conn: sqlite3.Connection, record: CallRecord) -> None:
    """Insert RECORD and queue it for the hub (joins the caller's transaction if any)."""
    values = asdict(record)
    columns = ", ".join(values)
    with joined_transaction(conn):
        conn.execute(f"INSERT INTO calls ({columns}) VALUES ({', '.join('?' * len(values))})",
                     tuple(values.values()))
        append(conn, "bulk", "call", record.call_id, record.ended_at, values)


def get_call(conn: sqlite3.Connection, call_id: str) -> CallRecord:
    row = conn.execute("SELECT * FROM calls WHERE call_id = ?", (call_id,)).fetchone()  # sqlite3.Row
    if row is None:
        raise KeyError(f"no call {call_id!r} in box.db")
    return CallRecord(**dict(row))
