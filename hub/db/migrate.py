"""Create the schema and record its version.

Versions: 1 the baseline; 2 adds the tables box_live and calls. Both only add tables, which
create_all makes on an older database, so a step is recorded but runs no SQL of its own.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from hub.db.schema import SCHEMA_VERSION, metadata, schema_version
from hub.timeutil import utc_now


class SchemaError(RuntimeError):
    """The database holds a schema this code does not know."""


def init_db(engine: Engine) -> int:
    """Create missing tables; idempotent. Returns the schema version in the database."""
    metadata.create_all(engine)  # checkfirst: existing tables are left alone
    with engine.begin() as conn:
        current = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
        if current is None:
            conn.execute(schema_version.insert().values(
                version=SCHEMA_VERSION, applied_at=utc_now()))
            return SCHEMA_VERSION
        if current > SCHEMA_VERSION:
            raise SchemaError(
                f"database schema version {current} is newer than this hub ({SCHEMA_VERSION})")
        for version in range(current + 1, SCHEMA_VERSION + 1):
            conn.execute(schema_version.insert().values(version=version, applied_at=utc_now()))
        return SCHEMA_VERSION
