"""Hub fixtures: an app on a temporary SQLite file, tokens, logged-in clients, and
factories that put alarms in the database through the real ingest core."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from hub_testkit import NOW, batch_payload, csrf_of
from sqlalchemy.engine import Engine

from hub import create_app
from hub.auth.credentials import create_token, create_user
from hub.db import db
from hub.db.schema import metadata
from hub.ingest import core, store


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every hub test runs on both databases the hub supports: a temporary SQLite file
    (the embedded default) and a fresh database in the session's private PostgreSQL.
    ANXIN_TEST_HUB_DATABASE_URL replaces the latter with a scratch database of yours
    (emptied for each test)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.db'}"
    url = os.environ.get("ANXIN_TEST_HUB_DATABASE_URL")
    if not url:
        return request.getfixturevalue("postgresql_db")
    engine = sa.create_engine(url)
    metadata.drop_all(engine)
    engine.dispose()
    return url


@pytest.fixture
def app(db_url: str, tmp_path: Path) -> Iterator[Flask]:
    app = create_app({"DATABASE_URL": db_url, "SECRET_KEY": "test-secret", "TESTING": True,
                      "DATA_DIR": str(tmp_path)})
    yield app
    app.extensions["anxin_db"].dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def engine(app: Flask) -> Engine:
    with app.app_context():
        return db.engine


@pytest.fixture
def token(engine: Engine) -> str:
    with engine.begin() as conn:
        return create_token(conn, "district_staff", "tests")


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def login(engine: Engine, client: FlaskClient) -> Callable[..., Any]:
    """Create a user and log the test client in through the real form."""

    def _login(username: str = "wang", password: str = "密码-123",
               role: str = "district_staff") -> Any:
        with engine.begin() as conn:
            create_user(conn, username, password, role, "王主任")
        return client.post("/login", data={"username": username, "password": password,
                                           "csrf_token": csrf_of(client)})

    return _login


@pytest.fixture
def ingest(engine: Engine) -> Callable[..., store.BatchOutcome]:
    """Store RECORDS for BOX_ID through core.decide + store.apply_batch."""

    def _ingest(records: list[dict[str, Any]], box_id: str = "box-001",
                lane: str = "alarm", now: datetime = NOW) -> store.BatchOutcome:
        action = core.decide(f"anxin/v1/box/{box_id}/up/{lane}",
                             batch_payload(box_id, lane, records), now)
        assert isinstance(action, core.StoreBatch), action
        with engine.begin() as conn:
            return store.apply_batch(conn, action)

    return _ingest
