"""The frame every box daemon runs in: logging, signals, systemd readiness and watchdog.

A daemon is an object with `start()`, `healthy() -> bool`, `status() -> str` and
`stop()`; the frame owns the process around it.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Protocol

from appliance.systemd import Notifier

log = logging.getLogger("daemon")


class BoxDaemon(Protocol):
    name: str

    def start(self) -> None: ...
    def healthy(self) -> bool: ...
    def status(self) -> str: ...
    def stop(self) -> None: ...


def run(daemon: BoxDaemon, notifier: Notifier | None = None) -> int:
    """Run DAEMON until SIGTERM/SIGINT; returns the process exit code."""
    notifier = notifier or Notifier()
    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    daemon.start()
    notifier.ready(daemon.status())
    log.info("%s started", daemon.name)
    # Ping at half the watchdog period, and only while the daemon says it is healthy:
    # a wedged daemon is then restarted by systemd instead of silently doing nothing.
    tick = min(1.0, notifier.watchdog_interval / 2) if notifier.watchdog_interval else 1.0
    last_status = ""
    try:
        while not stop.wait(tick):
            if daemon.healthy():
                notifier.watchdog()
            status = daemon.status()
            if status != last_status:
                notifier.status(status)
                last_status = status
    finally:
        notifier.stopping()
        name = signal.Signals(received[0]).name if received else "exit"
        log.info("%s stopping (%s)", daemon.name, name)
        started = time.monotonic()
        daemon.stop()
        log.info("%s stopped in %.2fs", daemon.name, time.monotonic() - started)
    return 0
