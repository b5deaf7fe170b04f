"""The outbox: records that must reach the hub, per lane, in seq order (CONTRACTS §6).

`append` is called inside the transaction that creates the record itself, so a record
exists on the box if and only if it is queued for the hub.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

LANES = ("alarm", "bulk")


@dataclass(frozen=True)
class OutboxRecord:
    lane: str
    seq: int
    kind: str
    id: str
    at: str
    body: dict[str, Any]

    def to_wire(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "id": self.id, "at": self.at, "body": self.body}


def append(conn: sqlite3.Connection, lane: str, kind: str, record_id: str, at: str,
           body: dict[str, Any]) -> int:
    """Queue a record; must run inside a write transaction. Returns its seq."""
    if lane not in LANES:
        raise ValueError(f"unknown lane {lane!r}")
    if not conn.in_transaction:
        raise RuntimeError("outbox.append must run inside the record's own transaction")
    conn.execute("UPDATE lane_seq SET last_seq = last_seq + 1 WHERE lane = ?", (lane,))
    seq = conn.execute("SELECT last_seq FROM lane_seq WHERE lane = ?", (lane,)).fetchone()[0]
    conn.execute(
        "INSERT INTO outbox (lane, seq, kind, record_id, at, body) VALUES (?,?,?,?,?,?)",
        (lane, seq, kind, record_id, at, json.dumps(body, ensure_ascii=False, sort_keys=True)),
    )
    return seq


# Shared with syncd, which runs the same statements through aiosqlite.
FETCH_BATCH_SQL = ("SELECT lane, seq, kind, record_id, at, body FROM outbox WHERE lane = ? "
                   "ORDER BY seq LIMIT ?")
DELETE_UPTO_SQL = "DELETE FROM outbox WHERE lane = ? AND seq <= ?"


def record_from_row(row: Any) -> OutboxRecord:
    return OutboxRecord(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]))


def fetch_batch(conn: sqlite3.Connection, lane: str, limit: int) -> list[OutboxRecord]:
    """The oldest LIMIT records of LANE, in seq order."""
    return [record_from_row(r) for r in conn.execute(FETCH_BATCH_SQL, (lane, limit))]


def delete_upto(conn: sqlite3.Connection, lane: str, upto: int) -> int:
    """Drop records the hub has committed (every seq <= UPTO); returns how many."""
    return conn.execute(DELETE_UPTO_SQL, (lane, upto)).rowcount


def pending(conn: sqlite3.Connection, lane: str | None = None) -> int:
    if lane is None:
        return conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    return conn.execute("SELECT COUNT(*) FROM outbox WHERE lane = ?", (lane,)).fetchone()[0]
