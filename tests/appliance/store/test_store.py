import sqlite3
from pathlib import Path

import pytest

from appliance.store import (
    append,
    connect,
    delete_upto,
    fetch_batch,
    open_store,
    pending,
    transaction,
)
from appliance.store.migrations import MIGRATIONS, current_version, migrate


def test_open_store_applies_migrations_once(tmp_path: Path) -> None:
    conn = open_store(tmp_path)
    assert current_version(conn) == MIGRATIONS[-1][0]
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert migrate(conn) == []  # nothing left to apply
    conn.close()
    again = open_store(tmp_path)
    rows = again.execute("SELECT version FROM schema_migrations").fetchall()
    assert [r[0] for r in rows] == [m[0] for m in MIGRATIONS]


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    conn = open_store(tmp_path)
    conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', 'x')")
    with pytest.raises(sqlite3.DatabaseError, match="newer than this software"):
        migrate(conn)


def test_seqs_per_lane_increase_and_are_never_reused(tmp_path: Path) -> None:
    conn = open_store(tmp_path)
    with transaction(conn):
        a1 = append(conn, "alarm", "alarm", "a1", "t", {"n": 1})
        b1 = append(conn, "bulk", "call", "b1", "t", {"n": 1})
        a2 = append(conn, "alarm", "alarm", "a2", "t", {"n": 2})
    assert (a1, a2, b1) == (1, 2, 1)
    with transaction(conn):
        assert delete_upto(conn, "alarm", 2) == 2
    with transaction(conn):
        a3 = append(conn, "alarm", "alarm", "a3", "t", {"n": 3})
    assert a3 == 3  # not 1: the hub has seen 1 and 2
    assert [r.seq for r in fetch_batch(conn, "alarm", 10)] == [3]
    assert pending(conn) == 2


def test_rolled_back_record_leaves_no_row_and_no_gap(tmp_path: Path) -> None:
    conn = open_store(tmp_path)
    with pytest.raises(RuntimeError), transaction(conn):
        append(conn, "alarm", "alarm", "x", "t", {})
        raise RuntimeError("crash before commit")
    assert pending(conn, "alarm") == 0
    with transaction(conn):
        assert append(conn, "alarm", "alarm", "y", "t", {}) == 1


def test_append_outside_transaction_is_refused(tmp_path: Path) -> None:
    conn = open_store(tmp_path)
    with pytest.raises(RuntimeError, match="inside"):
        append(conn, "alarm", "alarm", "x", "t", {})
    with pytest.raises(ValueError, match="unknown lane"), transaction(conn):
        append(conn, "video", "x", "x", "t", {})


def test_commit_is_visible_to_another_connection(tmp_path: Path) -> None:
    writer = open_store(tmp_path)
    reader = connect(tmp_path / "box.db")
    with transaction(writer):
        append(writer, "alarm", "alarm", "r1", "t", {"zh": "紧急求助"})
    batch = fetch_batch(reader, "alarm", 10)
    assert batch[0].body == {"zh": "紧急求助"}
    assert batch[0].to_wire() == {"seq": 1, "kind": "alarm", "id": "r1", "at": "t",
                                  "body": {"zh": "紧急求助"}}
