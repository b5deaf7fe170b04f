"""Hybrid logical clock (Kulkarni et al., 2014): (wall ms, counter) that never goes back.

Box and hub both append case events; ordering them by HLC keeps causality even when a
box's clock is behind the hub's or steps back after an NTP correction.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Hlc:
    wall_ms: int
    counter: int = 0

    def __str__(self) -> str:
        return f"{self.wall_ms}:{self.counter}"


def tick(last: Hlc | None, now_ms: int) -> Hlc:
    """The stamp of a local event after LAST, with the physical clock at NOW_MS."""
    if last is None or now_ms > last.wall_ms:
        return Hlc(now_ms, 0)
    return Hlc(last.wall_ms, last.counter + 1)


def receive(last: Hlc | None, remote: Hlc, now_ms: int) -> Hlc:
    """The stamp after merging a REMOTE event's clock (e.g. a case event from the hub)."""
    local = last or Hlc(0, 0)
    wall = max(local.wall_ms, remote.wall_ms, now_ms)
    if wall == local.wall_ms == remote.wall_ms:
        return Hlc(wall, max(local.counter, remote.counter) + 1)
    if wall == local.wall_ms:
        return Hlc(wall, local.counter + 1)
    if wall == remote.wall_ms:
        return Hlc(wall, remote.counter + 1)
    return Hlc(wall, 0)
