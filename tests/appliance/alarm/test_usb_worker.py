"""alarmd's USB receiver worker through real pyusb (usb.core) and an emulated device."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from appliance.alarm.usb_worker import UsbReceiverWorker
from appliance.config import AlarmReceiverConfig
from appliance.store import connect, fetch_batch, open_store
from drivers.alarm_phone.usb_sim import EmulatedBackend, EmulatedReceiver

pytestmark = pytest.mark.timeout(30)


def wait_until(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_press_is_committed_then_acked_and_unplug_raises_trouble(tmp_path: Path) -> None:
    open_store(tmp_path).close()
    device = EmulatedReceiver(0x1A86, 0xE010)
    cfg = AlarmReceiverConfig(name="usb", protocol="usb", port="usb://1a86:e010",
                              heartbeat_interval=300)
    stop = threading.Event()
    worker = UsbReceiverWorker(cfg, "box-1", tmp_path / "box.db", stop,
                               backend=EmulatedBackend(device))
    worker.start()
    try:
        wait_until(lambda: worker.state.port_open)
        device.press(0x00A1B2C3)
        wait_until(lambda: device.acks)  # the device got its ACK …
        db = connect(tmp_path / "box.db")
        row = db.execute("SELECT protocol, account, event_code, qualifier FROM alarm_signals"
                         ).fetchone()
        assert tuple(row) == ("usb", "00A1B2C3", "101", "new")  # … after the commit
        assert not device.pending  # and stopped retransmitting
        device.unplug()
        wait_until(lambda: any(r.kind == "device_trouble" for r in fetch_batch(db, "alarm", 10)))
        trouble = [r.body for r in fetch_batch(db, "alarm", 10) if r.kind == "device_trouble"][0]
        assert (trouble["type"], trouble["state"]) == ("receiver_link", "open")
        assert "unplugged" in trouble["detail"]
        device.plug()
        device.keep_alive()
        wait_until(lambda: [r.body["state"] for r in fetch_batch(db, "alarm", 10)
                            if r.kind == "device_trouble"] == ["open", "closed"])
    finally:
        stop.set()
        worker.join(5)
