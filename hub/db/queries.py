"""Read queries shared by the API and the web pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from hub.db.schema import alarms, box_live, boxes


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    # (received_at, id) of the last row when more rows follow, else None.
    after: tuple[datetime, int] | None


def list_alarms(conn: sa.Connection, *, box_id: str | None = None,
                since: datetime | None = None, limit: int = 100,
                after: tuple[datetime, int] | None = None) -> Page:
    """Alarms newest first by (received_at, id); AFTER continues a previous page.

    Keyset rather than OFFSET pagination: new alarms arrive at the top all the time,
    and an offset would shift under the reader and repeat or skip rows.
    """
    query = sa.select(alarms)
    if box_id is not None:
        query = query.where(alarms.c.box_id == box_id)
    if since is not None:
        query = query.where(alarms.c.received_at >= since)
    if after is not None:
        at, last_id = after
        query = query.where(sa.or_(
            alarms.c.received_at < at,
            sa.and_(alarms.c.received_at == at, alarms.c.id < last_id),
        ))
    query = query.order_by(alarms.c.received_at.desc(), alarms.c.id.desc()).limit(limit + 1)
    rows = [dict(r._mapping) for r in conn.execute(query)]
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, (rows[-1]["received_at"], rows[-1]["id"]) if more else None)


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
