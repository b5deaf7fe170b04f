"""One alarm through every tier, with real processes: pty → alarmd → box.db → syncd →
Mosquitto → hub ingest → hub DB → hub API."""

from __future__ import annotations

import json
import os
import select
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from appliance.store import connect, pending
from drivers.alarm_phone import surgard
from drivers.alarm_phone.contact_id import ContactIdMessage
from drivers.alarm_phone.receiver_sim import Acked, ReceiverSim
from drivers.alarm_phone.simulator import FdLink, SimulatedReceiver
from provisioning.district import Box, District

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def wait_for(check: Callable[[], Any], timeout: float, what: str, district: District) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{district.logs()}")
        time.sleep(0.1)


def send_like_a_receiver(box: Box, frame: bytes, timeout: float = 30.0) -> bytes:
    """Write FRAME into the pty; resend after 4 s without an answer, like a receiver."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        os.write(box.receiver.master, frame)
        ready, _, _ = select.select([box.receiver.master], [], [], 4.0)
        if ready:
            return os.read(box.receiver.master, 16)
    return b""


def test_alarm_from_receiver_is_acked_and_listed_by_the_hub_api(district: District) -> None:
    box = district.add_box("weicheng-001")
    bus_messages: list[dict[str, Any]] = []
    watcher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-bus-watcher")
    watcher.on_message = lambda _c, _u, msg: bus_messages.append(json.loads(msg.payload))
    watcher.connect(district.broker.host, district.broker.port)
    watcher.subscribe("anxin/local/alarm/new")
    watcher.loop_start()
    try:
        reply = send_like_a_receiver(box, b"5011 185678E10100001\x14")
        assert reply == surgard.ACK
        # The local bus hears of it at once (for the console pop-up).
        wait_for(lambda: bus_messages, 10, "the alarm on the local bus", district)
    finally:
        watcher.loop_stop()
        watcher.disconnect()
    assert bus_messages[0]["account"] == "5678" and bus_messages[0]["event_zh"] == "紧急求助"
    # Stored on the box before the ACK, hence present now whatever the hub does.
    conn = connect(box.db_path)
    assert conn.execute("SELECT account FROM alarm_signals").fetchone()[0] == "5678"

    items = wait_for(lambda: district.alarms("weicheng-001"), 30, "the alarm at the hub",
                     district)
    [alarm] = items
    assert alarm["box_id"] == "weicheng-001"
    assert alarm["account"] == "5678"
    assert alarm["event_code"] == "101"
    assert alarm["qualifier"] == "new"
    assert alarm["zone"] == "001"
    assert alarm["received_at"].endswith("+08:00")
    # The hub acked, so syncd deleted the outbox row.
    wait_for(lambda: pending(conn) == 0, 15, "outbox drained after the hub's ack", district)
    boxes = district.api("/api/v1/boxes")["items"]
    assert [(b["box_id"], b["state"]) for b in boxes] == [("weicheng-001", "online")]


def run_receiver(box: Box, frames: list[bytes]) -> tuple[SimulatedReceiver, list[Acked]]:
    acked: list[Acked] = []
    sim = SimulatedReceiver(FdLink(box.receiver.master), ReceiverSim(heartbeat_interval=5.0),
                            on_event=lambda e: acked.append(e) if isinstance(e, Acked) else None)
    sim.start()
    for f in frames:
        sim.send(f)
    return sim, acked


def distinct_frames(n: int, zone_base: int = 0) -> list[bytes]:
    return [surgard.format_signal("01", "1", ContactIdMessage(
        f"{2000 + i:04d}", "18", 1, "101", "01", f"{(zone_base + i) % 1000:03d}"))
        for i in range(n)]


def signal_keys(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((a["account"], a["zone"]) for a in items)


def test_hub_down_alarms_still_acked_then_all_arrive_once(district: District) -> None:
    box = district.add_box("weicheng-002", ack_timeout=1.0)
    assert district.ingest.stop() is not None  # the hub's ingest is down
    frames = distinct_frames(20)
    sim, acked = run_receiver(box, frames)
    try:
        wait_for(lambda: len([a for a in acked if a.frame in frames]) == 20, 60,
                 "20 ACKs with the hub down", district)
        conn = connect(box.db_path)
        assert conn.execute("SELECT COUNT(*) FROM alarm_signals").fetchone()[0] == 20
        time.sleep(2.5)  # several resend rounds go unanswered
        assert pending(conn, "alarm") == 20  # nothing deleted without the hub's ack
        assert district.alarms("weicheng-002") == []

        district.start_ingest()  # the hub comes back
        items = wait_for(lambda: (lambda x: x if len(x) >= 20 else None)(
            district.alarms("weicheng-002")), 60, "all 20 alarms at the hub", district)
        time.sleep(3)  # let any duplicate deliveries land before counting
        items = district.alarms("weicheng-002")
        expected = sorted((f[7:11].decode(), f[17:20].decode()) for f in frames)
        assert signal_keys(items) == expected  # each exactly once
        wait_for(lambda: pending(conn) == 0, 20, "outbox drained", district)
    finally:
        sim.stop()


def test_broker_restart_loses_nothing_and_duplicates_nothing(district: District) -> None:
    box = district.add_box("weicheng-003", ack_timeout=1.0)
    first, second = distinct_frames(10), distinct_frames(10, zone_base=500)
    sim, acked = run_receiver(box, first)
    try:
        wait_for(lambda: len(district.alarms("weicheng-003")) == 10, 60, "first 10", district)
        district.restart_broker()
        for f in second:
            sim.send(f)
        wait_for(lambda: len(district.alarms("weicheng-003")) >= 20, 90,
                 "second 10 after the broker restart", district)
        time.sleep(3)
        keys = signal_keys(district.alarms("weicheng-003"))
        assert len(keys) == len(set(keys)) == 20
    finally:
        sim.stop()
