"""Receiver-link supervision, sans-I/O: is the receiver still talking to us?

Any frame from the receiver proves the link; heartbeats exist so that a quiet night
still proves it. Silence for `missed` heartbeat intervals opens a receiver-link trouble
(a dead link means alarms nobody hears); the next frame closes it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LinkChange:
    up: bool
    silent_for: float


class LinkSupervisor:
    def __init__(self, interval: float, now: float, missed: int = 2) -> None:
        self.limit = interval * missed
        self.last_seen = now  # grace from start: the receiver gets a full window
        self.down = False

    def frame_seen(self, now: float) -> LinkChange | None:
        silent = now - self.last_seen
        self.last_seen = now
        if self.down:
            self.down = False
            return LinkChange(up=True, silent_for=silent)
        return None

    def poll(self, now: float) -> LinkChange | None:
        silent = now - self.last_seen
        if not self.down and silent >= self.limit:
            self.down = True
            return LinkChange(up=False, silent_for=silent)
        return None

    def get_timer(self) -> float | None:
        return None if self.down else self.last_seen + self.limit
