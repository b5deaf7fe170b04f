"""Engines: one URL for SQLite (default) and PostgreSQL, with SQLite tuned for two
processes (serve + ingest) sharing one file."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from hub.settings import ensure_sqlite_dir

BUSY_TIMEOUT_MS = 10_000


def make_engine(url: str, *, immediate: bool = False) -> Engine:
    """An engine for URL.

    IMMEDIATE=True makes SQLite transactions take the write lock at BEGIN: the ingest
    reads (existing seqs, high-water mark) then writes, and a deferred transaction
    would fail with SQLITE_BUSY, not wait, if another writer committed in between.
    """
    ensure_sqlite_dir(url)
    engine = sa.create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
    if engine.dialect.name == "sqlite":
        _tune_sqlite(engine, "BEGIN IMMEDIATE" if immediate else "BEGIN")
    return engine


def _tune_sqlite(engine: Engine, begin: str) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so BEGIN is ours.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")  # readers don't block the ingest writer
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        # FULL: the ingest acks a box right after COMMIT; the commit must survive a
        # power cut, or the box deletes records the hub no longer has.
        cur.execute("PRAGMA synchronous=FULL")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql(begin)
