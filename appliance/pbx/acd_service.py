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

Time is epoch seconds from ``clock`` (the handler's loop-based clock), so the queue log
and the call records share one time line. A fault handling one phone or call is logged
and never reaches the others (pbxd's rule).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from appliance.acd import actions as act
from appliance.acd.engine import AcdEngine, AcdError
from appliance.acd.events import QueueEvent
from appliance.acd.model import AcdConfig, AgentConfig, AgentState, OverflowRule, Priority
from appliance.config.model import FxsPortConfig
from appliance.pbx import feature_codes as fc
from appliance.pbx.agents import AgentPhones

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
    return AcdConfig(config.queues, agents, config.emergency_queue), {f.url: f.extension for f in fxs}


class AcdService:
    def __init__(self, config: AcdConfig, phones: AgentPhones, bindings: dict[str, str], *,
                 store: Callable[[list[QueueEvent]], None] | None = None,
                 publish: Callable[[str, dict[str, Any]], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.engine = AcdEngine.from_config(config)
        self.phones, self.bindings = phones, dict(bindings)
        self.store, self.publish, self.clock = store, publish, clock
        self.agent_on: dict[str, str] = {}      # phone url → agent logged in on it
        self.ringing: dict[str, str] = {}       # phone url → call it rings for
        self.talking: dict[str, str] = {}       # phone url → call it is bridged to
        self.owners: dict[str, CallOwner] = {}  # call name → its handler
        self.callers: dict[str, str | None] = {}  # call name → caller's number (caller ID)
        self.dialled: dict[str, str] = {}       # phone url → feature-code digits so far
        self.to_phones: dict[str, bytes] = {}   # this tick's caller audio, by call (every span's)
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
        self._settle()

    def leave(self, call_name: str) -> None:
        """The caller hung up (or the call was cleared): wherever the call is in the ACD."""
        if call_name not in self.owners:
            return
        now = self.clock()
        try:
            url = next((u for u, call in self.talking.items() if call == call_name), None)
            if url is not None:
                del self.talking[url]
                self.phones.unbridge(url, "busy")   # heard until the agent puts the phone down
                self.engine.completed(call_name, now, by="caller")
            else:
                self.engine.abandon(call_name, now)
        except AcdError as exc:  # already over in the engine (overflowed in the same tick …)
            log.info("ACD %s: %s", call_name, exc)
        self.owners.pop(call_name, None)
        self.callers.pop(call_name, None)
        self._settle()

    def tick_audio(self, owner: object, frames: dict[str, bytes]) -> None:
        """Each span's handler gives its bridged callers' audio every tick; the first one to
        call this clocks the phones (one frame per phone per tick, whatever the number of spans)."""
        if self._clock_owner is None:
            self._clock_owner = owner
        self.to_phones.update(frames)
        if owner is self._clock_owner:
            self.phones.clock(self.to_phones)
            self.to_phones = {}

    # -- the phones (AgentPhones' listener) ---------------------------------------------------------
    def phone_off_hook(self, url: str) -> None:
        call_name = self.ringing.get(url)
        agent_id = self.agent_on.get(url)
        if call_name is not None and agent_id is not None:
            self._guard(lambda now: self.engine.answered(call_name, agent_id, now))
            return
        self.dialled[url] = ""
        self.phones.tone(url, "dial")   # for a feature code

    def phone_on_hook(self, url: str) -> None:
        self.dialled.pop(url, None)
        call_name = self.talking.pop(url, None)
        if call_name is None:
            return
        self.phones.unbridge(url)
        owner = self.owners.pop(call_name, None)
        self.callers.pop(call_name, None)
        self._guard(lambda now: self.engine.completed(call_name, now, by="agent"))
        if owner is not None:
            owner.acd_agent_left(call_name)   # the flow goes on: the survey

    def phone_digit(self, url: str, digit: str) -> None:
        if url not in self.dialled:
            return  # digits during a call (transfer codes: not yet)
        digits = self.dialled[url] = self.dialled[url] + digit
        if len(digits) == 1:
            self.phones.tone(url, "none")  # dial tone stops at the first digit
        try:
            code = fc.parse(digits)
        except fc.FeatureCodeError as exc:
            log.warning("坐席话机 %s: 功能码错误: %s", url, exc)
            self._refuse(url)
            return
        if code is not None:
            del self.dialled[url]
            self._feature(url, code)

    def phone_flash(self, url: str) -> None:
        log.info("坐席话机 %s: 拍叉簧 (hook flash): transfer is not supported yet", url)

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
            if self.store is not None:
                try:
                    self.store(events)
                except Exception:  # the call goes on; the log line keeps the step
                    log.exception("ACD: queue log not stored (%d events)", len(events))
            if self.publish is not None:
                for event in events:
                    self.publish("pbx/queue/event", event.to_dict())
        self._arm()

    def _carry_out(self, action: act.Action) -> None:
        if isinstance(action, act.Offer):
            for agent_id in action.agent_ids:
                url = self._device(agent_id)
                if url is None:
                    continue
                self.ringing[url] = action.call_id
                self.phones.ring(url, self.callers.get(action.call_id))
                log.info("ACD %s: 振铃坐席 %s (%s)", action.call_id, agent_id, url)
        elif isinstance(action, act.CancelOffer):
            for agent_id in action.agent_ids:
                url = self._device(agent_id)
                if url is not None and self.ringing.get(url) == action.call_id:
                    del self.ringing[url]
                    self.phones.stop_ring(url)
        elif isinstance(action, act.Connected):
            url = self._device(action.agent_id)
            if url is None:
                return
            self.ringing.pop(url, None)
            for other, call in list(self.ringing.items()):
                if call == action.call_id:
                    del self.ringing[other]
                    self.phones.stop_ring(other)
            self.talking[url] = action.call_id
            self.phones.bridge(url, action.call_id)
            owner = self.owners.get(action.call_id)
            if owner is not None:
                owner.acd_connected(action.call_id, url, action.agent_id)
        elif isinstance(action, act.Overflow):
            if action.rule.kind == "queue":
                log.info("ACD %s: 溢出到队列 %s (%s)", action.call_id, action.rule.target, action.reason)
                return  # the engine moved it itself
            owner = self.owners.pop(action.call_id, None)
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
                for url, agent in list(self.agent_on.items()):
                    if agent == action.agent_id:
                        del self.agent_on[url]
        elif isinstance(action, act.CallbackDue):
            # Agent-first callbacks need an outbound trunk leg: not in pbxd yet.
            log.error("ACD %s: 回拨 %s 需要外呼, 尚未支持 (callback dial-out not supported yet)",
                      action.call_id, action.number)
            self.engine.callback_result(action.call_id, self.clock(), reached=False)

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
