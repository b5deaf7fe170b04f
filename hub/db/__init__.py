"""Database layer: SQLAlchemy Core tables, engines, schema creation, Flask attachment."""

from __future__ import annotations

from flask import Flask, current_app
from sqlalchemy.engine import Engine

from hub.db.engine import make_engine
from hub.db.migrate import SchemaError, init_db

__all__ = ["Database", "SchemaError", "db", "init_db", "make_engine"]


class Database:
    """The web app's engine, created at module level and attached in the factory."""

    def init_app(self, app: Flask) -> None:
        engine = make_engine(app.config["DATABASE_URL"])
        app.extensions["anxin_db"] = engine
        if app.config.get("AUTO_INIT_DB", True):
            init_db(engine)

    @property
    def engine(self) -> Engine:
        return current_app.extensions["anxin_db"]


db = Database()
