"""Queue and agent figures from the queue log alone (docs/acd.md, "Metrics").

Pure functions over ``QueueEvent``s (in time order; they are sorted stably by ``at``
first). Every ratio or mean with nothing to divide by is ``None``, never an error.

**Which calls count.** A call counts in the window if it *joined* in ``[start, end)``
(for one queue: joined that queue then); what happens to it afterwards counts even if
after ``end``. Each call gets one outcome, its first of:

- *answered*: ``connected`` while the caller is on the line;
- *abandoned*: ``abandoned`` (while waiting or while an agent's phone rang); a *short*
  abandon is one with ``wait_s < short_abandon`` — the caller hung up before anyone
  could have answered — and is left out of service level and abandon rate;
- *overflowed*: ``overflowed`` (max wait, nobody to serve it, queue emptied);
- *callback*: ``callback_requested`` — the caller hung up for a callback. It counts
  against the service level (it was not answered within the target while on the line)
  but its later callback, if the agent reaches the caller, counts in AHT as agent work;
- *waiting*: none yet when the events end. Such calls have no outcome to judge and are
  left out of service level and abandon rate.

So ``offered == answered + abandoned + overflowed + callbacks_requested + waiting``.

**Overflow from queue A to queue B.** Per queue, the call is offered in both: in A it
counts as offered and overflowed; in B as offered (also counted in ``overflowed_in``)
with whatever happens to it there, its wait still counted from when the caller first
entered the ACD (``wait_s`` is since the original ``enqueued_at``). For the whole ACD
(``queue=None``) each call counts once, in the window of its first join, with the
outcome of its last queue: a call that moved from A to B and was answered there is one
offered, answered call; ``overflowed`` then counts only calls overflowed out of the ACD
(to a mobile, a message, a callback, a hang-up). A call once chosen for a callback stays
a callback in every queue after.

**Figures.** ``service_level`` = answered with ``wait_s ≤ service_level_target`` ÷
(offered − short abandons − waiting); ``abandon_rate`` = (abandoned − short) ÷ the same;
``asa`` = mean ``wait_s`` of answered calls; ``aht`` = mean ``talk_s`` + wrap-up over
calls whose talk ended (``completed`` / ``transferred``, callbacks included), the
wrap-up being ``wrapup_ended.data["wrapup_s"]`` of that agent after that call (0 when
the agent had none; a call whose wrap-up has not ended yet is left out); ``max_wait`` =
the longest ``wait_s`` of any counted call, whatever its outcome.

**Agents.** ``agent_occupancy`` classifies each moment an agent is logged in, clipped
to ``[start, end)``: ringing, busy or in wrap-up — that is work, even while a pause is
pending — else paused (``paused`` … ``unpaused``), else idle. Occupancy = work ÷
(logged in − paused). Ringing runs from ``offered`` to the end of the ring (see
``events.py``); for an agent-first callback the log shows no moment of answer, so the
agent's time until the caller is reached (``connected``) or not (``callback_failed``)
counts as ringing — work either way. The agents' state before ``start`` is rebuilt from
the events before it, so pass the events from each session's log-in on; an agent first
seen otherwise counts as logged in from its first event.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from appliance.acd.events import (
    ABANDONED,
    CALLBACK_FAILED,
    CALLBACK_REQUESTED,
    COMPLETED,
    CONNECTED,
    JOINED,
    LOGGED_IN,
    LOGGED_OUT,
    OFFERED,
    OVERFLOWED,
    PAUSED,
    RING_NO_ANSWER,
    TRANSFERRED,
    UNPAUSED,
    WRAPUP_ENDED,
    WRAPUP_STARTED,
    QueueEvent,
)

ANSWERED, ABANDON, OVERFLOW, CALLBACK = "answered", "abandoned", "overflowed", "callback"


class MetricsError(ValueError):
    """A bad argument to a metrics function; the message names it and says why."""


@dataclass(frozen=True)
class QueueMetrics:
    """One queue's (or, with ``queue=None``, the whole ACD's) figures over a window."""

    queue: str | None
    offered: int
    overflowed_in: int  # of ``offered``: came from another queue by overflow
    answered: int
    answered_within_target: int
    abandoned: int  # short abandons included
    short_abandoned: int
    overflowed: int
    callbacks_requested: int
    waiting: int  # no outcome yet when the events end
    service_level: float | None
    asa: float | None
    aht: float | None
    abandon_rate: float | None
    max_wait: float | None


@dataclass(frozen=True)
class AgentOccupancy:
    """Seconds of one agent (``agent_id=None``: all together) inside the window."""

    agent_id: str | None
    logged_in_s: float
    paused_s: float
    idle_s: float
    ringing_s: float
    busy_s: float
    wrapup_s: float

    @property
    def working_s(self) -> float:
        return self.ringing_s + self.busy_s + self.wrapup_s

    @property
    def available_s(self) -> float:
        """Logged in and not paused."""
        return self.logged_in_s - self.paused_s

    @property
    def occupancy(self) -> float | None:
        """(ringing + busy + wrap-up) ÷ (logged in − paused); None with no such time."""
        available = self.available_s
        return self.working_s / available if available > 0 else None


# --- calls -----------------------------------------------------------------------------------


@dataclass(eq=False)
class _Segment:
    """A call's stay in one queue."""

    call: _Call
    queue: str | None
    joined_at: float
    overflowed_in: bool
    outcome: str | None = None
    wait: float | None = None
    overflowed_out: bool = False
    agent_id: str | None = None
    connected_at: float | None = None
    handle: float | None = None  # talk + wrap-up, once both are known


