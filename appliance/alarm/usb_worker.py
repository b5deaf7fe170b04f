"""A USB panic-button receiver (`protocol = "usb"`, `port = "usb://VID:PID"`).

Same decisions as a serial receiver (commit, then ACK; repeats; supervision) through
the receiver worker; only the I/O differs: reports are polled from the interrupt
endpoint and the ACK is a report back. Unplugging opens a receiver-link trouble at
once: a receiver nobody can hear is residents without protection.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from appliance.alarm.receivers import ReceiverWorker
from appliance.config import AlarmReceiverConfig
from appliance.config.loader import parse_usb_url
from drivers.alarm_phone import surgard
from drivers.alarm_phone.usb_receiver import UsbReceiver, UsbReceiverError, UsbReceiverGone


class UsbReceiverWorker(ReceiverWorker):
    def __init__(self, cfg: AlarmReceiverConfig, *args: Any, backend: Any = None,
                 **kwargs: Any) -> None:
        self.vid, self.pid = parse_usb_url(cfg.port)
        self.backend = backend  # None: libusb; tests and the bench pass an emulated device
        super().__init__(cfg, *args, **kwargs)

    def _check_protocol(self) -> None:
        if self.cfg.protocol != "usb":
            raise ValueError(f"receiver {self.cfg.name!r}: not a USB receiver")

    def _open(self) -> UsbReceiver | None:
        try:
            port = UsbReceiver(self.vid, self.pid, backend=self.backend, timeout=0.2)
        except UsbReceiverError as exc:
            self._port_failed(str(exc))
            return None
        self.state.port_open, self.state.last_error = True, ""
        return port

    def _serve(self, port: UsbReceiver, conn: sqlite3.Connection) -> None:  # type: ignore[override]
        try:
            while not self.stop.is_set():
                event = port.read_event(0.2)
                # Not ACKed (a failed commit, a damaged report): the device resends.
                if event is not None and self._decide(conn, event) == surgard.ACK:
                    port.ack(event)
                    self._answered(event)
                self._supervise(conn)
        except UsbReceiverGone as exc:
            self.supervisor.down = True
            self._trouble(conn, open=True, detail=f"USB receiver unplugged: {exc}")
            raise
