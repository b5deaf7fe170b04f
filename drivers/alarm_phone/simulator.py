"""A simulated Sur-Gard receiver on a real serial line or pty (the I/O around ReceiverSim).

Part of the product: the demo district and technicians' bench tests run it. It writes
the same bytes a real receiver writes and waits for the same ACK/NAK.
"""

from __future__ import annotations

import os
import pty
import queue
import select
import termios
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import serial

from drivers.alarm_phone.receiver_sim import ReceiverSim, SimEvent


@dataclass
class Pty:
    """A pseudo-terminal standing in for a receiver's serial cable.

    The box opens `path` (the slave side) like /dev/ttyUSB0; the simulator reads and
    writes `master`. We keep the slave open ourselves so the master never sees EIO
    while the box restarts, and put it in raw mode so nothing echoes or translates.
    """

    master: int
    slave: int
    path: str

    @classmethod
    def open(cls) -> Pty:
        master, slave = pty.openpty()
        tty.setraw(slave, termios.TCSANOW)
        os.set_blocking(master, False)
        return cls(master, slave, os.ttyname(slave))

    def close(self) -> None:
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


class Link(Protocol):
    def read(self, timeout: float) -> bytes: ...
    def write(self, data: bytes) -> None: ...
    def close(self) -> None: ...


class FdLink:
    """The master side of a pty (or any fd)."""

    def __init__(self, fd: int, owns: bool = False) -> None:
        self.fd, self.owns = fd, owns

    def read(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not ready:
            return b""
        try:
            return os.read(self.fd, 4096)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError:  # EIO: nobody has the other side open right now
            time.sleep(min(timeout, 0.05))
            return b""

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.fd, view)
            except BlockingIOError:
                select.select([], [self.fd], [], 1.0)
                continue
            view = view[n:]

    def close(self) -> None:
        if self.owns:
            os.close(self.fd)


class SerialLink:
    """Any pyserial URL or device path (the simulator on a real RS-232 cable)."""

    def __init__(self, url: str, baudrate: int = 9600) -> None:
        self.port = serial.serial_for_url(url, baudrate=baudrate, timeout=0)

    def read(self, timeout: float) -> bytes:
        self.port.timeout = max(0.0, timeout)
        return self.port.read(max(1, self.port.in_waiting))

    def write(self, data: bytes) -> None:
        self.port.write(data)
        self.port.flush()

    def close(self) -> None:
        self.port.close()


class SimulatedReceiver(threading.Thread):
    """Runs a ReceiverSim against a link in real time; frames are fed with `send`."""

    def __init__(self, link: Link, core: ReceiverSim | None = None,
                 on_event: Callable[[SimEvent], None] | None = None,
                 on_transmit: Callable[[bytes, float], None] | None = None) -> None:
        super().__init__(name="simulated-receiver", daemon=True)
        self.link = link
        self.core = core or ReceiverSim()
        self.on_event, self.on_transmit = on_event, on_transmit
        self.inbox: queue.Queue[bytes] = queue.Queue()
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def send(self, frame: bytes) -> None:
        self.inbox.put(frame)

    def idle(self) -> bool:
        return self.inbox.empty() and self.core.queued == 0

    def stop(self) -> None:
        self.stopping.set()
        self.join(5)

    def run(self) -> None:
        core = self.core
        try:
            while not self.stopping.is_set():
                while True:
                    try:
                        core.queue_frame(self.inbox.get_nowait())
                    except queue.Empty:
                        break
                now = time.monotonic()
                out = core.data_to_send(now)
                if out:
                    self.link.write(out)
                    if self.on_transmit:
                        self.on_transmit(out, now)
                timer = core.get_timer()
                wait = 0.02 if timer is None else min(0.02, max(0.0, timer - time.monotonic()))
                data = self.link.read(wait)
                if data:
                    core.receive_data(data, time.monotonic())
                while (event := core.next_event()) is not None:
                    if self.on_event:
                        self.on_event(event)
        except BaseException as exc:  # reported to whoever joins us
            self.error = exc
            raise