@dataclass(eq=False)
class _Call:
    segments: list[_Segment] = field(default_factory=list)
    callback: bool = False

    @property
    def joined_at(self) -> float:
        return self.segments[0].joined_at


@dataclass(eq=False)
class _Handling:
    """An agent's call whose talk has ended and whose wrap-up may follow."""

    segment: _Segment
    talk: float
    wrapup_started_at: float | None = None


class _CallLog:
    """Rebuilds calls and their stays in queues from the events."""

    def __init__(self) -> None:
        self.calls: list[_Call] = []
        self._current: dict[str, _Segment] = {}  # call id → its latest stay
        self._talk_ended: dict[str, _Handling] = {}  # agent → call in (or before) wrap-up

    def feed(self, event: QueueEvent) -> None:
        kind, call_id = event.kind, event.call_id
        if kind == JOINED and call_id is not None:
            self._join(event, call_id)
        elif kind in (CONNECTED, ABANDONED, OVERFLOWED, CALLBACK_REQUESTED) and call_id is not None:
            self._outcome(event, self._segment(event, call_id))
        elif kind in (COMPLETED, TRANSFERRED) and call_id is not None:
            segment = self._current.get(call_id)
            agent = event.agent_id or (segment.agent_id if segment else None)
            if segment is not None and segment.connected_at is not None and agent is not None:
                talk = _number(event.data.get("talk_s"), event.at - segment.connected_at)
                self._close_handling(agent, event.at)
                self._talk_ended[agent] = _Handling(segment, talk)
        elif kind == CALLBACK_FAILED and event.agent_id is not None:
            self._close_handling(event.agent_id, event.at)  # no talk: its wrap-up is nobody's
        elif kind == WRAPUP_STARTED and event.agent_id in self._talk_ended:
            self._talk_ended[event.agent_id].wrapup_started_at = event.at
        elif kind == WRAPUP_ENDED and event.agent_id in self._talk_ended:
            handling = self._talk_ended.pop(event.agent_id)
            began = handling.wrapup_started_at if handling.wrapup_started_at is not None else event.at
            wrapup = _number(event.data.get("wrapup_s"), event.at - began)
            handling.segment.handle = handling.talk + wrapup
        elif kind in (OFFERED, LOGGED_OUT) and event.agent_id is not None:
            self._close_handling(event.agent_id, event.at)

    def finish(self) -> None:
        for agent in list(self._talk_ended):
            handling = self._talk_ended[agent]
            if handling.wrapup_started_at is None:  # the agent went on without wrap-up
                handling.segment.handle = handling.talk
            del self._talk_ended[agent]  # else: still in wrap-up, its handle time unknown

    def _join(self, event: QueueEvent, call_id: str) -> None:
        previous = self._current.get(call_id)
        # Moved on by overflow (or, defensively, joined elsewhere before any outcome).
        moved = previous is not None and (previous.overflowed_out or previous.outcome is None)
        if moved:
            call = previous.call
        else:
            call = _Call()
            self.calls.append(call)
        segment = _Segment(call, event.queue, event.at, overflowed_in=moved)
        if call.callback:
            segment.outcome, segment.wait = CALLBACK, previous.wait if previous else None
        call.segments.append(segment)
        self._current[call_id] = segment

    def _segment(self, event: QueueEvent, call_id: str) -> _Segment:
        """The call's stay in its queue; an outcome whose ``joined`` is not in the log (it
        starts mid-call) stands for a join at that moment."""
        segment = self._current.get(call_id)
        if segment is None:
            call = _Call()
            self.calls.append(call)
            segment = _Segment(call, event.queue, event.at, overflowed_in=False)
            call.segments.append(segment)
            self._current[call_id] = segment
        return segment

    def _outcome(self, event: QueueEvent, segment: _Segment) -> None:
        wait = _number(event.data.get("wait_s"), event.at - segment.call.joined_at)
        if event.kind == CONNECTED:
            segment.agent_id = event.agent_id
            segment.connected_at = event.at
        elif event.kind == OVERFLOWED:
            segment.overflowed_out = True
        if segment.outcome is None:
            segment.outcome = {CONNECTED: ANSWERED, ABANDONED: ABANDON, OVERFLOWED: OVERFLOW,
                               CALLBACK_REQUESTED: CALLBACK}[event.kind]
            segment.wait = wait
            segment.call.callback = segment.outcome == CALLBACK

    def _close_handling(self, agent: str, at: float) -> None:
        """The agent moved on: a call whose wrap-up never started had none."""
        handling = self._talk_ended.pop(agent, None)
        if handling is not None:
            began = handling.wrapup_started_at
            handling.segment.handle = handling.talk + (at - began if began is not None else 0.0)


