"""Create the schema and record its version.

Versions: 1 the baseline; 2 adds the tables box_live and calls (create_all makes them)
and the index ix_records_kind_at on the existing records table (made here).
Several processes may start on one old database at once (serve workers, ingest):
each step is idempotent, and a version row another process wrote first is no error.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from hub.db.schema import SCHEMA_VERSION, metadata, records, schema_version
from hub.timeutil import utc_now


class SchemaError(RuntimeError):
    """The database holds a schema this code does not know."""


def init_db(engine: Engine) -> int:
    """Create missing tables; idempotent. Returns the schema version in the database."""
    metadata.create_all(engine)  # checkfirst: existing tables are left alone
    with engine.connect() as conn:
        current = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
    if current is not None and current > SCHEMA_VERSION:
        raise SchemaError(
            f"database schema version {current} is newer than this hub ({SCHEMA_VERSION})")
    if current is not None and current < 2:
        for index in records.indexes:  # create_all adds no index to a table that exists
            index.create(engine, checkfirst=True)
    first = SCHEMA_VERSION if current is None else current + 1
    for version in range(first, SCHEMA_VERSION + 1):
        try:
            with engine.begin() as conn:
                conn.execute(schema_version.insert().values(version=version, applied_at=utc_now()))
        except IntegrityError:
            pass  # another process recorded it a moment ago
    return SCHEMA_VERSION
