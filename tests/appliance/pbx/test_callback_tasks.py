"""Missed-call callback tasks in box.db: every change stored with its outbox record, reloaded at start."""

from __future__ import annotations

import json
from pathlib import Path

from appliance.pbx.callback_tasks import load_book, store_task_events
from appliance.store import open_store

T0 = 1_790_000_000.0


def test_tasks_are_stored_with_their_outbox_records_and_the_open_ones_come_back(tmp_path: Path) -> None:
    conn = open_store(tmp_path)
    book = load_book(conn)
    book.agent_logged_in("1001", T0)
    first = book.add("c1", "13800138000", "general", T0 + 1, 12.5, "abandoned")
    book.add("c2", "13800138000", "general", T0 + 60, 3.0, "abandoned")   # same number: an attempt
    second = book.add("c3", "02988880000", "elder", T0 + 70, 40.0, "callback_failed")
    book.close(second.task_id, "reached", T0 + 200, by="1001")
    assert store_task_events(conn, book, book.events()) == 4   # created, attempt, created, closed
    rows = {r["task_id"]: r for r in conn.execute("SELECT * FROM callback_tasks")}
    assert set(rows) == {"cb-1", "cb-2"}
    assert json.loads(rows["cb-1"]["call_ids"]) == ["c1", "c2"] and rows["cb-1"]["agent_id"] == "1001"
    assert (rows["cb-2"]["outcome"], rows["cb-2"]["closed_by"]) == ("reached", "1001")
    log = [r["kind"] for r in conn.execute("SELECT kind FROM queue_log ORDER BY id")]
    assert log == ["task_created", "task_attempt", "task_created", "task_closed"]
    outbox = [json.loads(r["body"]) for r in conn.execute(
        "SELECT body FROM outbox WHERE kind = 'callback_task' ORDER BY seq")]
    assert [o["event"] for o in outbox] == log and outbox[-1]["task"]["outcome"] == "reached"
    conn.close()

    conn = open_store(tmp_path)                 # pbxd restarted: the open task is still there
    again = load_book(conn)
    assert [t.task_id for t in again.open_tasks()] == [first.task_id]
    assert again.open_tasks()[0].call_ids == ("c1", "c2")
    again.agent_logged_in("1002", T0 + 300)
    fresh = again.add("c9", "13700000000", "general", T0 + 301, 9.0, "abandoned")
    assert fresh.task_id == "cb-3"              # numbering goes on after every task ever made
    assert again.add("c10", "13800138000", "general", T0 + 302, 1.0, "abandoned").task_id == first.task_id