def _number(value: object, fallback: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return fallback


def _ordered(events: Iterable[QueueEvent]) -> list[QueueEvent]:
    return sorted(events, key=lambda event: event.at)


def _window(start: float | None, end: float | None) -> None:
    for name, value in (("start", start), ("end", end)):
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)
                                  or not math.isfinite(value)):
            raise MetricsError(f"{name}: must be a finite time in seconds, got {value!r}")
    if start is not None and end is not None and end <= start:
        raise MetricsError(f"end: must be after start ({start!r}), got {end!r}")


def _seconds(name: str, value: object) -> float:
    if (not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value)
            or value < 0):
        raise MetricsError(f"{name}: must be ≥ 0 seconds, got {value!r}")
    return float(value)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def queue_metrics(events: Iterable[QueueEvent], *, queue: str | None = None,
                  start: float | None = None, end: float | None = None,
                  service_level_target: float = 20.0, short_abandon: float = 5.0) -> QueueMetrics:
    """Figures of ``queue`` (None: the whole ACD, each call once) for calls that joined
    in ``[start, end)`` (None: unbounded). See the module docstring for the definitions."""
    _window(start, end)
    target = _seconds("service_level_target", service_level_target)
    short = _seconds("short_abandon", short_abandon)
    log = _CallLog()
    for event in _ordered(events):
        log.feed(event)
    log.finish()

    def in_window(at: float) -> bool:
        return (start is None or at >= start) and (end is None or at < end)

    # (outcome, wait, overflowed in, handle times) per counted call or stay.
    counted: list[tuple[str | None, float | None, bool, list[float]]] = []
    for call in log.calls:
        if queue is None:
            if in_window(call.joined_at):
                last = call.segments[-1]
                handles = [s.handle for s in call.segments if s.handle is not None]
                counted.append((last.outcome, last.wait, False, handles))
        else:
            for segment in call.segments:
                if segment.queue == queue and in_window(segment.joined_at):
                    handles = [segment.handle] if segment.handle is not None else []
                    counted.append((segment.outcome, segment.wait, segment.overflowed_in, handles))

    answered_waits = [wait or 0.0 for outcome, wait, _, _ in counted if outcome == ANSWERED]
    abandon_waits = [wait or 0.0 for outcome, wait, _, _ in counted if outcome == ABANDON]
    offered = len(counted)
    waiting = sum(1 for outcome, *_ in counted if outcome is None)
    short_abandoned = sum(1 for wait in abandon_waits if wait < short)
    within = sum(1 for wait in answered_waits if wait <= target)
    judged = offered - short_abandoned - waiting
    waits = [wait for _, wait, _, _ in counted if wait is not None]
    return QueueMetrics(
        queue=queue,
        offered=offered,
        overflowed_in=sum(1 for _, _, moved, _ in counted if moved),
        answered=len(answered_waits),
        answered_within_target=within,
        abandoned=len(abandon_waits),
        short_abandoned=short_abandoned,
        overflowed=sum(1 for outcome, *_ in counted if outcome == OVERFLOW),
        callbacks_requested=sum(1 for outcome, *_ in counted if outcome == CALLBACK),
        waiting=waiting,
        service_level=within / judged if judged > 0 else None,
        asa=_mean(answered_waits),
        aht=_mean([handle for *_, handles in counted for handle in handles]),
        abandon_rate=(len(abandon_waits) - short_abandoned) / judged if judged > 0 else None,
        max_wait=max(waits) if waits else None,
    )


# --- agents ----------------------------------------------------------------------------------

_RINGING, _BUSY, _WRAPUP = "ringing", "busy", "wrapup"


