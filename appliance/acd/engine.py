"""AcdEngine: waiting calls, agent states, offers and timers, sans-I/O (docs/acd.md).

pbxd feeds what happened, with the time; the engine answers with actions (ring, stop
ringing, bridge, overflow, announce) and queue events::

    engine = AcdEngine(cfg.queues, cfg.agents)
    engine.login("1001", now)
    engine.join("c1", "general", now, priority=Priority.ELDER, caller="13912345678")
    for action in engine.actions(): ...          # Offer("c1", ("1001",), 15.0)
    engine.answered("c1", "1001", now)           # → Connected("c1", "1001")
    deadline = engine.get_timer(); engine.handle_timer(deadline)

After every input the engine matches: each waiting call in rank order (across queues)
goes to the READY agents allowed to take it (a skill for the queue within the current
penalty step, not one who declined it), ordered by the queue's strategy; agents not yet
rung for the call come first. An error (``AcdError``) is raised before anything changes.

Where docs/acd.md is silent, app_queue's behaviour is followed:

- An offer that ends without a call (another agent answered a ring-all, the agent
  declined, the caller left) leaves the agent READY with its ``idle_since`` unchanged:
  only a call or a pause costs an agent its place in the longest-idle order.
- A ringing call is not overflowed mid-ring: if its max wait passed, it overflows when
  the ring ends unanswered. Callback calls (the caller has hung up) neither overflow,
  nor hear announcements.
- Max wait and penalty steps count from when the call entered its current queue; its
  rank and every ``wait_s`` count from its first entry (``enqueued_at``).
- A call joining with an agent free at once is not announced; a zero wrap-up skips the
  WRAPUP state (no wrapup events). A declined offer is logged as ``ring_no_answer``
  (like app_queue's RINGNOANSWER) without pausing the agent.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from appliance.acd import events as ev
from appliance.acd.actions import (
    Action,
    AgentStateChanged,
    Announce,
    CallbackDue,
    CancelOffer,
    Connected,
    Offer,
    Overflow,
)
from appliance.acd.events import QueueEvent
from appliance.acd.model import (
    RING_NO_ANSWER,
    AcdConfig,
    AgentConfig,
    AgentState,
    Priority,
    QueueConfig,
    check_acd,
)
from appliance.acd.strategies import RINGS_ALL, STRATEGIES, Candidate
from appliance.acd.views import AgentLive, AgentView, CallLive, LiveView, WaitingCall

DEFAULT_HANDLE_TIME = 180.0  # seconds of talk + wrap-up assumed before a queue's first call
WAITING, RINGING, DIALING, CONNECTED = "waiting", "ringing", "dialing", "connected"
S = AgentState


class AcdError(ValueError):
    """The shell asked something the state does not allow (unknown agent/call/queue, a verb
    out of turn): the message names the agent or call and its state."""


@dataclass
class _Agent:
    config: AgentConfig
    index: int
    state: AgentState = S.LOGGED_OUT
    reason: str | None = None
    since: float | None = None
    idle_since: float | None = None
    calls_taken: int = 0
    device: str | None = None
    call_id: str | None = None
    wrapup_from: float = 0.0
    wrapup_until: float | None = None
    wrapup_queue: str | None = None
    wrapup_talk: float | None = None   # talk_s of the call wrapping up (None: a failed callback)

    @property
    def id(self) -> str:
        return self.config.agent_id

    def describe(self) -> str:
        extra = f" ({self.reason})" if self.reason else f" (call {self.call_id})" if self.call_id else ""
        return f"agent {self.id} is {self.state.value}{extra}"


@dataclass
class _Call:
    call_id: str
    queue: str
    priority: Priority
    caller: str | None
    enqueued_at: float
    seq: int
    joined_at: float
    original_position: int = 0
    step: int = 0
    next_announce: float | None = None
    phase: str = WAITING
    ringing: tuple[str, ...] = ()
    ring_started: float = 0.0
    ring_s: float = 0.0
    declined: set[str] = field(default_factory=set)
    rung: set[str] = field(default_factory=set)  # agents whose ring ran out for this call
    callback: str | None = None
    agent_id: str | None = None
    connected_at: float = 0.0
    wait_s: float = 0.0

    def describe(self) -> str:
        who = (f" agent {self.agent_id}" if self.agent_id
               else f" {', '.join(self.ringing)}" if self.ringing else "")
        return f"call {self.call_id} is {self.phase}{who} in queue {self.queue}"


class AcdEngine:
    def __init__(self, queues: Iterable[QueueConfig], agents: Iterable[AgentConfig]) -> None:
        queues, agents = list(queues), list(agents)
        check_acd(queues, agents)
        self._queues = {q.name: q for q in queues}
        self._agents = {a.agent_id: _Agent(a, i) for i, a in enumerate(agents)}
        self._calls: dict[str, _Call] = {}
        self._seq = itertools.count()
        self._last_offered: dict[str, int] = {}        # queue → config index (round robin memory)
        self._handled: dict[str, tuple[int, float]] = {}  # queue → (calls, seconds) of talk + wrap-up
        self._actions: list[Action] = []
        self._events: list[QueueEvent] = []

    @classmethod
    def from_config(cls, config: AcdConfig) -> AcdEngine:
        return cls(config.queues, config.agents)

    # ---- agents -------------------------------------------------------------------------

    def login(self, agent_id: str, now: float, *, device: str | None = None) -> None:
        a = self._agent(agent_id)
        if a.state is not S.LOGGED_OUT:
            raise AcdError(f"{a.describe()}: already logged in")
        a.device, a.calls_taken, a.idle_since = device, 0, now
        self._event(now, ev.LOGGED_IN, None, a.id, device=device)
        self._set(a, S.READY, now)
        self._settle(now)

    def logout(self, agent_id: str, now: float) -> None:
        a = self._agent(agent_id)
        if a.state in (S.LOGGED_OUT, S.BUSY):
            during = " during a call" if a.state is S.BUSY else ""
            raise AcdError(f"{a.describe()}: cannot log out{during}")
        ringing = self._calls[a.call_id or ""] if a.state is S.RINGING else None
        if a.state is S.WRAPUP:
            self._end_wrapup(a, now)
        self._event(now, ev.LOGGED_OUT, None, a.id, device=a.device)
        a.device = None
        self._set(a, S.LOGGED_OUT, now)
        if ringing is not None:
            self._actions.append(CancelOffer(ringing.call_id, (a.id,)))
            self._drop_ringer(ringing, a, now)
        for name, q in self._queues.items():
            if q.leave_when_empty and name in a.config.skills and not self._can_serve(name):
                for call in self._ordered(name):
                    if call.phase == WAITING and call.callback is None:
                        self._overflow(call, "queue_empty", now, {name})
        self._settle(now)

    def set_ready(self, agent_id: str, now: float) -> None:
        a = self._agent(agent_id)
        if a.state in (S.LOGGED_OUT, S.RINGING, S.BUSY):
            raise AcdError(f"{a.describe()}: cannot become ready")
        if a.state is S.READY:
            return
        if a.state is S.WRAPUP:
            self._end_wrapup(a, now)
        else:
            self._event(now, ev.UNPAUSED, None, a.id, reason=a.reason)
        a.idle_since = now
        self._set(a, S.READY, now)
        self._settle(now)

    def set_not_ready(self, agent_id: str, reason: str, now: float) -> None:
        a = self._agent(agent_id)
        if not isinstance(reason, str) or not reason.strip():
            raise AcdError(f"agent {agent_id}: a pause needs a reason (休息, 会议, 培训 …), got {reason!r}")
        if a.state in (S.LOGGED_OUT, S.RINGING, S.BUSY):
            raise AcdError(f"{a.describe()}: cannot pause now")
        if a.state is S.NOT_READY and a.reason == reason:
            return
        if a.state is S.WRAPUP:
            self._end_wrapup(a, now)
        self._event(now, ev.PAUSED, None, a.id, reason=reason)
        self._set(a, S.NOT_READY, now, reason)
        self._settle(now)

    # ---- calls --------------------------------------------------------------------------

    def join(self, call_id: str, queue: str, now: float, *, priority: Priority = Priority.NORMAL,
             caller: str | None = None) -> None:
        if not isinstance(call_id, str) or not call_id:
            raise AcdError(f"a call id is a non-empty string, got {call_id!r}")
        if call_id in self._calls:
            raise AcdError(f"{self._calls[call_id].describe()}: it cannot join again")
        self._queue(queue)
        if caller is not None and not isinstance(caller, str):
            raise AcdError(f"call {call_id}: caller is a number string or None, got {caller!r}")
        try:
            priority = Priority(priority)
        except ValueError:
            raise AcdError(f"call {call_id}: priority {priority!r} is not one of "
                           f"{', '.join(f'{p.name}={p.value}' for p in Priority)}") from None
        call = _Call(call_id, queue, priority, caller, now, next(self._seq), now)
        self._calls[call_id] = call
        self._entered(call, now)
        if not self._queues[queue].join_empty and not self._can_serve(queue):
            self._overflow(call, "no_agents", now, {queue})
        self._settle(now)

    def answered(self, call_id: str, agent_id: str, now: float) -> None:
        call, a = self._ringing_pair(call_id, agent_id)
        others = tuple(x for x in call.ringing if x != a.id)
        call.ringing, call.agent_id, call.ring_s = (), a.id, now - call.ring_started
        a.calls_taken += 1
        if call.callback is not None:
            call.phase = DIALING
            self._actions.append(CallbackDue(call.call_id, a.id, call.callback))
        else:
            self._connect(call, now)
        self._set(a, S.BUSY, now)
        if others:
            self._actions.append(CancelOffer(call.call_id, others))
            for other in others:
                self._agents[other].call_id = None
                self._set(self._agents[other], S.READY, now)
        self._settle(now)

    def declined(self, call_id: str, agent_id: str, now: float) -> None:
        call, a = self._ringing_pair(call_id, agent_id)
        self._event(now, ev.RING_NO_ANSWER, call, a.id, ring_s=now - call.ring_started)
        call.declined.add(a.id)
        self._set(a, S.READY, now)
        self._drop_ringer(call, a, now)
        self._settle(now)

    def abandon(self, call_id: str, now: float) -> None:
        call = self._call(call_id)
        if call.phase not in (WAITING, RINGING):
            raise AcdError(f"{call.describe()}: only a waiting or ringing call can be abandoned")
        position = self._position(call)
        agent = call.ringing[0] if len(call.ringing) == 1 else None
        self._cancel_ring(call, now)
        self._event(now, ev.ABANDONED, call, agent, wait_s=now - call.enqueued_at, position=position,
                    original_position=call.original_position)
        del self._calls[call_id]
        self._settle(now)

    def completed(self, call_id: str, now: float, *, by: str) -> None:
        call = self._call(call_id)
        if by not in ("caller", "agent"):
            raise AcdError(f"call {call_id}: by is 'caller' or 'agent', got {by!r}")
        if call.phase != CONNECTED:
            raise AcdError(f"{call.describe()}: only a connected call can be completed")
        talk_s = now - call.connected_at
        self._event(now, ev.COMPLETED, call, call.agent_id, by=by, wait_s=call.wait_s, talk_s=talk_s)
        self._finish(call, now, talk_s)

    def transferred(self, call_id: str, now: float, *, to: str) -> None:
        call = self._call(call_id)
        if not isinstance(to, str) or not to:
            raise AcdError(f"call {call_id}: transferred needs where to, got {to!r}")
        if call.phase != CONNECTED:
            raise AcdError(f"{call.describe()}: only a connected call can be transferred")
        talk_s = now - call.connected_at
        self._event(now, ev.TRANSFERRED, call, call.agent_id, to=to, talk_s=talk_s)
        self._finish(call, now, talk_s)

    def request_callback(self, call_id: str, number: str, now: float) -> None:
        call = self._call(call_id)
        if not isinstance(number, str) or not number.isascii() or not number.isdigit():
            raise AcdError(f"call {call_id}: a callback number is digits, got {number!r}")
        if call.phase not in (WAITING, RINGING) or call.callback is not None:
            raise AcdError(f"{call.describe()}" + (f" (callback {call.callback} already requested)"
                                                   if call.callback else "") + ": cannot request a callback")
        self._cancel_ring(call, now)   # the caller hangs up: a ringing phone is offered it again
        call.callback, call.next_announce = number, None
        self._event(now, ev.CALLBACK_REQUESTED, call, None, number=number, wait_s=now - call.enqueued_at)
        self._settle(now)

    def callback_result(self, call_id: str, now: float, *, reached: bool) -> None:
        call = self._call(call_id)
        if call.phase != DIALING:
            raise AcdError(f"{call.describe()}: no callback is being dialed")
        if reached:
            self._connect(call, now)
        else:
            self._event(now, ev.CALLBACK_FAILED, call, call.agent_id, number=call.callback)
            self._finish(call, now, None)
            return
        self._settle(now)

    # ---- time ---------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        return min((d[0] for d in self._deadlines()), default=None)

    def handle_timer(self, now: float) -> None:
        # Deadlines are handled in time order, matching after each: an agent whose wrap-up
        # ended at 8 s takes a call whose max wait ends at 10 s, even if we are called late.
        while True:
            due = min(self._deadlines(), default=None)
            if due is None or due[0] > now:
                return
            _, _, _, kind, key = due
            if kind == "wrapup":
                a = self._agents[key]
                self._end_wrapup(a, now)
                a.idle_since = now
                self._set(a, S.READY, now)
            else:
                call = self._calls[key]
                if kind == "ring":
                    self._ring_timeout(call, now)
                elif kind == "max_wait":
                    self._overflow(call, "max_wait", now, {call.queue})
                elif kind == "penalty":
                    steps = self._queues[call.queue].penalty_steps
                    while call.step + 1 < len(steps) and call.joined_at + steps[call.step + 1].after <= now:
                        call.step += 1
                else:
                    self._announce(call, now)
            self._match(now)

    def _deadlines(self) -> Iterator[tuple[float, int, int, str, str]]:
        """(when, order among kinds at the same time, tie-break, kind, call or agent id)."""
        for a in self._agents.values():
            if a.state is S.WRAPUP and a.wrapup_until is not None:
                yield a.wrapup_until, 1, a.index, "wrapup", a.id
        for c in self._calls.values():
            q = self._queues[c.queue]
            if c.phase == RINGING:
                yield c.ring_started + q.ring_timeout, 0, c.seq, "ring", c.call_id
            if c.phase not in (WAITING, RINGING):
                continue
            if c.phase == WAITING and q.max_wait is not None and c.callback is None:
                yield c.joined_at + q.max_wait, 2, c.seq, "max_wait", c.call_id
            if c.step + 1 < len(q.penalty_steps):
                yield c.joined_at + q.penalty_steps[c.step + 1].after, 3, c.seq, "penalty", c.call_id
            if c.next_announce is not None:
                yield c.next_announce, 4, c.seq, "announce", c.call_id

    # ---- output and views ---------------------------------------------------------------

    def actions(self) -> list[Action]:
        out, self._actions = self._actions, []
        return out

    def events(self) -> list[QueueEvent]:
        out, self._events = self._events, []
        return out

    def waiting(self, queue: str | None = None) -> list[WaitingCall]:
        if queue is not None:
            self._queue(queue)
        positions = self._positions()
        return [WaitingCall(c.call_id, c.queue, c.priority, c.caller, c.enqueued_at, c.joined_at,
                            positions[c.call_id], c.ringing, c.callback,
                            self._queues[c.queue].max_penalty(c.step), tuple(sorted(c.declined)))
                for c in self._ordered(queue)]

    def agent(self, agent_id: str) -> AgentView:
        a = self._agent(agent_id)
        return AgentView(a.id, a.config.name, a.state, a.reason, a.since, a.idle_since, a.calls_taken,
                         a.device, a.call_id, a.wrapup_until if a.state is S.WRAPUP else None)

    def agent_ids(self) -> list[str]:
        return list(self._agents)

    def queue_names(self) -> list[str]:
        return list(self._queues)

    def snapshot(self, now: float) -> LiveView:
        by_state: dict[AgentState, list[AgentLive]] = {state: [] for state in AgentState}
        for a in self._agents.values():
            seconds = None if a.since is None else now - a.since
            by_state[a.state].append(AgentLive(a.id, a.config.name, a.state, a.reason, seconds, a.call_id))
        positions = self._positions()
        calls = tuple(CallLive(c.call_id, c.queue, c.priority, positions[c.call_id], now - c.enqueued_at,
                               c.ringing, c.callback) for c in self._ordered())
        return LiveView(now, {state: tuple(agents) for state, agents in by_state.items()}, calls)

    def expected_wait(self, queue: str, position: int) -> int:
        """Seconds: POSITION × mean handle time ÷ agents logged in able to serve QUEUE (0: none)."""
        self._queue(queue)
        able = sum(1 for a in self._agents.values()
                   if a.state is not S.LOGGED_OUT and queue in a.config.skills)
        if not able:
            return 0
        count, total = self._handled.get(queue, (0, 0.0))
        mean = total / count if count else DEFAULT_HANDLE_TIME
        return round(position * mean / able)

    # ---- lookups ------------------------------------------------------------------------

    def _agent(self, agent_id: str) -> _Agent:
        try:
            return self._agents[agent_id]
        except (KeyError, TypeError):
            raise AcdError(f"no agent {agent_id!r}") from None

    def _call(self, call_id: str) -> _Call:
        try:
            return self._calls[call_id]
        except (KeyError, TypeError):
            raise AcdError(f"no call {call_id!r} in the ACD") from None

    def _queue(self, name: str) -> QueueConfig:
        try:
            return self._queues[name]
        except (KeyError, TypeError):
            raise AcdError(f"no queue {name!r} (queues: {', '.join(self._queues)})") from None

    def _ringing_pair(self, call_id: str, agent_id: str) -> tuple[_Call, _Agent]:
        call, a = self._call(call_id), self._agent(agent_id)
        if a.id not in call.ringing:
            raise AcdError(f"{a.describe()}, {call.describe()}: the agent is not ringing for it")
        return call, a

    def _can_serve(self, queue: str) -> bool:
        return any(a.state is not S.LOGGED_OUT and queue in a.config.skills for a in self._agents.values())

    def _rank(self, c: _Call) -> tuple[int, float, float, int]:
        credit = self._queues[c.queue].priority_credit.get(c.priority, 0.0)
        return (0 if c.priority is Priority.EMERGENCY else 1, c.enqueued_at - credit, c.enqueued_at, c.seq)

    def _ordered(self, queue: str | None = None) -> list[_Call]:
        calls = [c for c in self._calls.values()
                 if c.phase in (WAITING, RINGING) and (queue is None or c.queue == queue)]
        return sorted(calls, key=self._rank)

    def _positions(self) -> dict[str, int]:
        out: dict[str, int] = {}
        counts: dict[str, int] = {}
        for c in self._ordered():
            counts[c.queue] = counts.get(c.queue, 0) + 1
            out[c.call_id] = counts[c.queue]
        return out

    def _position(self, call: _Call) -> int:
        return self._positions()[call.call_id]

    # ---- steps --------------------------------------------------------------------------

    def _event(self, now: float, kind: str, call: _Call | None, agent_id: str | None, **data: Any) -> None:
        self._events.append(QueueEvent(now, kind, call.call_id if call else None,
                                       call.queue if call else None, agent_id, data))

    def _set(self, a: _Agent, state: AgentState, now: float, reason: str | None = None) -> None:
        a.state, a.reason, a.since = state, reason, now
        self._actions.append(AgentStateChanged(a.id, state, reason))

    def _settle(self, now: float) -> None:
        """After an input: match, then the announcements due now (a call that just joined)."""
        self._match(now)
        if not any(c.next_announce is not None and c.next_announce <= now for c in self._calls.values()):
            return  # the usual case: no announcement due, no need to rank the calls
        for call in self._ordered():
            if call.next_announce is not None and call.next_announce <= now:
                self._announce(call, now)

    def _match(self, now: float) -> None:
        # Most inputs find nobody READY (agents busy, calls queued): then there is nothing to
        # match, and ranking the waiting calls would be wasted on every input.
        ready = [a for a in self._agents.values() if a.state is S.READY]
        if not ready:
            return
        for call in self._ordered():
            if call.phase != WAITING:
                continue
            q = self._queues[call.queue]
            limit = q.max_penalty(call.step)
            candidates = [Candidate(a.id, a.index, a.idle_since or 0.0, a.calls_taken,
                                    a.config.skills[call.queue])
                          for a in ready
                          if a.state is S.READY and a.config.skills.get(call.queue, limit + 1) <= limit
                          and a.id not in call.declined]
            if not candidates:
                continue
            ordered = STRATEGIES[q.strategy](candidates, self._last_offered.get(call.queue))
            ordered.sort(key=lambda c: c.agent_id in call.rung)  # stable: the untried first
            chosen = ordered if q.strategy in RINGS_ALL else ordered[:1]
            self._offer(call, tuple(c.agent_id for c in chosen), now)
            self._last_offered[call.queue] = chosen[0].index

    def _offer(self, call: _Call, agent_ids: tuple[str, ...], now: float) -> None:
        q = self._queues[call.queue]
        call.phase, call.ringing, call.ring_started = RINGING, agent_ids, now
        self._actions.append(Offer(call.call_id, agent_ids, q.ring_timeout, call.callback))
        for agent_id in agent_ids:
            a = self._agents[agent_id]
            a.call_id = call.call_id
            self._event(now, ev.OFFERED, call, agent_id, callback=call.callback is not None)
            self._set(a, S.RINGING, now)

    def _ring_timeout(self, call: _Call, now: float) -> None:
        q = self._queues[call.queue]
        agents = call.ringing
        self._actions.append(CancelOffer(call.call_id, agents))
        call.rung.update(agents)
        for agent_id in agents:
            a = self._agents[agent_id]
            a.call_id = None
            self._event(now, ev.RING_NO_ANSWER, call, agent_id, ring_s=now - call.ring_started)
            if q.autopause:
                self._event(now, ev.PAUSED, None, agent_id, reason=RING_NO_ANSWER)
                self._set(a, S.NOT_READY, now, RING_NO_ANSWER)
            else:
                self._set(a, S.READY, now)
        call.ringing = ()
        self._ring_ended(call, now)

    def _drop_ringer(self, call: _Call, a: _Agent, now: float) -> None:
        """One agent's ring ended without a call (declined, logged out); the others ring on."""
        call.ringing = tuple(x for x in call.ringing if x != a.id)
        a.call_id = None
        if not call.ringing:
            self._ring_ended(call, now)

    def _cancel_ring(self, call: _Call, now: float) -> None:
        """Stop every phone ringing for CALL; the agents go back to READY."""
        if not call.ringing:
            return
        self._actions.append(CancelOffer(call.call_id, call.ringing))
        for agent_id in call.ringing:
            self._agents[agent_id].call_id = None
            self._set(self._agents[agent_id], S.READY, now)
        call.ringing, call.phase = (), WAITING

    def _ring_ended(self, call: _Call, now: float) -> None:
        call.phase = WAITING
        q = self._queues[call.queue]
        if q.max_wait is not None and call.callback is None and call.joined_at + q.max_wait <= now:
            self._overflow(call, "max_wait", now, {call.queue})

    def _connect(self, call: _Call, now: float) -> None:
        call.phase, call.connected_at, call.wait_s = CONNECTED, now, now - call.enqueued_at
        self._event(now, ev.CONNECTED, call, call.agent_id, wait_s=call.wait_s, ring_s=call.ring_s)
        self._actions.append(Connected(call.call_id, call.agent_id or ""))

    def _finish(self, call: _Call, now: float, talk_s: float | None) -> None:
        """The call is over for its agent: wrap-up (the agent's own length, else the queue's)."""
        del self._calls[call.call_id]
        a = self._agents[call.agent_id or ""]
        q = self._queues[call.queue]
        wrapup = a.config.wrapup if a.config.wrapup is not None else q.wrapup
        if wrapup > 0:
            a.call_id, a.wrapup_from, a.wrapup_until = call.call_id, now, now + wrapup
            a.wrapup_queue, a.wrapup_talk = call.queue, talk_s
            self._events.append(QueueEvent(now, ev.WRAPUP_STARTED, call.call_id, call.queue, a.id, {}))
            self._set(a, S.WRAPUP, now)
        else:
            if talk_s is not None:
                self._count_handled(call.queue, talk_s)
            a.call_id, a.idle_since = None, now
            self._set(a, S.READY, now)
        self._settle(now)

    def _end_wrapup(self, a: _Agent, now: float) -> None:
        wrapup_s = now - a.wrapup_from
        self._events.append(QueueEvent(now, ev.WRAPUP_ENDED, a.call_id, a.wrapup_queue, a.id,
                                       {"wrapup_s": wrapup_s}))
        if a.wrapup_queue is not None and a.wrapup_talk is not None:
            self._count_handled(a.wrapup_queue, a.wrapup_talk + wrapup_s)
        a.call_id, a.wrapup_queue, a.wrapup_talk, a.wrapup_until = None, None, None, None

    def _count_handled(self, queue: str, seconds: float) -> None:
        count, total = self._handled.get(queue, (0, 0.0))
        self._handled[queue] = (count + 1, total + seconds)

    def _entered(self, call: _Call, now: float) -> None:
        """CALL has just entered its queue (joined, or moved there by an overflow)."""
        q = self._queues[call.queue]
        call.original_position = self._position(call)
        call.next_announce = now if q.announce_every is not None and call.callback is None else None
        self._event(now, ev.JOINED, call, None, priority=int(call.priority), caller=call.caller,
                    position=call.original_position)

    def _overflow(self, call: _Call, reason: str, now: float, visited: set[str]) -> None:
        rule = self._queues[call.queue].overflow
        assert rule is not None  # QueueConfig requires one wherever an overflow can happen
        self._event(now, ev.OVERFLOWED, call, None, reason=reason, target=rule.describe(),
                    wait_s=now - call.enqueued_at)
        self._actions.append(Overflow(call.call_id, rule, reason))
        if rule.kind != "queue" or rule.target is None:
            del self._calls[call.call_id]
            return
        # The caller keeps enqueued_at (rank, wait) and starts this queue's own timers.
        call.queue, call.joined_at, call.step = rule.target, now, 0
        call.declined.clear()
        call.rung.clear()
        self._entered(call, now)
        target = self._queues[rule.target]
        if not target.join_empty and not self._can_serve(rule.target) and rule.target not in visited:
            self._overflow(call, "no_agents", now, visited | {rule.target})

    def _announce(self, call: _Call, now: float) -> None:
        every = self._queues[call.queue].announce_every
        if call.phase == WAITING:
            position = self._position(call)
            self._actions.append(Announce(call.call_id, position, self.expected_wait(call.queue, position)))
        if every is None or call.next_announce is None:
            call.next_announce = None
            return
        # The next one on the queue's beat; beats missed while late are skipped. Stepping
        # (not dividing) keeps the deadline strictly after NOW despite float rounding.
        due = call.next_announce
        if due + every <= now:
            due += (int((now - due) // every) - 1) * every
        while due <= now:
            due += every
        call.next_announce = due
