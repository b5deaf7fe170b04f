"""`anxin-box all`: the box daemons as child processes, restarted if one dies.

Separate processes on purpose (ARCHITECTURE): the alarm path must stay up when
telephony or sync fail. On real boxes systemd does this job, one unit per daemon.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

log = logging.getLogger("all")

RESTART_DELAY_MAX = 30.0


def run_all(daemons: list[str], config_path: Path) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    children: dict[str, subprocess.Popen] = {}
    delays = dict.fromkeys(daemons, 1.0)
    next_start = dict.fromkeys(daemons, 0.0)

    def spawn(name: str) -> None:
        children[name] = subprocess.Popen(
            [sys.executable, "-m", "appliance.cli", name, "--config", str(config_path)])
        log.info("started %s (pid %d)", name, children[name].pid)

    for name in daemons:
        spawn(name)
    try:
        while not stop.wait(0.5):
            now = time.monotonic()
            for name in daemons:
                proc = children.get(name)
                if proc is not None and proc.poll() is not None:
                    log.error("%s exited with %s; restarting in %.0fs", name, proc.returncode,
                              delays[name])
                    children.pop(name)
                    next_start[name] = now + delays[name]
                    delays[name] = min(delays[name] * 2, RESTART_DELAY_MAX)
                if name not in children and now >= next_start[name]:
                    spawn(name)
    finally:
        for proc in children.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in children.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0
