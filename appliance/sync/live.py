"""Live figures for the district's wallboards (CONTRACTS §6 ``…/live``), sans-I/O.

pbxd puts the 班长席 view on the local bus every 2 s (``pbx/live``). syncd hands the
newest one to the hub, at most once per MIN_INTERVAL, at QoS 0, and only while it is
connected. A live figure that could not go out is stale, so it is never queued. Only
what a wallboard shows leaves the box: counts, states and waits. The callers' files
stay on the box (the hub has the registry).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Final

LIVE_FORMAT: Final = 1
MIN_INTERVAL: Final = 2.0  # seconds between two live messages to the hub
AGENT_FIELDS: Final = ("agent_id", "name", "state", "state_zh", "reason", "seconds")
WAITING_FIELDS: Final = ("queue", "priority", "position", "wait_s", "callback")
TRUNK_FIELDS: Final = ("name", "d_channel", "span_state", "alarms", "idle_channels")


class LiveViewError(ValueError):
    """A view on the local bus is not pbxd's wallboard; says what is wrong."""


def hub_live(box_id: str, view: Any, at: str) -> dict[str, Any]:
    """The ``…/live`` payload for the hub, made from pbxd's VIEW and stamped AT (ISO 8601)."""
    if not isinstance(view, dict):
        raise LiveViewError("the live view is not a JSON object")
    if view.get("box_id") != box_id:  # a district's boxes may share one broker in the lab
        raise LiveViewError(f"the live view is for box {view.get('box_id')!r}, not {box_id!r}")
    agents = _rows(view, "agents", AGENT_FIELDS)
    waiting = _rows(view, "waiting", WAITING_FIELDS)
    trunks = _rows(view, "trunks", TRUNK_FIELDS)
    waits = [w["wait_s"] for w in waiting if isinstance(w.get("wait_s"), int | float)]
    return {
        "box_id": box_id, "format": LIVE_FORMAT, "at": at,
        "calls_waiting": len(waiting),
        "emergency_waiting": sum(1 for w in waiting if w.get("priority") == "emergency"),
        "longest_wait_s": max(waits, default=0),
        "agents_by_state": dict(Counter(str(a.get("state")) for a in agents)),
        "trunks_up": sum(1 for t in trunks if t.get("d_channel") == "up"),
        "trunks_total": len(trunks),
        "agents": agents, "waiting": waiting, "trunks": trunks,
    }


def _rows(view: dict[str, Any], key: str, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    rows = view.get(key, [])
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise LiveViewError(f"the live view's {key!r} is not a list of objects")
    return [{f: r.get(f) for f in fields} for r in rows]


class LiveRelay:
    """Keeps the newest view; hands it out when the hub is reachable and it is time."""

    def __init__(self, min_interval: float = MIN_INTERVAL) -> None:
        self.min_interval = min_interval
        self._latest: Any = None
        self._sent_at: float | None = None

    def offer(self, view: Any) -> None:
        self._latest = view  # newer replaces older: nobody needs the old one

    def take(self, now: float, *, connected: bool) -> Any:
        """The view to send now, or None (nothing new, not connected, or too soon)."""
        if self._latest is None:
            return None
        if not connected:
            self._latest = None  # stale by the time the hub is back
            return None
        if self._sent_at is not None and now - self._sent_at < self.min_interval:
            return None
        view, self._latest, self._sent_at = self._latest, None, now
        return view

    def next_due(self, now: float) -> float | None:
        """Seconds until a held view may go, or None when none is held."""
        if self._latest is None:
            return None
        if self._sent_at is None:
            return 0.0
        return max(0.0, self._sent_at + self.min_interval - now)
