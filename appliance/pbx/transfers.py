"""Hook flash on an agent's phone during an ACD call: hold with music, consult, blind and
attended transfer, three-way calls (三方通话) — phone_features.py's machine, carried out.

One `PhoneFeatures` per agent phone while it carries an ACD call (started at Connected).
Its actions become media-router roles and calls:

- HoldCaller / ResumeCaller → the caller's leg to role ``hold`` (it hears the room's
  music on hold, nobody hears it) and back to ``talk``.
- DialTarget → an extension rings that phone (caller ID: the caller's number, name
  转接); an outside number (9 + number) is an outbound trunk call (outbound.py).
- ConnectConsult → the third party joins the call's room (talk); the held caller still
  hears music. JoinThreeWay → the caller back to ``talk``: all three hear each other.
- TransferBlind / TransferAttended → the agent's phone leaves the room and the ACD logs
  ``transferred`` (to ``blind:NUMBER`` / ``attended:NUMBER``; the agent goes to wrap-up).
  A blind transfer whose target then fails puts the caller back in the queue it came
  from at priority elder (a new entry: the wait counts again from the requeue). An
  extension that does not answer within the queue's ring_timeout fails so (an outside
  number fails by its outbound leg's own no-answer timeout).
- After a transfer the caller and the third party talk until one hangs up: the third
  party hanging up sends the caller on through the flow (the survey), the caller
  hanging up clears the third party.
- The caller hanging up while the agent consults leaves the agent talking to the third
  party (PromoteConsult); that call ends when either puts the phone down.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from appliance.acd.engine import AcdError
from appliance.acd.events import QueueEvent
from appliance.acd.model import QueueConfig
from appliance.pbx import phone_features as pf
from appliance.pbx.outbound import OutCall

if TYPE_CHECKING:
    from asyncio import TimerHandle

    from appliance.pbx.acd_service import AcdService

log = logging.getLogger("anxin.pbx.transfers")

Leg = tuple[str, str]


@dataclass(eq=False)
class FlashCall:
    """One agent phone's features on one ACD call."""

    machine: pf.PhoneFeatures
    url: str                      # the agent's phone
    call: str                     # the ACD call: also the media room
    caller_leg: Leg
    agent_id: str | None
    consult_leg: Leg | None = None
    consult_out: OutCall | None = None    # an outside third party
    consult_phone: str | None = None      # an extension's phone as the third party
    consult_up: bool = False
    dialled: str | None = None            # the third party's number, as dialled
    transferred: bool = False             # the agent left; caller and third party remain
    promoted: bool = False                # the caller left; agent and third party remain
    timer: TimerHandle | None = None
    transfer_timer: TimerHandle | None = None  # a blind transfer ringing an extension


