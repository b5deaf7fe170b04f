"""Opening box.db with the durability rule, and transactions.

Durability rule (docs/store.md): every connection that writes box.db runs WAL with
`synchronous=FULL`, so a COMMIT has reached the disk (fsync of the WAL) when it returns.
The alarm path depends on it (ACK only after commit), and so does the outbox: a record
that was published must never vanish in a power cut, or its seq could be handed out
again and the hub would drop the new record as a duplicate.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from appliance.store.migrations import migrate


class StoreError(RuntimeError):
    """box.db cannot be opened or written."""


def connect(path: Path | str, *, busy_timeout_ms: int = 10_000) -> sqlite3.Connection:
    """A connection with the box pragmas; autocommit mode, transactions are explicit."""
    try:
        conn = sqlite3.connect(str(path), isolation_level=None, timeout=busy_timeout_ms / 1000,
                               check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise StoreError(f"{path}: cannot switch to WAL (journal_mode={mode})")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.Error as exc:
        raise StoreError(f"opening {path}: {exc}") from exc
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection, *, immediate: bool = True) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT (durable on return) or ROLLBACK on any exception."""
    conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def joined_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """The caller's transaction if one is open, else a new one: so a record and the
    records it brings along (index row, outbox row) commit together."""
    if conn.in_transaction:
        yield conn
    else:
        with transaction(conn):
            yield conn


def open_store(data_dir: Path | str) -> sqlite3.Connection:
    """Create DATA_DIR if needed, open DATA_DIR/box.db and apply pending migrations."""
    data_dir = Path(data_dir)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"creating data dir {data_dir}: {exc.strerror}") from exc
    conn = connect(data_dir / "box.db")
    try:
        migrate(conn)
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(f"migrating {data_dir / 'box.db'}: {exc}") from exc
    return conn
