"""Drive `anxin-sim telco` / `anxin-sim handset` processes from Python (demo, tests, bench).

Each tool prints one JSON event per line; a reader thread collects them so that none is
lost between waits, and `expect()` takes the first matching one.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any


def parse_event(line: str | bytes) -> dict[str, Any]:
    """One line a tool printed: its JSON event, or a ``text`` event for anything else."""
    try:
        event = json.loads(line)
    except ValueError:
        event = None
    if not isinstance(event, dict):
        text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
        event = {"event": "text", "line": text.rstrip("\n")}
    return event


def matches(item: dict[str, Any], event: str, match: dict[str, object]) -> bool:
    """ITEM is an EVENT whose fields equal MATCH."""
    return item.get("event") == event and all(item.get(k) == v for k, v in match.items())


class SimTool:
    """One simulator process: commands in on stdin, JSON events out."""

    def __init__(self, *args: str, log: Path | None = None) -> None:
        self._log = open(log, "w", encoding="utf-8") if log else None  # closed in stop()
        self.proc = subprocess.Popen([sys.executable, "-m", "drivers.sim_cli", *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log or subprocess.PIPE, text=True, bufsize=1)
        self.seen: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            event = parse_event(line)
            with self._cond:
                self.seen.append(event)
                self._cond.notify_all()

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def take(self, event: str, **match: object) -> dict[str, Any] | None:
        """The first unconsumed EVENT matching MATCH, removed; None if there is none yet."""
        with self._cond:
            for item in self.seen:
                if matches(item, event, match):
                    self.seen.remove(item)
                    return item
        return None

    def expect(self, event: str, timeout: float = 10.0, **match: object) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = self.take(event, **match)
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"{self.proc.args[3]}: no {event} {match} within {timeout} s; "
                                         f"saw {self.seen}")
                self._cond.wait(min(left, 0.1))

    def stop(self) -> str:
        """Quit (kill if it does not), return what it wrote on stderr."""
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(timeout=5)
            except (subprocess.TimeoutExpired, BrokenPipeError, OSError):
                self.proc.kill()
                self.proc.wait()
        err = self.proc.stderr.read() if self.proc.stderr else ""
        if self._log:
            self._log.close()
        return err
