"""`anxin-hub` commands: in-process through main(), and `serve` as a real process."""

from __future__ import annotations

import io
import json
import os
import stat
import urllib.request

import pytest
import sqlalchemy as sa
from hub_testkit import csrf_of, hub_env, start_hub, stop_process, wait_for_log

from hub import create_app
from hub.auth.credentials import hash_token
from hub.cli import main
from provisioning.mosquitto import free_port


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    for name in ("ANXIN_HUB_DATABASE_URL", "ANXIN_HUB_SECRET_KEY", "ANXIN_HUB_MQTT_URL"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "hub-data"
    monkeypatch.setenv("ANXIN_HUB_DATA_DIR", str(path))
    return path


def query(data_dir, sql):
    engine = sa.create_engine(f"sqlite:///{data_dir / 'hub.db'}")
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql)).all()
    finally:
        engine.dispose()


def test_init_db_is_idempotent(data_dir, capsys):
    assert main(["init-db"]) == 0
    assert main(["init-db"]) == 0
    assert "schema version 2" in capsys.readouterr().out
    assert query(data_dir, "SELECT version FROM schema_version") == [(2,)]
    tables = {r[0] for r in query(data_dir, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"boxes", "records", "lane_acks", "alarms", "users", "api_tokens", "box_live",
            "schema_version"} <= tables
    assert query(data_dir, "PRAGMA journal_mode") == [("wal",)]


def test_init_db_brings_a_version_1_database_up_to_date(data_dir, capsys):
    assert main(["init-db"]) == 0
    engine = sa.create_engine(f"sqlite:///{data_dir / 'hub.db'}")
    with engine.begin() as conn:  # as a hub of version 1 left it
        conn.execute(sa.text("DROP TABLE box_live"))
        conn.execute(sa.text("DROP INDEX ix_records_kind_at"))
        conn.execute(sa.text("UPDATE schema_version SET version = 1"))
    engine.dispose()
    assert main(["init-db"]) == 0
    assert "schema version 2" in capsys.readouterr().out.splitlines()[-1]
    assert sorted(query(data_dir, "SELECT version FROM schema_version")) == [(1,), (2,)]
    assert query(data_dir, "SELECT count(*) FROM box_live") == [(0,)]
    assert query(data_dir, "SELECT name FROM sqlite_master WHERE name = 'ix_records_kind_at'") == \
        [("ix_records_kind_at",)]
    assert main(["init-db"]) == 0  # and again: nothing to do, no error


def test_database_url_wins_over_data_dir(data_dir, tmp_path, monkeypatch):
    other = tmp_path / "elsewhere" / "x.db"
    monkeypatch.setenv("ANXIN_HUB_DATABASE_URL", f"sqlite:///{other}")
    assert main(["init-db"]) == 0
    assert other.exists()
    assert not (data_dir / "hub.db").exists()


def test_create_token_prints_the_token_last_and_stores_its_hash(data_dir, capsys):
    assert main(["create-token", "--role", "auditor", "--name", "报表"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert len(token) > 30
    [(stored, role, name)] = query(data_dir, "SELECT token_hash, role, name FROM api_tokens")
    assert (stored, role, name) == (hash_token(token), "auditor", "报表")
    assert token not in stored

    app = create_app({"DATABASE_URL": f"sqlite:///{data_dir / 'hub.db'}"})
    response = app.test_client().get("/api/v1/boxes",
                                     headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_bad_role_is_an_error(data_dir, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["create-token", "--role", "janitor"])
    assert exc.value.code != 0
    assert "--role" in capsys.readouterr().err


def test_create_user_then_login_works(data_dir, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("长城-1984\n"))
    assert main(["create-user", "li", "--role", "centre_supervisor",
                 "--display-name", "李班长"]) == 0
    assert main(["create-user", "li", "--password", "x"]) == 1
    assert "already exists" in capsys.readouterr().err

    app = create_app({"DATABASE_URL": f"sqlite:///{data_dir / 'hub.db'}"})
    client = app.test_client()
    response = client.post("/login", data={"username": "li", "password": "长城-1984",
                                           "csrf_token": csrf_of(client)})
    assert response.status_code == 302
    page = client.get("/alarms").get_data(as_text=True)
    assert "李班长" in page


def test_empty_password_is_refused(data_dir, capsys):
    assert main(["create-user", "zhao", "--password", ""]) == 1
    assert "password" in capsys.readouterr().err


def test_secret_key_is_generated_once_with_mode_0600(data_dir):
    first = create_app().config["SECRET_KEY"]
    second = create_app().config["SECRET_KEY"]
    assert first == second and len(first) >= 32
    mode = stat.S_IMODE(os.stat(data_dir / "secret_key").st_mode)
    assert mode == 0o600


def test_bad_mqtt_url_is_an_error(data_dir, monkeypatch, capsys):
    monkeypatch.setenv("ANXIN_HUB_MQTT_URL", "http://example.cn")
    assert main(["ingest"]) == 1
    assert "ANXIN_HUB_MQTT_URL" in capsys.readouterr().err


def test_bad_listen_is_an_error(data_dir, capsys):
    assert main(["serve", "--listen", "localhost"]) == 1
    assert "--listen" in capsys.readouterr().err


@pytest.mark.timeout(60)
def test_serve_prints_its_url_answers_and_stops_on_sigterm(tmp_path):
    port = free_port()
    log = tmp_path / "serve.log"
    process = start_hub(["serve", "--listen", f"127.0.0.1:{port}"],
                        hub_env(tmp_path / "data"), log)
    try:
        wait_for_log(log, f"http://127.0.0.1:{port}/", process=process)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=5) as r:
            assert json.load(r)["ok"] is True
    finally:
        assert stop_process(process) == 0
    assert "serve stopped" in log.read_text()
