"""Apply the core's actions to the database, inside the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from hub.db.schema import alarms, box_live, boxes, calls, lane_acks, records
from hub.ingest.core import StoreBatch, UpdateLive, UpdateStatus

# Two copies of live figures further apart than this, by the hub's clock, are not a reordering.
LIVE_REORDER_WINDOW = timedelta(seconds=10)


@dataclass(frozen=True)
class BatchOutcome:
    new: int
    duplicate: int
    upto: int  # the lane's high-water mark after this batch
    previous_upto: int | None


def _insert(conn: sa.Connection, table: sa.Table) -> Any:
    """INSERT with ON CONFLICT support for the connection's dialect.

    Both SQLite and PostgreSQL spell `ON CONFLICT DO NOTHING/UPDATE` alike, but
    SQLAlchemy exposes it per dialect; choosing here keeps the callers neutral.
    """
    name = conn.dialect.name
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        raise RuntimeError(f"the ingest supports SQLite and PostgreSQL, not {name}")
    return insert(table)


def apply_batch(conn: sa.Connection, batch: StoreBatch) -> BatchOutcome:
    """Store each record once, project new alarms, raise the mark. Caller commits."""
    now = batch.now
    previous = conn.execute(sa.select(lane_acks.c.upto).where(
        lane_acks.c.box_id == batch.box_id, lane_acks.c.lane == batch.lane)).scalar()
    new_seqs = []
    for rec in batch.records:
        # ON CONFLICT DO NOTHING rather than "select then insert": a redelivered batch
        # can reach two workers at once (PostgreSQL), and the unique key decides.
        stmt = _insert(conn, records).values(
            box_id=batch.box_id, lane=batch.lane, seq=rec.seq, kind=rec.kind,
            record_id=rec.record_id, at=rec.at, body=rec.body, ingested_at=now,
        ).on_conflict_do_nothing(index_elements=["box_id", "lane", "seq"])
        # RETURNING, not rowcount: on PostgreSQL SQLAlchemy adds its own RETURNING to
        # fetch the new id, and rowcount then says nothing about a skipped row.
        if conn.execute(stmt.returning(records.c.seq)).first() is not None:
            new_seqs.append(rec.seq)
    for seq in new_seqs:
        if seq in batch.alarms:
            conn.execute(_insert(conn, alarms).values(**batch.alarms[seq])
                         .on_conflict_do_nothing(index_elements=["signal_id"]))
        if seq in batch.calls:
            conn.execute(_insert(conn, calls).values(**batch.calls[seq])
                         .on_conflict_do_nothing(index_elements=["box_id", "call_id"]))
    _touch_box(conn, batch.box_id, now, state_if_new="online")
    upto = _raise_mark(conn, batch, now)
    return BatchOutcome(len(new_seqs), len(batch.records) - len(new_seqs), upto, previous)


def _raise_mark(conn: sa.Connection, batch: StoreBatch, now: Any) -> int:
    stmt = _insert(conn, lane_acks).values(
        box_id=batch.box_id, lane=batch.lane, upto=batch.last_seq, updated_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=["box_id", "lane"],
        # max(old, new) spelt with CASE: SQLite says max(), PostgreSQL GREATEST().
        set_={"upto": sa.case((stmt.excluded.upto > lane_acks.c.upto, stmt.excluded.upto),
                              else_=lane_acks.c.upto),
              "updated_at": stmt.excluded.updated_at},
    )
    conn.execute(stmt)
    return int(conn.execute(sa.select(lane_acks.c.upto).where(
        lane_acks.c.box_id == batch.box_id, lane_acks.c.lane == batch.lane)).scalar_one())


def _touch_box(conn: sa.Connection, box_id: str, now: Any, *, state_if_new: str) -> None:
    stmt = _insert(conn, boxes).values(
        box_id=box_id, state=state_if_new, first_seen_at=now, last_seen_at=now)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=["box_id"], set_={"last_seen_at": stmt.excluded.last_seen_at}))


def apply_live(conn: sa.Connection, live: UpdateLive) -> bool:
    """Keep the box's newest live figures; False when a newer one is already stored."""
    stmt = _insert(conn, box_live).values(box_id=live.box_id, at=live.at, received_at=live.now,
                                          body=live.body)
    # Workers of a shared subscription may finish out of order: the box's own clock decides,
    # unless the stored figures are old by our clock (the box's clock was stepped back).
    stmt = stmt.on_conflict_do_update(
        index_elements=["box_id"],
        set_={"at": stmt.excluded.at, "received_at": stmt.excluded.received_at,
              "body": stmt.excluded.body},
        where=sa.or_(box_live.c.at <= stmt.excluded.at,
                     box_live.c.received_at < live.now - LIVE_REORDER_WINDOW))
    newer = conn.execute(stmt.returning(box_live.c.box_id)).first() is not None  # not rowcount: see above
    _touch_box(conn, live.box_id, live.now, state_if_new="online")
    return newer


def apply_status(conn: sa.Connection, status: UpdateStatus) -> None:
    last_seen = None if status.retained else status.now
    stmt = _insert(conn, boxes).values(
        box_id=status.box_id, state=status.state, first_seen_at=status.now,
        last_seen_at=last_seen)
    update: dict[str, Any] = {"state": stmt.excluded.state}
    if not status.retained:
        update["last_seen_at"] = stmt.excluded.last_seen_at
    conn.execute(stmt.on_conflict_do_update(index_elements=["box_id"], set_=update))
