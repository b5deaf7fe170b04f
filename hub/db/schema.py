"""The hub's tables, in SQLAlchemy Core, one definition for SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

# Bump with each change; hub/db/migrate.py says what each version adds.
SCHEMA_VERSION = 2

metadata = sa.MetaData()


class UTCDateTime(sa.TypeDecorator[datetime]):
    """An aware datetime, stored as UTC.

    SQLite has no time zone type: SQLAlchemy would write the wall-clock fields and drop
    the offset, so +08:00 and UTC times would sort together wrongly. Normalising to UTC
    keeps one fixed-width text format in SQLite (sortable, comparable) and timestamptz
    in PostgreSQL.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


schema_version = sa.Table(
    "schema_version", metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", UTCDateTime, nullable=False),
)

boxes = sa.Table(
    "boxes", metadata,
    sa.Column("box_id", sa.String(64), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False, default="unknown"),  # online|offline|unknown
    sa.Column("first_seen_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime),
)

# Every outbox record a box sent, whatever its kind: the raw log the projections
# (alarms now; cases, calls later) are built from, and the dedup key of the ingest.
records = sa.Table(
    "records", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("box_id", sa.String(64), nullable=False),
    sa.Column("lane", sa.String(8), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("record_id", sa.String(128), nullable=False),
    sa.Column("at", sa.String(64), nullable=False),  # as the box wrote it
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("ingested_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("box_id", "lane", "seq", name="uq_records_box_lane_seq"),
    sa.Index("ix_records_kind_at", "kind", "at"),  # the KPI report reads the queue log by time
)

# Each box's newest live figures (CONTRACTS §6 `…/live`, QoS 0): one row per box,
# overwritten, never history. AT is the box's clock, which orders two of them.
box_live = sa.Table(
    "box_live", metadata,
    sa.Column("box_id", sa.String(64), primary_key=True),
    sa.Column("at", sa.String(64), nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
)

# The highest seq per (box, lane) committed here: what the ack says (CONTRACTS §6).
lane_acks = sa.Table(
    "lane_acks", metadata,
    sa.Column("box_id", sa.String(64), primary_key=True),
    sa.Column("lane", sa.String(8), primary_key=True),
    sa.Column("upto", sa.BigInteger, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

alarms = sa.Table(
    "alarms", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("box_id", sa.String(64), nullable=False),
    sa.Column("lane", sa.String(8), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("signal_id", sa.String(64), nullable=False, unique=True),
    sa.Column("account", sa.String(32)),
    sa.Column("event_code", sa.String(8)),
    sa.Column("qualifier", sa.String(16)),
    sa.Column("zone", sa.String(16)),
    # quote=True: PARTITION is a keyword in window-function SQL.
    sa.Column("partition", sa.String(16), quote=True),
    sa.Column("event_zh", sa.String(128)),
    sa.Column("event_en", sa.String(128)),
    sa.Column("category", sa.String(32)),
    sa.Column("life_safety", sa.Boolean),
    sa.Column("recognised", sa.Boolean, nullable=False),
    sa.Column("receiver", sa.String(64)),
    sa.Column("protocol", sa.String(32)),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("ingested_at", UTCDateTime, nullable=False),
    sa.Column("raw_hex", sa.Text),
    sa.Column("note", sa.Text),
    sa.Column("case_id", sa.String(64)),
    sa.Index("ix_alarms_received", "received_at", "id"),
    sa.Index("ix_alarms_box_received", "box_id", "received_at", "id"),
)

# Call records (kind "call", the box's CDR): every trunk call in and out, internal calls.
calls = sa.Table(
    "calls", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("box_id", sa.String(64), nullable=False),
    sa.Column("lane", sa.String(8), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("call_id", sa.String(128), nullable=False),
    sa.Column("direction", sa.String(16)),
    sa.Column("span", sa.String(64)),
    sa.Column("caller", sa.String(64)),
    sa.Column("called", sa.String(64)),
    sa.Column("category", sa.String(32)),
    sa.Column("elder_id", sa.String(64)),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("answered_at", UTCDateTime),
    sa.Column("ended_at", UTCDateTime),
    sa.Column("ended_by", sa.String(32)),
    sa.Column("outcome", sa.String(32)),
    sa.Column("flow", sa.String(64)),
    sa.Column("queue", sa.String(64)),
    sa.Column("queue_wait_s", sa.Float),
    sa.Column("agent", sa.String(64)),
    sa.Column("talk_s", sa.Float),
    sa.Column("survey_score", sa.Integer),
    sa.Column("survey_label", sa.String(64)),
    sa.Column("recording_id", sa.String(128)),
    sa.Column("message_recording_id", sa.String(128)),
    sa.Column("case_id", sa.String(64)),
    sa.Column("ingested_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("box_id", "call_id", name="uq_calls_box_call"),
    sa.Index("ix_calls_started", "started_at", "id"),
    sa.Index("ix_calls_box_started", "box_id", "started_at", "id"),
)

users = sa.Table(
    "users", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("display_name", sa.String(128)),
    sa.Column("password_hash", sa.String(256), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

api_tokens = sa.Table(
    "api_tokens", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(128)),
    sa.Column("role", sa.String(32), nullable=False),
    # SHA-256 hex of the token: a stolen database does not hand out working tokens.
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime),
)
