"""Read queries shared by the API and the web pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from hub.db.schema import alarms, box_live, boxes, calls, records


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    # (received_at, id) of the last row when more rows follow, else None.
    after: tuple[datetime, int] | None


def list_alarms(conn: sa.Connection, *, box_id: str | None = None,
                since: datetime | None = None, limit: int = 100,
                after: tuple[datetime, int] | None = None) -> Page:
    """Alarms newest first by (received_at, id); AFTER continues a previous page."""
    return _newest_first(conn, alarms, "received_at", box_id, since, limit, after)


def list_calls(conn: sa.Connection, *, box_id: str | None = None,
               since: datetime | None = None, limit: int = 100,
               after: tuple[datetime, int] | None = None) -> Page:
    """Call records newest first by (started_at, id); AFTER continues a previous page."""
    return _newest_first(conn, calls, "started_at", box_id, since, limit, after)


def _newest_first(conn: sa.Connection, table: sa.Table, time_column: str, box_id: str | None,
                  since: datetime | None, limit: int, after: tuple[datetime, int] | None) -> Page:
    """Keyset rather than OFFSET pagination: new rows arrive at the top all the time, and
    an offset would shift under the reader and repeat or skip rows."""
    when = table.c[time_column]
    query = sa.select(table)
    if box_id is not None:
        query = query.where(table.c.box_id == box_id)
    if since is not None:
        query = query.where(when >= since)
    if after is not None:
        at, last_id = after
        query = query.where(sa.or_(when < at, sa.and_(when == at, table.c.id < last_id)))
    query = query.order_by(when.desc(), table.c.id.desc()).limit(limit + 1)
    rows = [dict(r._mapping) for r in conn.execute(query)]
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, (rows[-1][time_column], rows[-1]["id"]) if more else None)


def queue_events(conn: sa.Connection, *, box_id: str | None, from_at: str, to_at: str,
                 kinds: tuple[str, ...] = ("queue_event", "agent_event")) -> list[tuple[str, Any]]:
    """(box_id, body) of every record of KINDS stamped in [FROM_AT, TO_AT), in each box's
    order. The stamps are the boxes' ISO 8601 text, all in +08:00, so text order is time
    order."""
    query = (sa.select(records.c.box_id, records.c.body)
             .where(records.c.kind.in_(kinds), records.c.at >= from_at, records.c.at < to_at)
             .order_by(records.c.box_id, records.c.lane, records.c.seq))
    if box_id is not None:
        query = query.where(records.c.box_id == box_id)
    return [(r.box_id, r.body) for r in conn.execute(query)]


def _boxes_with_live() -> sa.Select[Any]:
    return (sa.select(boxes, box_live.c.body.label("live"),
                      box_live.c.received_at.label("live_received_at"))
            .select_from(boxes.outerjoin(box_live, box_live.c.box_id == boxes.c.box_id)))


def list_boxes(conn: sa.Connection) -> list[dict[str, Any]]:
    """Every box, with its newest live figures (``live``, ``live_received_at``) or None."""
    return [dict(r._mapping) for r in conn.execute(_boxes_with_live().order_by(boxes.c.box_id))]


def box(conn: sa.Connection, box_id: str) -> dict[str, Any] | None:
    """One box as list_boxes gives it, or None."""
    row = conn.execute(_boxes_with_live().where(boxes.c.box_id == box_id)).first()
    return dict(row._mapping) if row is not None else None


def ping(conn: sa.Connection) -> None:
    conn.execute(sa.text("SELECT 1")).scalar()
