from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.callers import blacklist
from appliance.callers.blacklist import BlacklistError
from appliance.pbx.cdr import CallRecord, stamp, store_call
from appliance.store import fetch_batch, open_store, transaction

AT = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    return open_store(tmp_path)


def test_add_stores_the_canonical_number_and_queues_it_for_the_hub(conn: sqlite3.Connection) -> None:
    entry = blacklist.add(conn, "+86 138-0013-8000", "reject", " 推销电话 ", "班长李", AT)
    assert (entry.number, entry.action, entry.reason, entry.added_by, entry.source) == (
        "13800138000", "reject", "推销电话", "班长李", "box")
    assert entry.added_at.startswith("2026-12-01T10:00:00") and entry.added_at.endswith("+08:00")
    assert blacklist.entries(conn) == [entry]
    [queued] = fetch_batch(conn, "bulk", 10)
    assert (queued.kind, queued.id, queued.at) == ("blacklist", "13800138000", entry.added_at)
    assert queued.body == {"op": "add", **entry.to_body()}


def test_adding_again_changes_the_entry_and_queues_the_change(conn: sqlite3.Connection) -> None:
    blacklist.add(conn, "13800138000", "reject", None, "李", AT)
    changed = blacklist.add(conn, "8613800138000", "announce", "骚扰", "王", AT + timedelta(hours=1))
    assert blacklist.entries(conn) == [changed] and changed.action == "announce"
    assert [r.body["action"] for r in fetch_batch(conn, "bulk", 10)] == ["reject", "announce"]


def test_remove_deletes_and_queues_who_removed_it(conn: sqlite3.Connection) -> None:
    added = blacklist.add(conn, "029-88881234", "announce", "诈骗", "李", AT)
    removed = blacklist.remove(conn, "+86 29 8888 1234", "王", AT + timedelta(days=1))
    assert removed == added and blacklist.entries(conn) == []
    last = fetch_batch(conn, "bulk", 10)[-1]
    assert (last.kind, last.id) == ("blacklist", "02988881234")
    assert last.body["op"] == "remove" and last.body["removed_by"] == "王"
    assert last.body["entry"] == added.to_body() and last.body["removed_at"].startswith("2026-12-02T10:00")
    with pytest.raises(BlacklistError, match="not on the blacklist") as err:
        blacklist.remove(conn, "02988881234", "王", AT)
    assert err.value.field == "number" and len(fetch_batch(conn, "bulk", 10)) == 2


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"number": "12ab"}, "number"),
    ({"number": ""}, "number"),
    ({"number": "110"}, "number"),                 # too short: a service number
    ({"number": "1" * 21}, "number"),
    ({"action": "drop"}, "action"),
    ({"by": "  "}, "by"),
    ({"reason": "x" * 201}, "reason"),
    ({"at": datetime(2026, 12, 1, 10, 0)}, "at"),  # naive: which timezone?
    ({"expires_at": AT}, "expires_at"),            # not after the time added
])
def test_a_bad_change_names_its_field_and_writes_nothing(conn: sqlite3.Connection, kwargs: dict,
                                                         field: str) -> None:
    args = {"number": "13800138000", "action": "reject", "reason": None, "by": "李", "at": AT} | kwargs
    with pytest.raises(BlacklistError) as err:
        blacklist.add(conn, **args)
    assert err.value.field == field and str(err.value).startswith(f"{field}: ")
    assert blacklist.entries(conn) == [] and fetch_batch(conn, "bulk", 10) == []


def test_match_normalises_and_ignores_expired_entries(conn: sqlite3.Connection) -> None:
    until = AT + timedelta(days=7)
    entry = blacklist.add(conn, "13800138000", "announce", None, "李", AT, expires_at=until)
    now = AT.timestamp() + 3600
    for presented in ("13800138000", "+8613800138000", "013800138000", "138 0013 8000"):
        assert blacklist.match(conn, presented, now) == entry
    assert blacklist.match(conn, "13800138001", now) is None
    assert blacklist.match(conn, None, now) is None and blacklist.match(conn, "anonymous", now) is None
    assert blacklist.match(conn, "13800138000", until - timedelta(seconds=1)) == entry
    assert blacklist.match(conn, "13800138000", until) is None           # expiry is exclusive
    assert blacklist.match(conn, "13800138000", until.timestamp() + 1) is None
    assert blacklist.entries(conn) == [entry] and entry.expired(until)  # still listed until removed


def test_a_failed_transaction_rolls_back_entry_and_outbox_row_together(conn: sqlite3.Connection) -> None:
    with pytest.raises(RuntimeError), transaction(conn):
        blacklist.add(conn, "13800138000", "reject", None, "李", AT)
        raise RuntimeError("the caller's own work failed")
    assert blacklist.entries(conn) == [] and fetch_batch(conn, "bulk", 10) == []


def test_hits_count_the_blacklisted_calls_from_any_form_of_the_number(conn: sqlite3.Connection) -> None:
    start = AT.timestamp()
    for i, (caller, category) in enumerate([("13800138000", "blacklist"), ("+8613800138000", "blacklist"),
                                            ("13800138000", "unknown"), ("13900139000", "blacklist")]):
        store_call(conn, CallRecord(call_id=f"span1-{i}", direction="in", started_at=stamp(start + i),
                                    ended_at=stamp(start + i + 1), outcome="refused", caller=caller,
                                    category=category))
    assert blacklist.hits(conn, "138-0013-8000") == 2


def test_hub_entries_are_stored_as_hub_and_queue_nothing(conn: sqlite3.Connection) -> None:
    entry = blacklist.apply_from_hub(conn, {"number": "+86 138 0013 8000", "action": "announce",
                                            "reason": "区级黑名单", "added_by": "district-admin",
                                            "added_at": "2026-12-01T02:00:00+00:00",
                                            "expires_at": "2027-01-01T00:00:00+08:00"})
    assert entry is not None and (entry.number, entry.source) == ("13800138000", "hub")
    assert entry.added_at.startswith("2026-12-01T10:00:00")
    assert entry.expires_at is not None and entry.expires_at.startswith("2027-01-01T00:00")
    assert blacklist.entries(conn) == [entry] and fetch_batch(conn, "bulk", 10) == []
    defaulted = blacklist.apply_from_hub(conn, {"number": "13900139000",
                                                "added_at": "2026-12-01T10:00:00+08:00"})
    assert defaulted is not None and (defaulted.action, defaulted.added_by) == ("reject", "hub")
    assert blacklist.apply_from_hub(conn, {"number": "13800138000", "deleted": True}) is None
    assert [e.number for e in blacklist.entries(conn)] == ["13900139000"]
    with pytest.raises(BlacklistError) as err:
        blacklist.apply_from_hub(conn, {"number": "13700137000"})
    assert err.value.field == "added_at"
    with pytest.raises(BlacklistError) as err:
        blacklist.apply_from_hub(conn, {"number": "13700137000", "added_at": "yesterday"})
    assert err.value.field == "added_at"


def test_the_table_refuses_rows_that_bypass_the_checks(conn: sqlite3.Connection) -> None:
    for number, action, source in (("138-0013-8000", "reject", "box"), ("13800138000", "drop", "box"),
                                   ("13800138000", "reject", "elsewhere")):
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO blacklist (number, action, added_by, added_at, source) "
                         "VALUES (?, ?, 'x', 'now', ?)", (number, action, source))