class FlashCalls:
    """Every agent phone's hook-flash features, on the ACD service's phones and router."""

    def __init__(self, acd: AcdService, plan: pf.NumberingPlan, extensions: dict[str, str]) -> None:
        self.acd, self.plan = acd, plan
        self.extensions = dict(extensions)           # extension → phone url
        self.by_phone: dict[str, FlashCall] = {}     # agent phone → its features
        self.by_call: dict[str, FlashCall] = {}      # ACD call → the same (also after a transfer)
        self.consult_phones: dict[str, FlashCall] = {}   # third party's phone → the call
        self._out: dict[str, FlashCall] = {}         # third party's outbound leg → the call

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self, url: str, call: str, caller_leg: Leg, agent_id: str | None) -> None:
        own = self.acd.sessions.extension_of(url)
        fc = FlashCall(pf.PhoneFeatures(self.plan, self.acd.clock(), own_extension=own), url, call,
                       caller_leg, agent_id)
        self.by_phone[url], self.by_call[call] = fc, fc

    def active(self, url: str) -> bool:
        return url in self.by_phone

    def owns_call(self, call: str) -> bool:
        return call in self.by_call

    # -- the agent's phone ----------------------------------------------------------------------
    def flash(self, url: str) -> None:
        self._feed(self.by_phone[url], "flash")

    def digit(self, url: str, digit: str) -> None:
        self._feed(self.by_phone[url], "digit", digit)

    def on_hook(self, url: str) -> None:
        self._feed(self.by_phone[url], "on_hook")

    def off_hook(self, url: str) -> bool:
        """A recall answered (True), or nothing for the features (False)."""
        fc = self.by_phone.get(url)
        if fc is None or fc.machine.state != pf.RECALLING:
            return False
        self.acd.phones.stop_ring(url)
        self._feed(fc, "off_hook")
        return True

    # -- the caller -----------------------------------------------------------------------------
    def caller_left(self, call: str) -> bool:
        """The caller hung up. True when the features took it (a consult or a transfer)."""
        fc = self.by_call.get(call)
        if fc is None:
            return False
        if fc.transferred:                        # caller and third party: clear the third party
            self._drop_consult(fc)
            self._forget(fc)
            return True
        if fc.machine.state == pf.TALKING and not fc.promoted:
            self._forget(fc)
            return False                          # the ordinary end: the ACD service handles it
        self._feed(fc, "caller_hung_up")
        return True

    # -- the third party's phone (an extension) ---------------------------------------------------
    def consult_off_hook(self, url: str) -> None:
        fc = self.consult_phones[url]
        if not fc.consult_up:
            self.acd.phones.stop_ring(url)
            fc.consult_up = True
            if fc.transfer_timer is not None:
                fc.transfer_timer.cancel()
                fc.transfer_timer = None
            self.acd.phones.bridge(url, fc.call)
            if fc.transferred:
                self._answered_after_transfer(fc)
            else:
                self._feed(fc, "consult_answered")

    def consult_on_hook(self, url: str) -> None:
        fc = self.consult_phones.pop(url)
        self.acd.router.disconnect(("phone", url))
        self.acd.phones.unbridge(url)
        self._third_party_gone(fc)

    # -- the third party's outbound leg (OutboundOwner) --------------------------------------------
    def out_ringing(self, leg: OutCall) -> None:
        pass  # the agent (or the transferred caller) already hears ringback / music

    def out_answered(self, leg: OutCall) -> None:
        fc = self._out.get(leg.name)
        if fc is None:
            leg.hangup()
            return
        fc.consult_up = True
        if fc.transferred:
            self._answered_after_transfer(fc)
        else:
            self._feed(fc, "consult_answered")

    def _answered_after_transfer(self, fc: FlashCall) -> None:
        """A blind transfer's target answered: caller and target talk."""
        assert fc.consult_leg is not None
        self.acd.router.connect(fc.call, fc.consult_leg)
        self.acd.router.set_role(fc.caller_leg, "talk")
        log.info("转接 %s: 已接通", fc.call)

    def out_ended(self, leg: OutCall) -> None:
        fc = self._out.pop(leg.name, None)
        self.acd.router.disconnect(leg.leg)
        if fc is None or fc.consult_out is not leg:
            return
        if leg.answered:
            self._third_party_gone(fc)
            return
        fc.consult_out = fc.consult_leg = None
        if fc.transferred:                        # a blind transfer that never got through
            self._requeue(fc, "blind transfer failed")
            return
        outcome = leg.outcome()
        reason = "busy" if outcome == "busy" else "unreachable" if outcome == "failed" else "no_answer"
        self._feed(fc, "consult_failed", reason)

    def _third_party_gone(self, fc: FlashCall) -> None:
        fc.consult_up = False
        fc.consult_leg = fc.consult_out = fc.consult_phone = None
        if fc.transferred:                        # the caller goes on through the flow (survey)
            self._forget(fc)
            self.acd.transfer_ended(fc.call)
        elif fc.promoted:                         # the agent's own call with the third party is over
            self.acd.phones.unbridge(fc.url, "busy")
            self._forget(fc)
        else:
            self._feed(fc, "consult_hung_up")

    # -- the machine --------------------------------------------------------------------------------
    def _feed(self, fc: FlashCall, event: str, *args: str) -> None:
        now = self.acd.clock()
        try:
            actions = getattr(fc.machine, event)(*args, now) if args else getattr(fc.machine, event)(now)
        except pf.PhoneFeatureError as exc:
            log.warning("坐席话机 %s: %s", fc.url, exc)
            return
        for action in actions:
            try:
                self._carry_out(fc, action, now)
            except Exception:  # one action's fault must not leave the caller stranded silently
                log.exception("坐席话机 %s: %r", fc.url, action)
        self._arm(fc)

    def _arm(self, fc: FlashCall) -> None:
        if fc.timer is not None:
            fc.timer.cancel()
            fc.timer = None
        deadline = fc.machine.get_timer()
        loop = self.acd.loop
        if deadline is not None and loop is not None and fc.url in self.by_phone:
            fc.timer = loop.call_later(max(0.0, deadline - self.acd.clock()), self._feed, fc, "timer")

    def _carry_out(self, fc: FlashCall, action: pf.Action, now: float) -> None:
        router, phones = self.acd.router, self.acd.phones
        if isinstance(action, pf.HoldCaller):
            router.set_role(fc.caller_leg, "hold")
            log.info("坐席话机 %s: 主叫保持 (%s)", fc.url, fc.call)
        elif isinstance(action, pf.ResumeCaller):
            router.set_role(fc.caller_leg, "talk")
        elif isinstance(action, pf.PlayTone):
            phones.tone(fc.url, action.kind)
        elif isinstance(action, pf.DialTarget):
            self._dial(fc, action)
        elif isinstance(action, pf.ConnectConsult):
            if fc.consult_leg is not None:
                router.connect(fc.call, fc.consult_leg)
        elif isinstance(action, pf.CancelConsult | pf.DropConsult):
            self._drop_consult(fc)
        elif isinstance(action, pf.JoinThreeWay):
            router.set_role(fc.caller_leg, "talk")
            log.info("三方通话 %s: 坐席 %s, 主叫, %s", fc.call, fc.agent_id, fc.machine.target)
        elif isinstance(action, pf.PromoteConsult):
            fc.promoted = True
            self.acd.caller_gone_during_consult(fc.call, fc.url)
        elif isinstance(action, pf.TransferBlind | pf.TransferAttended):
            self._transfer(fc, action, now)
        elif isinstance(action, pf.RecallAgent):
            phones.ring(fc.url, self.acd.callers.get(fc.call), "保持中的来电")
        elif isinstance(action, pf.RequeueCaller):
            self._requeue(fc, action.reason)
        elif isinstance(action, pf.ReleaseAgent):
            self._release(fc, action.reason)
        elif isinstance(action, pf.LogEvent) and action.kind == pf.THREE_WAY_LOG:
            self.acd.log_events([QueueEvent(action.at, action.kind, fc.call, None, fc.agent_id,
                                            dict(action.data))])

    def _dial(self, fc: FlashCall, action: pf.DialTarget) -> None:
        fc.dialled = action.number
        if action.kind == "extension":
            url = self.extensions.get(action.number)
            if url is None or self.acd.phone_busy(url):
                self._feed(fc, "consult_failed", "busy")
                return
            fc.consult_phone, fc.consult_leg = url, ("phone", url)
            self.consult_phones[url] = fc
            self.acd.phones.ring(url, self.acd.callers.get(fc.call), "转接")
            return
        if action.kind != "outside" or self.acd.dialer is None:
            self._feed(fc, "consult_failed", "unreachable")
            return
        try:
            leg = self.acd.dialer(action.number, self, purpose="transfer", agent=fc.agent_id)
        except Exception as exc:  # OutboundError: no trunk free
            log.error("转接外线 %s: %s", action.number, exc)
            self._feed(fc, "consult_failed", "unreachable")
            return
        fc.consult_out, fc.consult_leg = leg, leg.leg
        self._out[leg.name] = fc

    def _drop_consult(self, fc: FlashCall) -> None:
        if fc.consult_out is not None:
            self._out.pop(fc.consult_out.name, None)
            self.acd.router.disconnect(fc.consult_out.leg)
            fc.consult_out.hangup()
        if fc.consult_phone is not None:
            url = fc.consult_phone
            self.consult_phones.pop(url, None)
            self.acd.router.disconnect(("phone", url))
            if fc.consult_up:
                self.acd.phones.unbridge(url, "busy")
            else:
                self.acd.phones.stop_ring(url)
        fc.consult_out = fc.consult_leg = fc.consult_phone = None
        fc.consult_up = False

    def _transfer(self, fc: FlashCall, action: pf.Action, now: float) -> None:
        kind = "blind" if isinstance(action, pf.TransferBlind) else "attended"
        number = action.target.number if isinstance(action, pf.TransferBlind) else fc.dialled or "?"
        fc.transferred = True
        # Blind: the caller hears music until the target answers (_answered_after_transfer).
        self.acd.router.set_role(fc.caller_leg, "hold" if kind == "blind" else "talk")
        log.info("转接 %s: 坐席 %s → %s (%s)", fc.call, fc.agent_id, number,
                 "盲转" if kind == "blind" else "咨询转接")
        self.acd.agent_transferred(fc.call, fc.url, f"{kind}:{number}")
        if kind == "blind" and fc.consult_phone is not None and not fc.consult_up:
            self._ring_transfer_target(fc, number)

    def _ring_transfer_target(self, fc: FlashCall, number: str) -> None:
        """Nobody at the extension: back to the queue after the queue's ring_timeout."""
        queue = self.acd.joined.get(fc.call, (None, None))[0]
        timeout = self.acd.config.queue(queue).ring_timeout if queue else QueueConfig.ring_timeout
        loop = self.acd.loop
        if loop is None:
            return

        def unanswered() -> None:
            fc.transfer_timer = None
            if self.by_call.get(fc.call) is fc and fc.transferred and not fc.consult_up:
                log.warning("转接 %s: 分机 %s %.0f 秒无人接听, 重新排队", fc.call, number, timeout)
                self._requeue(fc, "blind transfer not answered")

        fc.transfer_timer = loop.call_later(timeout, unanswered)

    def _requeue(self, fc: FlashCall, reason: str) -> None:
        self._drop_consult(fc)
        self._forget(fc)
        self.acd.requeue(fc.call, reason)

    def _release(self, fc: FlashCall, reason: str) -> None:
        if fc.timer is not None:
            fc.timer.cancel()
            fc.timer = None
        self.by_phone.pop(fc.url, None)
        if reason == "agent_hung_up":
            if fc.promoted:
                self._drop_consult(fc)
                self._forget(fc)
            else:
                self._forget(fc)
                self.acd.agent_hung_up(fc.url)
        elif reason == "caller_hung_up":
            self._forget(fc)
        # transferred: the call stays in by_call until the caller or third party leaves

    def _forget(self, fc: FlashCall) -> None:
        for timer in (fc.timer, fc.transfer_timer):
            if timer is not None:
                timer.cancel()
        fc.timer = fc.transfer_timer = None
        if self.by_phone.get(fc.url) is fc:
            del self.by_phone[fc.url]
        if self.by_call.get(fc.call) is fc:
            del self.by_call[fc.call]


__all__ = ["AcdError", "FlashCall", "FlashCalls"]