@dataclass(eq=False)
class _AgentClock:
    """One agent's state and the seconds it has spent in each inside the window."""

    since: float
    logged_in: bool = False
    paused: bool = False
    activity: str | None = None  # ringing / busy / wrapup
    call_id: str | None = None
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(
        ("paused", "idle", _RINGING, _BUSY, _WRAPUP), 0.0))

    def advance(self, now: float, start: float, end: float) -> None:
        if self.logged_in:
            spent = min(now, end) - max(self.since, start)
            if spent > 0:
                bucket = self.activity or ("paused" if self.paused else "idle")
                self.seconds[bucket] += spent
        self.since = max(self.since, now)

    def set_activity(self, activity: str | None, call_id: str | None = None) -> None:
        self.activity, self.call_id = activity, call_id


def agent_occupancy(events: Iterable[QueueEvent], *, start: float, end: float) -> dict[str, AgentOccupancy]:
    """Each agent's time in ``[start, end)`` by state, for agents logged in then (by id).

    Sessions still open at ``end`` are cut there; those begun before ``start`` count from
    ``start``. ``overall_occupancy`` adds them up.
    """
    if start is None or end is None:
        raise MetricsError("start/end: agent occupancy needs a bounded window")
    _window(start, end)
    clocks: dict[str, _AgentClock] = {}

    def clock(agent_id: str, at: float) -> _AgentClock:
        agent = clocks.setdefault(agent_id, _AgentClock(since=at))
        agent.advance(at, start, end)
        return agent

    def on_call(call_id: str | None, at: float, activities: tuple[str, ...]) -> list[_AgentClock]:
        found = [a for a in clocks.values() if a.call_id == call_id and a.activity in activities]
        for agent in found:
            agent.advance(at, start, end)
        return found

    for event in _ordered(events):
        kind, at, call_id = event.kind, event.at, event.call_id
        agent = clock(event.agent_id, at) if event.agent_id is not None else None
        if agent is not None and not agent.logged_in and kind != LOGGED_OUT:
            agent.logged_in = True  # first seen mid-session: logged in from here
        if kind == LOGGED_IN and agent is not None:
            agent.paused = False
            agent.set_activity(None)
        elif kind == LOGGED_OUT and agent is not None:
            agent.logged_in = agent.paused = False
            agent.set_activity(None)
        elif kind == PAUSED and agent is not None:
            agent.paused = True
        elif kind == UNPAUSED and agent is not None:
            agent.paused = False
        elif kind == OFFERED and agent is not None:
            agent.set_activity(_RINGING, call_id)
        elif kind == RING_NO_ANSWER and agent is not None:
            if agent.activity == _RINGING:
                agent.set_activity(None)
        elif kind == CONNECTED:
            for other in on_call(call_id, at, (_RINGING,)):  # ring-all: the others stop ringing
                other.set_activity(None)
            if agent is not None:
                agent.set_activity(_BUSY, call_id)
        elif kind in (ABANDONED, OVERFLOWED, CALLBACK_REQUESTED):
            for other in on_call(call_id, at, (_RINGING,)):
                other.set_activity(None)
        elif kind in (COMPLETED, TRANSFERRED, CALLBACK_FAILED):
            for other in on_call(call_id, at, (_RINGING, _BUSY)):
                other.set_activity(None)
        elif kind == WRAPUP_STARTED and agent is not None:
            agent.set_activity(_WRAPUP, call_id)
        elif kind == WRAPUP_ENDED and agent is not None:
            if agent.activity == _WRAPUP:
                agent.set_activity(None)
    result: dict[str, AgentOccupancy] = {}
    for agent_id in sorted(clocks):
        agent = clocks[agent_id]
        agent.advance(end, start, end)
        spent = agent.seconds
        logged_in = sum(spent.values())
        if logged_in > 0:
            result[agent_id] = AgentOccupancy(agent_id, logged_in, spent["paused"], spent["idle"],
                                              spent[_RINGING], spent[_BUSY], spent[_WRAPUP])
    return result


def overall_occupancy(by_agent: Mapping[str, AgentOccupancy]) -> AgentOccupancy:
    """All agents together: their seconds added up (``agent_id=None``), so ``.occupancy``
    is total work ÷ total available time — an agent's weight is its hours."""
    agents = list(by_agent.values())
    return AgentOccupancy(
        agent_id=None,
        logged_in_s=sum(a.logged_in_s for a in agents),
        paused_s=sum(a.paused_s for a in agents),
        idle_s=sum(a.idle_s for a in agents),
        ringing_s=sum(a.ringing_s for a in agents),
        busy_s=sum(a.busy_s for a in agents),
        wrapup_s=sum(a.wrapup_s for a in agents),
    )
