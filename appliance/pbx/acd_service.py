"""AcdService: the ACD engine (appliance/acd) on pbxd's loop, with the agents' phones.

The engine decides; this shell carries it out and feeds it what happens:

- The call handler (ivr_call.py) hands a call over with ``join`` and says when the
  caller leaves (``leave``). The engine's ``Offer`` rings the chosen agent's phone with
  the caller's number, ``CancelOffer`` stops it; the phone lifted is ``answered`` and
  ``Connected`` bridges it (the handler's ``acd_connected``). The agent putting the phone
  down is ``completed(by="agent")`` (the handler goes on with the survey); the caller
  leaving first is ``completed(by="caller")`` or ``abandon``. ``Overflow`` goes to the
  handler's ``acd_overflow`` (the flow's fallback: duty mobile, message, hang-up),
  ``Announce`` to ``acd_announce``.
- Agents: a phone bound to an agent in the config (``[[telephony.fxs]] agent``) logs that
  agent in on it at start; any phone can log in with a feature code (feature_codes.py),
  checked against the agent's PIN. Lifting an idle phone gives dial tone for a code.
- Timers: the engine's one deadline is armed on the loop (``call_later``).
- Every queue event goes to box.db (``queue_log``, queued for the hub) and the local bus.

Time is epoch seconds from ``clock`` (call_path gives the handlers' LoopClock), so the
queue log and the call records share one time line. A fault handling one phone or call is logged
and never reaches the others (pbxd's rule).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from appliance.acd import actions as act
from appliance.acd import events as qev
from appliance.acd.engine import AcdEngine, AcdError
from appliance.acd.events import QueueEvent
from appliance.acd.missed import CallbackTask, MissedCallError, MissedCalls, TaskEvent
from appliance.acd.model import AGENT_STATE_LABELS, AcdConfig, AgentConfig, AgentState, OverflowRule, Priority
from appliance.config.model import FxsPortConfig
from appliance.pbx import feature_codes as fc
from appliance.pbx.agents import AgentPhones
from appliance.pbx.cdr import CallRecord
from appliance.pbx.media_router import MediaRouter
from appliance.pbx.outbound import OutCall
from appliance.pbx.phone_features import NumberingPlan
from appliance.pbx.phone_sessions import DIAL_TIMEOUT, PhoneSessions
from appliance.pbx.transfers import FlashCalls

log = logging.getLogger("anxin.pbx.acd")

RINGING_CATEGORIES = ("elder", "vip", "important")   # served as Priority.ELDER



class QueuedCall(Protocol):
    name: str
    caller: str | None


class CallOwner(Protocol):
    """The call handler of the span a call came in on."""

    def acd_connected(self, call_name: str, url: str, agent_id: str) -> None: ...

    def acd_agent_left(self, call_name: str) -> None: ...

    def acd_overflow(self, call_name: str, rule: OverflowRule, reason: str) -> None: ...

    def acd_announce(self, call_name: str, position: int, expected_wait: int) -> None: ...


def agents_for_phones(config: AcdConfig, fxs: Iterable[FxsPortConfig]) -> tuple[AcdConfig, dict[str, str]]:
    """CONFIG with an agent per unbound phone when it names none, and the phone → agent bindings.

    A box configured with phones and no [[acd.agents]] is "each desk phone is an agent":
    agent id = the phone's extension, every queue a primary skill, logged in at start.
    """
    fxs = list(fxs)
    bindings = {f.url: f.agent for f in fxs if f.agent}
    if config.agents:
        return config, bindings
    skills = {q.name: 0 for q in config.queues}
    agents = tuple(AgentConfig(agent_id=f.extension, name=f"坐席 {f.extension}", skills=skills) for f in fxs)
    return dataclasses.replace(config, agents=agents), {f.url: f.extension for f in fxs}


class AcdService:
    def __init__(self, config: AcdConfig, phones: AgentPhones, bindings: dict[str, str], *,
                 store: Callable[[list[QueueEvent]], None] | None = None,
                 publish: Callable[[str, dict[str, Any]], None] | None = None,
                 clock: Callable[[], float] = time.time,
                 router: MediaRouter | None = None,
                 dialer: Callable[..., OutCall] | None = None,
                 extensions: dict[str, str] | None = None,
                 profile_of: Callable[[str | None], dict[str, Any] | None] | None = None,
                 tasks: MissedCalls | None = None,
                 store_tasks: Callable[[MissedCalls, list[TaskEvent]], None] | None = None,
                 store_call: Callable[[CallRecord], None] | None = None) -> None:
        self.config = config
        self.router = router if router is not None else MediaRouter()
        self.engine = AcdEngine.from_config(config)
        self.phones, self.bindings = phones, dict(bindings)
        self.store, self.publish, self.clock = store, publish, clock
        self.agent_on: dict[str, str] = {}      # phone url → agent logged in on it
        self.ringing: dict[str, str] = {}       # phone url → call it rings for
        self.talking: dict[str, str] = {}       # phone url → call it is bridged to
        self.owners: dict[str, CallOwner] = {}  # call name → its handler
        self.callers: dict[str, str | None] = {}  # call name → caller's number (caller ID)
        self.dialled: dict[str, str] = {}       # phone url → feature-code digits so far
        self.dialer = dialer                    # call_path.dial: an outbound trunk call
        self.callback_legs: dict[str, OutCall] = {}   # ACD call id → the callback being dialled
        self._leg_calls: dict[str, str] = {}          # outbound leg name → ACD call id
        self.dialing: dict[str, str] = {}             # phone url → callback it waits for
        self.joined: dict[str, tuple[str, Priority]] = {}   # call → the queue it joined (requeue)
        exts = extensions or {}
        self.flash_calls = FlashCalls(self, NumberingPlan(extensions=frozenset(exts)), exts)
        self._dial_timers: dict[str, asyncio.TimerHandle] = {}
        self.sessions = PhoneSessions(self, extensions or {})   # supervisors, calls out, internal
        self.profile_of = profile_of or (lambda _number: None)  # the caller's file, for the pop-up
        # 未接来电回访: every abandoned call (not a short abandon), failed callback and overflow
        # to "callback" becomes a task, round-robin over the agents logged in.
        self.tasks = tasks if tasks is not None else MissedCalls()
        self.store_tasks = store_tasks
        self.store_call = store_call        # call records of the phones' own calls (internal)
        self.numbers: dict[str, str] = {}   # call → caller's number, until its end is seen
        # 移动座席: agents logged in on a mobile; each offer to one is an outbound call.
        self.mobile_on: dict[str, str] = {}                   # agent → the number it is on
        self._mobile_legs: dict[str, tuple[str, str]] = {}    # leg name → (call, agent)
        self._clock_owner: object | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        phones.listener = self

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """On the running loop: watch the phones, log the bound agents in."""
        self._loop = asyncio.get_running_loop()
        self.phones.start()
        now = self.clock()
        for url, agent_id in self.bindings.items():
            if url in self.phones.phones:
                self._login(url, agent_id, now)
        self._settle()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.phones.stop()

    # -- calls (from the handlers) ------------------------------------------------------------------
    def priority_for(self, queue: str, ivr_priority: int, category: str | None) -> Priority:
        if queue == self.config.emergency_queue or ivr_priority >= 10:
            return Priority.EMERGENCY
        if category in RINGING_CATEGORIES:
            return Priority.ELDER
        return Priority.NORMAL

    def join(self, call: QueuedCall, queue: str, priority: Priority, owner: CallOwner) -> None:
        """Raises AcdError (unknown queue …): the handler then takes the flow's fallback."""
        self.engine.join(call.name, queue, self.clock(), priority=priority,
                         caller=call.caller if call.caller and call.caller.isdigit() else None)
        self.owners[call.name] = owner
        self.callers[call.name] = call.caller
        if call.caller and call.caller.isdigit():
            self.numbers[call.name] = call.caller
        self.joined[call.name] = (queue, priority)
        self._settle()

    def callback_key(self, call_name: str) -> str | None:
        """The key that asks for a callback while CALL_NAME waits (its current queue's), or None."""
        waiting = next((w for w in self.engine.waiting() if w.call_id == call_name), None)
        if waiting is None or waiting.callback is not None or waiting.offered_to:
            return None
        return self.config.queue(waiting.queue).callback_key

    def request_callback(self, call_name: str, number: str) -> None:
        """The caller keeps their place and hangs up; the box calls back at the head.
        Raises AcdError (the call is no longer waiting …)."""
        self.engine.request_callback(call_name, number, self.clock())
        self.owners.pop(call_name, None)   # the caller's hang-up that follows is not an abandon
        self.callers[call_name] = number
        self._settle()

    def leave(self, call_name: str) -> None:
        """The caller hung up (or the call was cleared): wherever the call is in the ACD."""
        if call_name not in self.owners:
            return
        now = self.clock()
        if self.flash_calls.caller_left(call_name):   # held, consulting or transferred
            self.router.disconnect(("call", call_name))
            try:
                self.engine.completed(call_name, now, by="caller")
            except AcdError as exc:  # transferred already: the engine is done with it
                log.info("ACD %s: %s", call_name, exc)
            self.owners.pop(call_name, None)
            self.joined.pop(call_name, None)
            self.callers.pop(call_name, None)
            self._settle()
            return
        try:
            url = next((u for u, call in self.talking.items() if call == call_name), None)
            if url is not None:
                del self.talking[url]
                self._unroute(url, call_name)
                if url in self.phones.phones:
                    self.phones.unbridge(url, "busy")   # heard until the agent puts the phone down
                self.sessions.call_ended(call_name)
                self.engine.completed(call_name, now, by="caller")
            else:
                self.engine.abandon(call_name, now)
        except AcdError as exc:  # already over in the engine (overflowed in the same tick …)
            log.info("ACD %s: %s", call_name, exc)
        self.owners.pop(call_name, None)
        self.joined.pop(call_name, None)
        self.callers.pop(call_name, None)
        self._settle()

    def tick_audio(self, owner: object) -> None:
        """Each span's handler calls this at the end of its tick (its calls' audio is in the
        router by then); the first one to call it clocks the phones and the router: the
        phones' frames in, one mix for the whole box, one frame out to every phone."""
        if self._clock_owner is None:
            self._clock_owner = owner
        if owner is not self._clock_owner:
            return
        for url in self.phones.phones:
            leg = ("phone", url)
            if self.router.routed(leg):
                frame = self.phones.take_heard(url)
                if frame is not None:
                    self.router.put(leg, frame)
        mixed = self.router.tick()
        self.phones.clock({leg[1]: frame for leg, frame in mixed.items() if leg[0] == "phone"})

    # -- the phones (AgentPhones' listener) ---------------------------------------------------------
    def phone_off_hook(self, url: str) -> None:
        if self.sessions.handles(url):
            self.sessions.off_hook(url)
            return
        if url in self.flash_calls.consult_phones:
            self.flash_calls.consult_off_hook(url)   # the third party of a consult answers
            return
        if self.flash_calls.off_hook(url):
            return   # a recall: back to the held caller
        call_name = self.ringing.get(url)
        agent_id = self.agent_on.get(url)
        if call_name is not None and agent_id is not None:
            self._guard(lambda now: self.engine.answered(call_name, agent_id, now))
            return
        self.dialled[url] = ""
        self.phones.tone(url, "dial")   # for a feature code

    def phone_on_hook(self, url: str) -> None:
        self.dialled.pop(url, None)
        self._cancel_dial_timer(url)
        if self.sessions.handles(url):
            self.sessions.on_hook(url)
            return
        if url in self.flash_calls.consult_phones:
            self.flash_calls.consult_on_hook(url)   # the third party of a consult put it down
            return
        if self.flash_calls.active(url):
            self.flash_calls.on_hook(url)   # a transfer, a recall, or the ordinary end (agent_hung_up)
            return
        pending = self.dialing.pop(url, None)
        if pending is not None and pending in self.callback_legs:
            self.callback_legs[pending].hangup()   # gave up before the callee answered: out_ended
        self.agent_hung_up(url)

    def agent_hung_up(self, url: str) -> None:
        """The agent put the phone down on their call: completed by the agent, the flow goes on."""
        call_name = self.talking.pop(url, None)
        if call_name is None:
            return
        self._unroute(url, call_name)
        self.phones.unbridge(url)
        self.sessions.call_ended(call_name)
        owner = self.owners.pop(call_name, None)
        self.joined.pop(call_name, None)
        self.callers.pop(call_name, None)
        leg = self.callback_legs.pop(call_name, None)
        if leg is not None:
            self._leg_calls.pop(leg.name, None)
            leg.hangup()
        self._guard(lambda now: self.engine.completed(call_name, now, by="agent"))
        if owner is not None:
            owner.acd_agent_left(call_name)   # the flow goes on: the survey

    def phone_digit(self, url: str, digit: str) -> None:
        if url not in self.dialled:
            if self.flash_calls.active(url):
                self.flash_calls.digit(url, digit)   # dialling a third party after a flash
            return
        digits = self.dialled[url] = self.dialled[url] + digit
        if len(digits) == 1:
            self.phones.tone(url, "none")  # dial tone stops at the first digit
        self._cancel_dial_timer(url)
        if not digits.startswith("*"):  # a number: an extension, or 9 + an outside number
            if self.sessions.dialled(url, digits):
                del self.dialled[url]
            elif self._loop is not None:
                self._dial_timers[url] = self._loop.call_later(DIAL_TIMEOUT, self._dial_timeout, url)
            return
        try:
            code = fc.parse(digits)
        except fc.FeatureCodeError as exc:
            log.warning("坐席话机 %s: 功能码错误: %s", url, exc)
            self._refuse(url)
            return
        if code is not None:
            del self.dialled[url]
            self._feature(url, code)

    def _dial_timeout(self, url: str) -> None:
        self._dial_timers.pop(url, None)
        digits = self.dialled.pop(url, None)
        if digits:
            self.sessions.dial_timeout(url, digits)

    def _cancel_dial_timer(self, url: str) -> None:
        timer = self._dial_timers.pop(url, None)
        if timer is not None:
            timer.cancel()

    # -- what phone_sessions asks of the ACD ---------------------------------------------------------
    def device_of(self, agent_id: str) -> str | None:
        return self._device(agent_id)

    def verb(self, verb: Callable[[float], None]) -> None:
        """An engine verb now; an AcdError is logged (the state did not allow it)."""
        self._guard(verb)

    def intercept(self, call_id: str, agent_url: str, supervisor_url: str) -> None:
        """拦截: the supervisor's phone takes the agent's place on CALL_ID."""
        if self.talking.get(agent_url) != call_id:
            return
        del self.talking[agent_url]
        self.router.disconnect(("phone", agent_url))
        self.phones.unbridge(agent_url, "busy")
        self.talking[supervisor_url] = call_id
        ext = self.sessions.extension_of(supervisor_url) or supervisor_url
        self._guard(lambda now: self.engine.transferred(call_id, now, to=f"supervisor:{ext}"))

    def supervisor_left(self, url: str) -> None:
        """The supervisor who intercepted a call hung up: the caller's flow goes on (survey)."""
        call_name = self.talking.pop(url, None)
        if call_name is None:
            return
        self._hand_back(call_name)

    def live_view(self) -> dict[str, Any]:
        """班长席 wallboard: agents by state with how long, calls waiting with their wait, and
        who is listening in (JSON for the control socket and the local bus)."""
        now = self.clock()
        view = self.engine.snapshot(now)
        talking = {call: url for url, call in self.talking.items()}
        agents = []
        for state, members in view.agents.items():
            for a in members:
                agents.append({"agent_id": a.agent_id, "name": a.name, "state": state.value,
                               "state_zh": AGENT_STATE_LABELS[state], "reason": a.reason,
                               "seconds": None if a.seconds is None else round(a.seconds, 1),
                               "call_id": a.call_id, "phone": self._device(a.agent_id),
                               "caller": self.callers.get(a.call_id) if a.call_id else None})
        watching = [{"phone": s.url, "mode": s.mode, "agent_id": s.agent_id, "call_id": s.call_id,
                     "state": s.state} for s in self.sessions.sessions.values() if s.kind == "supervise"]
        return {"at": now, "agents": sorted(agents, key=lambda a: a["agent_id"]),
                "waiting": [{"call_id": c.call_id, "queue": c.queue, "priority": c.priority.name.lower(),
                             "position": c.position, "wait_s": round(c.wait_s, 1),
                             "caller": self.callers.get(c.call_id), "ringing": list(c.offered_to),
                             "callback": c.callback} for c in view.calls],
                "talking": {call: url for call, url in talking.items()}, "supervising": watching}

    def set_agent_state(self, agent_id: str, state: str, *, reason: str | None = None,
                        by: str | None = None, phone: str | None = None) -> dict[str, Any]:
        """A supervisor forces an agent's state: ready, not_ready (with a reason), logout, or
        login on the desk phone PHONE (an extension: for an agent without a PIN)."""
        now = self.clock()
        if state == "login":
            if not phone:
                raise AcdError("login needs the phone (extension) to log the agent in on")
            if self._agent_config(agent_id) is None:
                raise AcdError(f"no agent {agent_id!r}")
            url = self.sessions.phone_url(phone)
            if url in self.agent_on:
                raise AcdError(f"phone {phone}: agent {self.agent_on[url]} is logged in on it")
            self._login(url, agent_id, now)
        elif state == "ready":
            self.engine.set_ready(agent_id, now)
        elif state == "not_ready":
            self.engine.set_not_ready(agent_id, reason or "班长置忙", now)
        elif state == "logout":
            self.engine.logout(agent_id, now)
            for url, agent in list(self.agent_on.items()):
                if agent == agent_id:
                    del self.agent_on[url]
        else:
            raise AcdError(f"state must be ready, not_ready, logout, login or mobile, got {state!r}")
        log.info("班长席 %s: 坐席 %s → %s (%s)", by or "-", agent_id, state, reason or "")
        self._settle()
        view = self.engine.agent(agent_id)
        return {"agent_id": agent_id, "state": view.state.value, "reason": view.reason}

    def task_reached(self, task_id: str, agent_id: str | None) -> None:
        """A missed-call task's callback was answered: closed as reached (可改为其他结果 by a
        supervisor's task_close before it is answered)."""
        try:
            self.tasks.close(task_id, "reached", self.clock(), by=agent_id or "system")
        except MissedCallError as exc:  # closed meanwhile (a supervisor, another agent)
            log.info("未接来电回访 %s: %s", task_id, exc)
        self._settle_tasks()

    def phone_flash(self, url: str) -> None:
        if self.flash_calls.active(url):
            self.flash_calls.flash(url)   # hold, consult, three-way (transfers.py)
        else:
            log.info("坐席话机 %s: 拍叉簧 (hook flash) without a call: ignored", url)

    # -- what transfers.py asks of the ACD -------------------------------------------------------------
    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self._loop

    def phone_busy(self, url: str) -> bool:
        phone = self.phones.phones[url]
        return (phone.off_hook or phone.ringing or url in self.talking or url in self.ringing
                or self.sessions.handles(url) or url in self.flash_calls.consult_phones)

    def log_events(self, events: list[QueueEvent]) -> None:
        """Queue-log events from outside the engine (three_way): stored and published like its own."""
        if self.store is not None:
            try:
                self.store(events)
            except Exception:
                log.exception("ACD: queue log not stored (%d events)", len(events))
        if self.publish is not None:
            for event in events:
                self.publish("pbx/queue/event", event.to_dict())

    def agent_transferred(self, call_name: str, url: str, to: str) -> None:
        """The agent handed the call on (hook flash) and left it: wrap-up; the call stays up."""
        self.talking.pop(url, None)
        self.router.disconnect(("phone", url))
        self.phones.unbridge(url)
        self.sessions.call_ended(call_name)
        self._guard(lambda now: self.engine.transferred(call_name, now, to=to))

    def transfer_ended(self, call_name: str) -> None:
        """After a transfer the third party hung up: the caller goes on through the flow."""
        self._hand_back(call_name)

    def _hand_back(self, call_name: str) -> None:
        """Whoever held the call (a supervisor, a transfer's third party) left it: its caller
        leg leaves the room (a callback's trunk leg is cleared) and the flow goes on."""
        leg = self.callback_legs.pop(call_name, None)
        self.router.disconnect(leg.leg if leg is not None else ("call", call_name))
        if leg is not None:
            self._leg_calls.pop(leg.name, None)
            leg.hangup()
        owner = self.owners.pop(call_name, None)
        self.joined.pop(call_name, None)
        self.callers.pop(call_name, None)
        if owner is not None:
            owner.acd_agent_left(call_name)

    def caller_gone_during_consult(self, call_name: str, url: str) -> None:
        """The held caller hung up while the agent consults: the agent goes on with the third
        party as their own call (the ACD's call is over)."""
        self.router.disconnect(("call", call_name))

    def requeue(self, call_name: str, reason: str) -> None:
        """Back to the queue (a failed blind transfer, a recall nobody took), else the flow."""
        url = next((u for u, c in self.talking.items() if c == call_name), None)
        if url is not None:
            self.talking.pop(url)
            self.router.disconnect(("phone", url))
            self.phones.unbridge(url)
        self.router.disconnect(("call", call_name))
        queue, priority = self.joined.get(call_name, (None, Priority.ELDER))
        now = self.clock()
        try:
            if url is not None:
                self.engine.transferred(call_name, now, to=f"requeue:{reason}")
            if queue is None:
                raise AcdError("the call's queue is not known")
            number = self.callers.get(call_name)
            self.engine.join(call_name, queue, now, priority=min(priority, Priority.ELDER),
                             caller=number if number and number.isdigit() else None)
            if number and number.isdigit():
                self.numbers[call_name] = number   # an abandon from here is still a missed call
            log.info("ACD %s: 重新排队 %s (%s)", call_name, queue, reason)
        except AcdError as exc:
            log.warning("ACD %s: 无法重新排队 (%s): %s", call_name, reason, exc)
            owner = self.owners.pop(call_name, None)
            self.joined.pop(call_name, None)
            if owner is not None:
                owner.acd_agent_left(call_name)
        self._settle()

    # -- feature codes ------------------------------------------------------------------------------
    def _feature(self, url: str, code: fc.FeatureCode) -> None:
        now = self.clock()
        agent_id = self.agent_on.get(url)
        try:
            if isinstance(code, fc.Login):
                agent = self._agent_config(code.agent_id)
                if agent is None or agent.pin is None or agent.pin != code.pin:
                    raise AcdError(f"agent {code.agent_id}: unknown or wrong PIN")
                if agent_id is not None and agent_id != code.agent_id:
                    raise AcdError(f"phone {url}: agent {agent_id} is logged in on it")
                self._login(url, code.agent_id, now)
            elif agent_id is None:
                raise AcdError(f"phone {url}: no agent is logged in on it")
            elif isinstance(code, fc.Logout):
                self.engine.logout(agent_id, now)
                del self.agent_on[url]
            elif isinstance(code, fc.Ready):
                self.engine.set_ready(agent_id, now)
            elif isinstance(code, fc.NotReady):
                self.engine.set_not_ready(agent_id, code.reason, now)
            elif isinstance(code, fc.NextCallback):
                tasks = self.tasks.open_tasks(agent_id)
                if not tasks:
                    raise AcdError(f"agent {agent_id}: no missed-call task to call back")
                log.info("坐席话机 %s: 回访 %s (%s)", url, tasks[0].task_id, tasks[0].number)
                self.sessions.call_task(url, tasks[0].number, tasks[0].task_id)
                self._settle()
                return   # the phone hears ringback from the call itself
        except AcdError as exc:
            log.warning("坐席话机 %s: %s", url, exc)
            self._refuse(url)
            self._settle()
            return
        log.info("坐席话机 %s: 功能码 %s 已执行", url, code)
        self.phones.tone(url, "ringback")  # an accepted code: one confirmation tone until hang-up
        self._settle()

    def _login(self, url: str, agent_id: str, now: float) -> None:
        self.engine.login(agent_id, now, device=url)
        self.engine.set_ready(agent_id, now)
        self.agent_on[url] = agent_id

    def _refuse(self, url: str) -> None:
        self.dialled.pop(url, None)
        self.phones.tone(url, "congestion")

    def _agent_config(self, agent_id: str) -> AgentConfig | None:
        return next((a for a in self.config.agents if a.agent_id == agent_id), None)

    # -- the engine's output ------------------------------------------------------------------------
    def _guard(self, verb: Callable[[float], None]) -> None:
        try:
            verb(self.clock())
        except AcdError as exc:
            log.warning("ACD: %s", exc)
        self._settle()

    def _settle(self) -> None:
        """Carry out what the engine asked, store its events, re-arm its timer."""
        for action in self.engine.actions():
            try:
                self._carry_out(action)
            except Exception:  # one call's trouble must not stop the others
                log.exception("ACD: carrying out %r", action)
        events = self.engine.events()
        if events:
            self._missed_calls(events)
            if self.store is not None:
                try:
                    self.store(events)
                except Exception:  # the call goes on; the log line keeps the step
                    log.exception("ACD: queue log not stored (%d events)", len(events))
            if self.publish is not None:
                for event in events:
                    self.publish("pbx/queue/event", event.to_dict())
        self._settle_tasks()
        self._arm()

    def _missed_calls(self, events: list[QueueEvent]) -> None:
        """Missed calls become callback tasks; agents logging in or out take or hand on theirs."""
        for event in events:
            try:
                self._missed_call(event)
            except MissedCallError as exc:  # a call without a usable number: logged only
                log.warning("未接来电 %s: 无法建立回访任务: %s", event.call_id, exc)

    def _missed_call(self, event: QueueEvent) -> None:
        kind, call = event.kind, event.call_id
        if kind == qev.LOGGED_IN and event.agent_id:
            self.tasks.agent_logged_in(event.agent_id, event.at)
        elif kind == qev.LOGGED_OUT and event.agent_id:
            self.tasks.agent_logged_out(event.agent_id, event.at)
        if call is None or kind not in qev.CALL_ENDS:
            return
        if kind == qev.OVERFLOWED and str(event.data.get("target", "")).startswith("queue:"):
            return  # moved to another queue: not over yet
        number = self.numbers.pop(call, None) or (event.data.get("number") if kind == qev.CALLBACK_FAILED
                                                  else None)
        queue = event.queue or "general"
        wait = float(event.data.get("wait_s") or 0.0)
        if kind == qev.ABANDONED:
            short = self.config.queue(queue).short_abandon if queue in self.config.queue_names() else 0
            if wait >= short and number:
                self.tasks.add(call, number, queue, event.at, wait, "abandoned")
        elif kind == qev.CALLBACK_FAILED and number:
            self.tasks.add(call, number, queue, event.at, wait, "callback_failed")
        elif kind == qev.OVERFLOWED and event.data.get("target") == "callback" and number:
            self.tasks.add(call, number, queue, event.at, wait, "overflow")

    def _settle_tasks(self) -> None:
        events = self.tasks.events()
        if not events:
            return
        if self.store_tasks is not None:
            try:
                self.store_tasks(self.tasks, events)
            except Exception:  # the tasks are in memory; the log line says what was not stored
                log.exception("回访任务未能保存 (%d events)", len(events))
        if self.publish is not None:
            for event in events:
                task = self.tasks.task(event.task_id)
                self.publish(f"pbx/task/{task.agent_id or 'unassigned'}",
                             {"event": event.kind, "task_id": task.task_id, "number": task.number,
                              "agent_id": task.agent_id, "reason": task.reason, "attempts": task.attempts,
                              "open": task.open})

    # -- missed-call tasks (supervisors, the console, *5# on the phone) ----------------------------
    def close_task(self, task_id: str, outcome: str, *, by: str) -> CallbackTask:
        task = self.tasks.close(task_id, outcome, self.clock(), by=by)
        self._settle_tasks()
        return task

    def reassign_task(self, task_id: str, agent_id: str, *, by: str) -> CallbackTask:
        self._agent_config(agent_id) or self.engine.agent(agent_id)   # AcdError for an unknown agent
        task = self.tasks.reassign(task_id, agent_id, by, self.clock())
        self._settle_tasks()
        return task

    def _carry_out(self, action: act.Action) -> None:
        if isinstance(action, act.Offer):
            for agent_id in action.agent_ids:
                if agent_id in self.mobile_on:
                    self._ring_mobile(action.call_id, agent_id)
                    continue
                url = self._device(agent_id)
                if url is None:
                    continue
                self.ringing[url] = action.call_id
                number = self.callers.get(action.call_id)
                profile = self.profile_of(number)
                elder = (profile or {}).get("elder") or {}
                self.phones.ring(url, number, elder.get("name", ""))   # caller ID with the elder's name
                log.info("ACD %s: 振铃坐席 %s (%s)", action.call_id, agent_id, url)
                if self.publish is not None:  # the agent's screen pops the caller's file
                    self.publish(f"pbx/agent/{agent_id}/offer",
                                 {"agent_id": agent_id, "call_id": action.call_id, "caller": number,
                                  "callback": action.callback, "profile": profile})
        elif isinstance(action, act.CancelOffer):
            for agent_id in action.agent_ids:
                self._cancel_mobile(action.call_id, agent_id)
                url = self._device(agent_id)
                if url is not None and self.ringing.get(url) == action.call_id:
                    del self.ringing[url]
                    self.phones.stop_ring(url)
        elif isinstance(action, act.Connected):
            if action.agent_id in self.mobile_on:
                self._connect_mobile(action)
                return
            url = self._device(action.agent_id)
            if url is None:
                return
            self.ringing.pop(url, None)
            for other, call in list(self.ringing.items()):
                if call == action.call_id:
                    del self.ringing[other]
                    self.phones.stop_ring(other)
            self.talking[url] = action.call_id
            self.dialing.pop(url, None)
            self.phones.bridge(url, action.call_id)
            leg = self.callback_legs.get(action.call_id)
            caller_leg = leg.leg if leg is not None else ("call", action.call_id)
            self.router.connect(action.call_id, caller_leg)
            self.router.connect(action.call_id, ("phone", url))
            self.flash_calls.start(url, action.call_id, caller_leg, action.agent_id)
            owner = self.owners.get(action.call_id)
            if owner is not None:
                owner.acd_connected(action.call_id, url, action.agent_id)
        elif isinstance(action, act.Overflow):
            if action.rule.kind == "queue":
                log.info("ACD %s: 溢出到队列 %s (%s)", action.call_id, action.rule.target, action.reason)
                return  # the engine moved it itself
            owner = self.owners.pop(action.call_id, None)
            self.joined.pop(action.call_id, None)
            self.callers.pop(action.call_id, None)
            if owner is not None:
                owner.acd_overflow(action.call_id, action.rule, action.reason)
        elif isinstance(action, act.Announce):
            owner = self.owners.get(action.call_id)
            if owner is not None:
                owner.acd_announce(action.call_id, action.position, action.expected_wait)
        elif isinstance(action, act.AgentStateChanged):
            if self.publish is not None:
                self.publish(f"pbx/agent/{action.agent_id}",
                             {"agent_id": action.agent_id, "state": action.state.value,
                              "reason": action.reason})
            if action.state is AgentState.LOGGED_OUT:
                self.mobile_on.pop(action.agent_id, None)
                for url, agent in list(self.agent_on.items()):
                    if agent == action.agent_id:
                        del self.agent_on[url]
        elif isinstance(action, act.CallbackDue):
            self._dial_callback(action)

    # -- 移动座席: agents on a mobile --------------------------------------------------------------
    def login_mobile(self, agent_id: str, number: str | None = None, *, by: str | None = None) -> str:
        """Log AGENT_ID in on a mobile (NUMBER, else the agent's configured one)."""
        agent = self._agent_config(agent_id)
        number = number or (agent.mobile if agent else None)
        if not number or not number.isdigit():
            raise AcdError(f"agent {agent_id}: no mobile number (set [[acd.agents]] mobile, or give one)")
        now = self.clock()
        self.engine.login(agent_id, now, device=f"mobile:{number}")
        self.engine.set_ready(agent_id, now)
        self.mobile_on[agent_id] = number
        log.info("移动座席 %s: 登录于 %s (%s)", agent_id, number, by or "-")
        self._settle()
        return number

    def _ring_mobile(self, call_id: str, agent_id: str) -> None:
        number = self.mobile_on[agent_id]
        try:
            if self.dialer is None:
                raise AcdError("no trunk to dial out on")
            leg = self.dialer(number, self, purpose="mobile_agent", agent=agent_id,
                              calling=self.callers.get(call_id))
        except Exception as exc:  # no trunk: the engine offers the call to someone else
            log.error("移动座席 %s: 无法外呼 %s: %s", agent_id, number, exc)
            self._guard(lambda now: self.engine.declined(call_id, agent_id, now))
            return
        self._mobile_legs[leg.name] = (call_id, agent_id)
        self.callback_legs.setdefault(f"mobile:{agent_id}", leg)
        log.info("ACD %s: 外呼移动座席 %s (%s)", call_id, agent_id, number)
        if self.publish is not None:  # a mobile agent's app (or the wallboard) shows the caller too
            caller = self.callers.get(call_id)
            self.publish(f"pbx/agent/{agent_id}/offer",
                         {"agent_id": agent_id, "call_id": call_id, "caller": caller, "callback": None,
                          "profile": self.profile_of(caller), "mobile": number})

    def _mobile_leg(self, call_id: str, agent_id: str) -> OutCall | None:
        leg = self.callback_legs.get(f"mobile:{agent_id}")
        if leg is not None and self._mobile_legs.get(leg.name) == (call_id, agent_id):
            return leg
        return None

    def _cancel_mobile(self, call_id: str, agent_id: str) -> None:
        leg = self._mobile_leg(call_id, agent_id)
        if leg is not None and not leg.answered:
            self._mobile_legs.pop(leg.name, None)
            self.callback_legs.pop(f"mobile:{agent_id}", None)
            leg.hangup()

    def _connect_mobile(self, action: act.Connected) -> None:
        leg = self._mobile_leg(action.call_id, action.agent_id)
        if leg is None:
            return
        key = f"mobile:{action.agent_id}"
        self.talking[key] = action.call_id
        self.router.connect(action.call_id, ("call", action.call_id))
        self.router.connect(action.call_id, leg.leg)
        owner = self.owners.get(action.call_id)
        if owner is not None:
            owner.acd_connected(action.call_id, key, action.agent_id)

    def _mobile_ended(self, leg: OutCall) -> None:
        call_id, agent_id = self._mobile_legs.pop(leg.name)
        key = f"mobile:{agent_id}"
        if self.callback_legs.get(key) is leg:
            del self.callback_legs[key]
        self.router.disconnect(leg.leg)
        if self.talking.get(key) == call_id:       # the agent hung up the mobile: call done
            del self.talking[key]
            self.router.disconnect(("call", call_id))
            owner = self.owners.pop(call_id, None)
            self.joined.pop(call_id, None)
            self.callers.pop(call_id, None)
            self._guard(lambda now: self.engine.completed(call_id, now, by="agent"))
            if owner is not None:
                owner.acd_agent_left(call_id)
        elif not leg.answered:   # busy, unreachable (a cancelled leg is forgotten before it ends)
            self._guard(lambda now: self.engine.declined(call_id, agent_id, now))

    def _unroute(self, url: str, call_name: str) -> None:
        if url.startswith("mobile:"):   # the caller left a mobile agent: clear the mobile leg
            leg = self.callback_legs.pop(url, None)
            if leg is not None:
                self._mobile_legs.pop(leg.name, None)
                self.router.disconnect(leg.leg)
                leg.hangup()
            self.router.disconnect(("call", call_name))
            return
        self.router.disconnect(("phone", url))
        leg = self.callback_legs.get(call_name)
        self.router.disconnect(leg.leg if leg is not None else ("call", call_name))

    # -- agent-first callbacks (the caller kept their place and hung up) ---------------------------
    def _dial_callback(self, action: act.CallbackDue) -> None:
        """The agent lifted the phone for a callback: dial the caller; the agent hears ringback."""
        url = self._device(action.agent_id)
        if url is not None:
            self.dialing[url] = action.call_id
            self.phones.tone(url, "ringback")
        try:
            if self.dialer is None:
                raise AcdError("no trunk to dial out on")
            leg = self.dialer(action.number, self, purpose="callback", agent=action.agent_id)
        except Exception as exc:  # OutboundError: no free trunk: failed, a missed-call task follows
            log.error("ACD %s: 回拨 %s 无法外呼: %s", action.call_id, action.number, exc)
            self._callback_failed(action.call_id, url)
            return
        self.callback_legs[action.call_id] = leg
        self._leg_calls[leg.name] = action.call_id
        log.info("ACD %s: 回拨 %s (坐席 %s)", action.call_id, action.number, action.agent_id)

    def _callback_failed(self, call_id: str, url: str | None) -> None:
        if url is not None:
            self.dialing.pop(url, None)
            self.phones.tone(url, "busy")
        self.callers.pop(call_id, None)
        self._guard(lambda now: self.engine.callback_result(call_id, now, reached=False))

    # OutboundOwner: the callback legs
    def out_ringing(self, leg: OutCall) -> None:
        pass  # the agent hears ringback already

    def out_answered(self, leg: OutCall) -> None:
        if leg.name in self._mobile_legs:
            call_id, agent_id = self._mobile_legs[leg.name]
            self._guard(lambda now: self.engine.answered(call_id, agent_id, now))   # → Connected
            return
        call_id = self._leg_calls.get(leg.name)
        if call_id is None:
            leg.hangup()
            return
        self._guard(lambda now: self.engine.callback_result(call_id, now, reached=True))  # → Connected

    def out_ended(self, leg: OutCall) -> None:
        if leg.name in self._mobile_legs:
            self._mobile_ended(leg)
            return
        call_id = self._leg_calls.pop(leg.name, None)
        if call_id is None:
            return
        self.callback_legs.pop(call_id, None)
        url = next((u for u, c in self.talking.items() if c == call_id), None)
        if url is not None:  # the caller hung up during the callback
            del self.talking[url]
            self.router.disconnect(("phone", url))
            self.router.disconnect(leg.leg)
            self.phones.unbridge(url, "busy")
            self.callers.pop(call_id, None)
            self._guard(lambda now: self.engine.completed(call_id, now, by="caller"))
            return
        if not leg.answered:
            url = next((u for u, c in self.dialing.items() if c == call_id), None)
            log.info("ACD %s: 回拨 %s 未接通 (%s)", call_id, leg.number, leg.outcome())
            self._callback_failed(call_id, url)

    def _device(self, agent_id: str) -> str | None:
        return next((url for url, agent in self.agent_on.items() if agent == agent_id), None)

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.engine.get_timer()
        if deadline is None or self._loop is None:
            return
        self._timer = self._loop.call_later(max(0.0, deadline - self.clock()), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        now = self.clock()
        deadline = self.engine.get_timer()
        if deadline is not None and deadline <= now:
            self.engine.handle_timer(now)
        self._settle()
