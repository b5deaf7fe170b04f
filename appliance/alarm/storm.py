"""Grouping a storm of AC-loss signals for the operators, sans-I/O (time passed in).

After a power cut every resident's device on the estate reports AC loss (301) within
minutes, and later the restore. Each signal is still stored and sent to the hub; what
changes is what the console is told: the first few individually, then one storm notice
that is updated (at most every `update_every` seconds) instead of hundreds of pop-ups.
Life-safety signals are never grouped.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

GROUPED_CODES = frozenset({"301"})


@dataclass
class Storm:
    code: str
    qualifier: str
    started_at: float
    accounts: set[str] = field(default_factory=set)
    last_notice: float = 0.0


@dataclass(frozen=True)
class Notice:
    topic: str  # "alarm/new" or "alarm/storm"
    payload: dict[str, Any]


class StormGrouper:
    def __init__(self, threshold: int = 5, window: float = 120.0, update_every: float = 10.0,
                 quiet_after: float = 300.0) -> None:
        self.threshold, self.window = threshold, window
        self.update_every, self.quiet_after = update_every, quiet_after
        self._recent: dict[tuple[str, str], deque[tuple[float, str]]] = {}
        self._storms: dict[tuple[str, str], Storm] = {}

    def on_alarm(self, body: dict[str, Any], now: float) -> list[Notice]:
        code, qualifier = body.get("event_code"), body.get("qualifier")
        if code not in GROUPED_CODES or body.get("life_safety"):
            return [Notice("alarm/new", body)]
        key = (code, qualifier)
        storm = self._storms.get(key)
        if storm is not None and now - storm.last_notice > self.quiet_after:
            storm = self._storms.pop(key)  # over: the next one starts afresh
            storm = None
        if storm is not None:
            storm.accounts.add(body.get("account") or "?")
            if now - storm.last_notice >= self.update_every:
                return [self._notice(storm, now)]
            return []
        recent = self._recent.setdefault(key, deque())
        recent.append((now, body.get("account") or "?"))
        while recent and now - recent[0][0] > self.window:
            recent.popleft()
        if len(recent) < self.threshold:
            return [Notice("alarm/new", body)]
        # The storm counts the homes already shown individually too.
        storm = Storm(code, qualifier or "", now, {account for _, account in recent})
        self._storms[key] = storm
        recent.clear()
        return [self._notice(storm, now)]

    def _notice(self, storm: Storm, now: float) -> Notice:
        storm.last_notice = now
        restore = storm.qualifier == "restore"
        return Notice("alarm/storm", {
            "event_code": storm.code, "qualifier": storm.qualifier, "count": len(storm.accounts),
            "since": storm.started_at,
            "text_zh": ("市电恢复" if restore else "大面积交流电断电") + f"：{len(storm.accounts)} 户",
            "text_en": ("AC restored" if restore else "AC loss storm") + f": {len(storm.accounts)} homes",
        })
