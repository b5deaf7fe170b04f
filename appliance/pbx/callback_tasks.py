"""Missed-call callback tasks (未接来电回访) in box.db: the book (appliance/acd/missed.py) kept.

Every change the book makes (created, another attempt, assigned, closed) is written in
one transaction: the task's row in ``callback_tasks`` (its current state), the change in
the queue log (kinds ``task_created`` …, so the box's reports see them), and an outbox
record (bulk lane, kind ``callback_task``) for the hub. At start pbxd reloads the open
tasks, so a task survives a restart and a power cut, and its id is never given twice.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from appliance.acd.missed import CallbackTask, MissedCalls, TaskEvent
from appliance.pbx.cdr import stamp
from appliance.store import append, joined_transaction

ID_PREFIX = "cb-"


def _epoch(text: str | None) -> float | None:
    return None if text is None else datetime.fromisoformat(text).timestamp()


def task_body(task: CallbackTask) -> dict[str, Any]:
    """A task as stored, sent to the hub and shown to agents."""
    return {"task_id": task.task_id, "number": task.number, "queue": task.queue, "reason": task.reason,
            "created_at": stamp(task.created_at), "call_ids": list(task.call_ids),
            "attempts": task.attempts, "last_at": stamp(task.last_at), "wait_s": round(task.wait_s, 3),
            "agent_id": task.agent_id, "closed_at": stamp(task.closed_at), "outcome": task.outcome,
            "closed_by": task.closed_by, "open": task.open}


def store_task_events(conn: sqlite3.Connection, book: MissedCalls, events: Iterable[TaskEvent]) -> int:
    """Write EVENTS (drained from BOOK) and their tasks' new state; returns how many."""
    n = 0
    with joined_transaction(conn):
        for event in events:
            task = book.task(event.task_id)
            body = task_body(task)
            at = stamp(event.at) or ""
            conn.execute(
                "INSERT INTO callback_tasks (task_id, number, queue, reason, created_at, call_ids, last_at,"
                " wait_s, agent_id, closed_at, outcome, closed_by) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT (task_id) DO UPDATE SET call_ids = excluded.call_ids,"
                " last_at = excluded.last_at, wait_s = excluded.wait_s, agent_id = excluded.agent_id,"
                " closed_at = excluded.closed_at,"
                " outcome = excluded.outcome, closed_by = excluded.closed_by",
                (task.task_id, task.number, task.queue, task.reason, body["created_at"],
                 json.dumps(list(task.call_ids)), body["last_at"], task.wait_s, task.agent_id,
                 body["closed_at"], task.outcome, task.closed_by))
            data = json.dumps({"task_id": task.task_id, "number": task.number, **event.data},
                              ensure_ascii=False, sort_keys=True)
            row = conn.execute("INSERT INTO queue_log (at, kind, call_id, queue, agent_id, data) "
                               "VALUES (?,?,?,?,?,?)",
                               (at, event.kind, task.call_ids[-1], task.queue, event.agent_id,
                                data)).lastrowid
            append(conn, "bulk", "callback_task", f"t{row}", at,
                   {"event": event.kind, "at": at, "data": dict(event.data), "task": body})
            n += 1
    return n


def load_book(conn: sqlite3.Connection) -> MissedCalls:
    """A book with box.db's open tasks in it (numbering after every task ever made)."""
    book = MissedCalls(id_prefix=ID_PREFIX)
    rows = conn.execute("SELECT * FROM callback_tasks").fetchall()
    top = 0
    tasks = []
    for r in rows:
        suffix = r["task_id"][len(ID_PREFIX):]
        if r["task_id"].startswith(ID_PREFIX) and suffix.isdigit():
            top = max(top, int(suffix))
        if r["closed_at"] is None:
            tasks.append(CallbackTask(r["task_id"], r["number"], r["queue"], r["reason"],
                                      _epoch(r["created_at"]) or 0.0, tuple(json.loads(r["call_ids"])),
                                      _epoch(r["last_at"]) or 0.0, float(r["wait_s"]), r["agent_id"]))
    book.restore(tasks, top + 1)
    return book
