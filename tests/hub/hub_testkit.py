"""Test helpers for the hub (importable: pytest puts tests/hub on sys.path)."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

NOW = datetime(2026, 11, 22, 5, 6, 0, tzinfo=UTC)


def csrf_of(client: FlaskClient) -> str:
    page = client.get("/login").get_data(as_text=True)
    marker = 'name="csrf_token" value="'
    start = page.index(marker) + len(marker)
    return page[start:page.index('"', start)]


def alarm_record(seq: int, *, signal_id: str | None = None, received_at: str | None = None,
                 **body: Any) -> dict[str, Any]:
    """A kind "alarm" record as the box sends it (a personal emergency by default)."""
    signal_id = signal_id or f"{seq:032x}"
    received_at = received_at or f"2026-11-22T13:05:{seq % 60:02d}.123456+08:00"
    full = {
        "signal_id": signal_id, "received_at": received_at, "receiver": "main",
        "protocol": "surgard", "receiver_no": "01", "line": "1", "recognised": True,
        "account": "5678", "message_type": "18", "event_code": "101", "qualifier": "new",
        "partition": "00", "zone": "001", "event_zh": "紧急求助",
        "event_en": "Personal emergency", "category": "emergency", "life_safety": True,
        "raw_hex": "3530313120", "note": None,
    }
    full.update(body)
    return {"seq": seq, "kind": "alarm", "id": signal_id, "at": received_at, "body": full}


def batch_payload(box_id: str, lane: str, records: list[dict[str, Any]]) -> bytes:
    return json.dumps({"box_id": box_id, "lane": lane, "batch": records}).encode()


def hub_env(data_dir: Path, mqtt_url: str | None = None) -> dict[str, str]:
    """The environment of a hub subprocess on its own data dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANXIN_HUB_")}
    env["ANXIN_HUB_DATA_DIR"] = str(data_dir)
    if mqtt_url:
        env["ANXIN_HUB_MQTT_URL"] = mqtt_url
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_hub(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child process
    try:
        return subprocess.Popen([sys.executable, "-m", "hub.cli", *args], env=env,
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    finally:
        log.close()


def wait_for_log(path: Path, text: str, *, count: int = 1, timeout: float = 15.0,
                 process: subprocess.Popen | None = None) -> str:
    """Wait until TEXT appears COUNT times in the log at PATH; returns the log."""
    deadline = time.monotonic() + timeout
    while True:
        content = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        if content.count(text) >= count:
            return content
        if process is not None and process.poll() is not None:
            raise AssertionError(f"process exited ({process.returncode}):\n{content}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} x{count} not in log after {timeout}s:\n{content}")
        time.sleep(0.05)


def stop_process(process: subprocess.Popen, timeout: float = 10.0) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
            raise AssertionError("process did not stop on SIGTERM") from None
    return process.returncode


class FakeBox:
    """A box's syncd reduced to MQTT: publish a batch, wait for the hub's ack, resend
    on silence (as the outbox does)."""

    def __init__(self, host: str, port: int, box_id: str = "box-001") -> None:
        import paho.mqtt.client as mqtt

        self.box_id = box_id
        self.acks: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=box_id,
                                  protocol=mqtt.MQTTv5)
        self.client.on_message = lambda _c, _u, msg: self.acks.put(
            (msg.topic, json.loads(msg.payload)))
        self.client.connect(host, port)
        self.client.loop_start()
        result, _mid = self.client.subscribe(f"anxin/v1/box/{box_id}/ack/+", qos=1)
        assert result == 0

    def send(self, lane: str, records: list[dict[str, Any]], *, timeout: float = 20.0,
             resend_every: float = 1.0) -> dict[str, Any]:
        payload = batch_payload(self.box_id, lane, records)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.client.publish(f"anxin/v1/box/{self.box_id}/up/{lane}", payload, qos=1)
            try:
                topic, body = self.acks.get(timeout=resend_every)
            except queue.Empty:
                continue
            assert topic == f"anxin/v1/box/{self.box_id}/ack/{lane}"
            return body
        raise AssertionError(f"no ack for {lane} seq {records[0]['seq']} in {timeout}s")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
