"""The ingest worker as a real process against a real Mosquitto."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from hub_testkit import FakeBox, alarm_record, hub_env, start_hub, stop_process, wait_for_log

from hub import create_app
from provisioning.mosquitto import start_broker

SUBSCRIBED = "subscribed to"


@pytest.fixture
def hub_dir(tmp_path):
    return tmp_path / "hub-data"


@pytest.fixture
def worker(mosquitto, hub_dir, tmp_path):
    log = tmp_path / "ingest.log"
    process = start_hub(["ingest"], hub_env(hub_dir, mosquitto.url), log)
    wait_for_log(log, SUBSCRIBED, process=process)
    yield process, log
    stop_process(process)


def api_alarms(hub_dir):
    app = create_app({"DATABASE_URL": f"sqlite:///{hub_dir / 'hub.db'}",
                      "SECRET_KEY": "x", "TESTING": True})
    try:
        with app.test_request_context():
            from hub.auth.credentials import create_token
            from hub.db import db

            with db.engine.begin() as conn:
                token = create_token(conn, "auditor")
        response = app.test_client().get(
            "/api/v1/alarms", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        return response.json["items"]
    finally:
        app.extensions["anxin_db"].dispose()


def record_count(hub_dir):
    engine = sa.create_engine(f"sqlite:///{hub_dir / 'hub.db'}")
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM records")).scalar()
    finally:
        engine.dispose()


@pytest.mark.timeout(60)
def test_batch_is_stored_once_and_acked_after_commit(mosquitto, worker, hub_dir):
    process, log = worker
    box = FakeBox(mosquitto.host, mosquitto.port, "xianyang-weicheng-001")
    try:
        batch = [alarm_record(1), alarm_record(2, zone="002")]
        assert box.send("alarm", batch) == {"upto": 2}
        # The ack was "lost": the box sends the same batch again.
        assert box.send("alarm", batch) == {"upto": 2}
        content = wait_for_log(log, "seq 1-2: 0 new, 2 duplicate; ack upto 2")
        assert "seq 1-2: 2 new, 0 duplicate; ack upto 2" in content
        # An invalid batch gets no ack, and the worker carries on.
        box.client.publish("anxin/v1/box/xianyang-weicheng-001/up/alarm", b"{bad", qos=1)
        wait_for_log(log, "rejected message")
        assert box.acks.empty()
        assert box.send("alarm", [alarm_record(3)]) == {"upto": 3}
    finally:
        box.close()
    assert process.poll() is None
    assert record_count(hub_dir) == 3
    items = api_alarms(hub_dir)
    assert [i["zone"] for i in items] == ["001", "002", "001"]
    assert {i["box_id"] for i in items} == {"xianyang-weicheng-001"}


@pytest.mark.timeout(60)
def test_status_marks_the_box_online_and_offline(mosquitto, worker, hub_dir):
    import paho.mqtt.client as mqtt

    _process, log = worker
    box = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="box-007")
    box.will_set("anxin/v1/box/box-007/status", b'{"state":"offline"}', qos=1, retain=True)
    box.connect(mosquitto.host, mosquitto.port)
    box.loop_start()
    box.publish("anxin/v1/box/box-007/status", b'{"state":"online"}', qos=1, retain=True)
    wait_for_log(log, "box box-007 is online")
    box.loop_stop()
    box.socket().close()  # die without DISCONNECT: the broker sends the will
    wait_for_log(log, "box box-007 is offline", timeout=30)
    engine = sa.create_engine(f"sqlite:///{hub_dir / 'hub.db'}")
    with engine.connect() as conn:
        state = conn.execute(sa.text("SELECT state FROM boxes WHERE box_id='box-007'")).scalar()
    engine.dispose()
    assert state == "offline"


@pytest.mark.timeout(90)
def test_worker_survives_a_broker_restart(mosquitto, worker, hub_dir, tmp_path):
    process, log = worker
    box = FakeBox(mosquitto.host, mosquitto.port)
    assert box.send("alarm", [alarm_record(1)]) == {"upto": 1}
    box.close()

    mosquitto.stop()
    wait_for_log(log, "disconnected from broker", process=process)
    time.sleep(1.5)  # a few reconnect attempts fail while the broker is down
    assert process.poll() is None
    restarted = start_broker(tmp_path / "mosquitto-again", port=mosquitto.port)
    try:
        wait_for_log(log, SUBSCRIBED, count=2, timeout=20, process=process)
        box = FakeBox(restarted.host, restarted.port)
        try:
            assert box.send("alarm", [alarm_record(2)]) == {"upto": 2}
        finally:
            box.close()
    finally:
        assert stop_process(process) == 0
        restarted.stop()
    assert record_count(hub_dir) == 2


@pytest.mark.timeout(60)
def test_worker_waits_for_a_broker_that_is_not_up_yet(hub_dir, tmp_path):
    from provisioning.mosquitto import free_port

    port = free_port()
    log = tmp_path / "ingest.log"
    process = start_hub(["ingest"], hub_env(hub_dir, f"mqtt://127.0.0.1:{port}"), log)
    try:
        time.sleep(1.0)
        assert process.poll() is None
        broker = start_broker(tmp_path / "late-broker", port=port)
        try:
            wait_for_log(log, SUBSCRIBED, timeout=20, process=process)
        finally:
            assert stop_process(process) == 0
            broker.stop()
    finally:
        if process.poll() is None:
            process.kill()
    assert "ingest stopping" in log.read_text()


@pytest.mark.timeout(60)
def test_live_figures_are_kept_per_box_newest_first(mosquitto, worker, hub_dir):
    import json

    import paho.mqtt.client as mqtt

    box = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="box-live-1")
    box.connect(mosquitto.host, mosquitto.port)
    box.loop_start()
    try:
        def send(at, waiting):
            body = {"box_id": "box-live-1", "format": 1, "at": at, "calls_waiting": waiting,
                    "emergency_waiting": 0, "longest_wait_s": 0, "agents_by_state": {}, "trunks_up": 1,
                    "trunks_total": 1, "agents": [], "waiting": [], "trunks": []}
            box.publish("anxin/v1/box/box-live-1/live", json.dumps(body), qos=0).wait_for_publish(5)

        engine = sa.create_engine(f"sqlite:///{hub_dir / 'hub.db'}")

        def stored():
            with engine.connect() as conn:
                return conn.execute(sa.text("SELECT at FROM box_live WHERE box_id='box-live-1'")).scalar()

        send("2026-12-01T14:00:02+08:00", 3)
        deadline = time.monotonic() + 15
        while stored() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert stored() == "2026-12-01T14:00:02+08:00"
        send("2026-12-01T14:00:01+08:00", 9)  # older (out of order): ignored
        send("2026-12-01T14:00:04+08:00", 1)
        while stored() != "2026-12-01T14:00:04+08:00" and time.monotonic() < deadline:
            assert stored() != "2026-12-01T14:00:01+08:00"
            time.sleep(0.05)
        assert stored() == "2026-12-01T14:00:04+08:00"
        engine.dispose()
    finally:
        box.loop_stop()
        box.disconnect()
