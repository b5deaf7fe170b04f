"""The ACD's queue log in box.db (table `queue_log`), each event queued for the hub.

Events about calls go as kind `queue_event`, agents' own (log-in, pause, wrap-up) as
`agent_event` (CONTRACTS §6 kinds, extended), on the bulk lane, in the transaction that
stores them: the hub computes the same service level, ASA and occupancy as the box.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime

from appliance.acd import events as ev
from appliance.acd.events import QueueEvent
from appliance.pbx.cdr import stamp
from appliance.store import append, joined_transaction

AGENT_KINDS = frozenset({ev.LOGGED_IN, ev.LOGGED_OUT, ev.PAUSED, ev.UNPAUSED,
                         ev.WRAPUP_STARTED, ev.WRAPUP_ENDED})


def store_events(conn: sqlite3.Connection, events: Iterable[QueueEvent]) -> int:
    """Append EVENTS in order; returns how many."""
    n = 0
    with joined_transaction(conn):
        for event in events:
            at = stamp(event.at) or ""
            data = json.dumps(event.data, ensure_ascii=False, sort_keys=True)
            row = conn.execute("INSERT INTO queue_log (at, kind, call_id, queue, agent_id, data) "
                               "VALUES (?,?,?,?,?,?)",
                               (at, event.kind, event.call_id, event.queue, event.agent_id, data)).lastrowid
            kind = "agent_event" if event.kind in AGENT_KINDS else "queue_event"
            append(conn, "bulk", kind, f"q{row}", at, {**event.to_dict(), "at": at})
            n += 1
    return n


def load_events(conn: sqlite3.Connection, *, since: str | None = None) -> list[QueueEvent]:
    """The stored events back as QueueEvents (epoch `at`), for metrics on the box."""
    rows = conn.execute("SELECT at, kind, call_id, queue, agent_id, data FROM queue_log "
                        + ("WHERE at >= ? " if since else "") + "ORDER BY id", (since,) if since else ())
    return [QueueEvent(datetime.fromisoformat(r[0]).timestamp(), r[1], r[2], r[3], r[4], json.loads(r[5]))
            for r in rows]
