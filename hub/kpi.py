"""The district's call-centre figures (CONTRACTS §7 ``/api/v1/reports/kpi``), sans-I/O.

The boxes send their queue log: kinds ``queue_event`` and ``agent_event`` on the bulk
lane. The hub works these figures out with the box's own definitions
(appliance/acd/metrics.py), so a centre's supervisor and the district read the same
service level, ASA, AHT, abandon rate and occupancy. Call ids and agent ids are unique
only within a box, so each gets its box as a prefix before the boxes' events are mixed.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from appliance.acd.events import QueueEvent
from appliance.acd.metrics import QueueMetrics, agent_occupancy, overall_occupancy, queue_metrics

EMERGENCY_QUEUE = "emergency"  # the boxes' default (appliance/acd/model.py); alarms that call in


def queue_events(box_events: Iterable[tuple[str, Any]]) -> tuple[list[QueueEvent], int]:
    """(events, how many records could not be read) from (box_id, record body) pairs."""
    events: list[QueueEvent] = []
    skipped = 0
    for box_id, body in box_events:
        try:
            at = datetime.fromisoformat(body["at"])
            if at.tzinfo is None or not isinstance(body["kind"], str):
                raise ValueError("no offset, or no kind")
            call, agent, data = body.get("call_id"), body.get("agent_id"), body.get("data") or {}
            if not isinstance(data, dict):
                raise ValueError("data is not an object")
            if not all(v is None or isinstance(v, str) for v in (call, agent, body.get("queue"))):
                raise ValueError("call_id, agent_id and queue are strings")
            events.append(QueueEvent(at.timestamp(), body["kind"], f"{box_id}/{call}" if call else None,
                                     body.get("queue"), f"{box_id}/{agent}" if agent else None, data))
        except (KeyError, TypeError, ValueError):
            skipped += 1  # a record the box sent wrongly costs itself, not the report
    return events, skipped


def figures(m: QueueMetrics) -> dict[str, Any]:
    return {
        "offered": m.offered, "answered": m.answered, "answered_within_target": m.answered_within_target,
        "abandoned": m.abandoned, "short_abandoned": m.short_abandoned, "overflowed": m.overflowed,
        "callbacks_requested": m.callbacks_requested, "waiting": m.waiting,
        "service_level": m.service_level, "asa_s": m.asa, "aht_s": m.aht, "abandon_rate": m.abandon_rate,
        "max_wait_s": m.max_wait,
    }


def missed_calls(task_records: Iterable[tuple[str, Any]], *, start: datetime,
                 end: datetime) -> dict[str, Any]:
    """未接来电回访: the callback tasks created in [START, END) as their last record says
    (each ``callback_task`` record carries the whole task, in the box's order)."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for box_id, body in task_records:
        task = body.get("task") if isinstance(body, dict) else None
        if isinstance(task, dict) and isinstance(task.get("task_id"), str):
            latest[(box_id, task["task_id"])] = task
    created = closed = reached = 0
    to_close: list[float] = []
    for task in latest.values():
        try:
            made = datetime.fromisoformat(task["created_at"])
        except (KeyError, TypeError, ValueError):
            continue
        if not start <= made < end:
            continue
        created += 1
        if task.get("outcome") is not None:
            closed += 1
            reached += task["outcome"] == "reached"
            try:
                to_close.append((datetime.fromisoformat(task["closed_at"]) - made).total_seconds())
            except (KeyError, TypeError, ValueError):
                pass
    return {"tasks": created, "closed": closed, "reached": reached, "open": created - closed,
            "response_rate": closed / created if created else None,
            "median_close_s": statistics.median(to_close) if to_close else None}


def kpi_report(box_events: Iterable[tuple[str, Any]], *, start: datetime, end: datetime,
               service_level_target: float, short_abandon: float,
               task_records: Iterable[tuple[str, Any]] = ()) -> dict[str, Any]:
    """Figures for the calls that joined a queue in [START, END): all boxes together, per
    queue and per box, the agents' occupancy, and the emergency queue's (alarms calling in)."""
    events, skipped = queue_events(box_events)
    window = {"start": start.timestamp(), "end": end.timestamp(),
              "service_level_target": service_level_target, "short_abandon": short_abandon}

    def of(evs: list[QueueEvent], queue: str | None = None) -> dict[str, Any]:
        return figures(queue_metrics(evs, queue=queue, **window))

    boxes = sorted({e.call_id.split("/", 1)[0] for e in events if e.call_id}
                   | {e.agent_id.split("/", 1)[0] for e in events if e.agent_id})
    occupancy = overall_occupancy(agent_occupancy(events, start=window["start"], end=window["end"]))
    return {
        "calls": of(events),
        "by_queue": {q: of(events, q) for q in sorted({e.queue for e in events if e.queue})},
        "by_box": {b: of([e for e in events if (e.call_id or e.agent_id or "").startswith(b + "/")])
                   for b in boxes},
        "emergency": of(events, EMERGENCY_QUEUE),
        "occupancy": occupancy.occupancy,
        "agent_hours": {"logged_in": occupancy.logged_in_s / 3600, "paused": occupancy.paused_s / 3600,
                        "working": occupancy.working_s / 3600},
        "missed_calls": missed_calls(task_records, start=start, end=end),
        "unreadable_events": skipped,
    }
