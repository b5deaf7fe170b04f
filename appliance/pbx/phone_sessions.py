"""What the agents' phones do besides taking ACD calls: supervisors stepping in, calls out,
calls between extensions.

- **Supervisors (班长席)** — ``supervise(mode, agent, phone)``: the supervisor's phone
  rings (caller ID ``监听 1001`` …); lifted, it joins the room of the agent's call:
  ``listen`` (监听: hears caller and agent, heard by nobody), ``whisper`` (耳语: the agent
  also hears the supervisor, the caller does not), ``barge`` (强插: all three talk),
  ``intercept`` (拦截: the supervisor takes the call over; the agent's phone is dropped
  with busy tone and the agent goes to wrap-up, queue event ``transferred`` to
  ``supervisor:EXT``). Asking again with another mode while listening switches mode at once.
  When the agent's call ends, the supervisor's phone gets busy tone.
- **Click-to-call (点击外呼)** — ``click_to_call(phone, number)``: the agent's phone rings
  first (caller ID = the number to call); lifted, the box dials NUMBER on a trunk and the
  agent hears ringback until it answers. A missed-call task's callback goes the same way.
- **Dialling from an idle phone** — after dial tone: ``9`` + number + ``#`` (or 5 s of
  silence) dials out on a trunk; an extension (``8002``) rings that phone (内部通话).
  While an agent is on such a call the ACD sees them NOT_READY (``外呼`` / ``内部通话``)
  and gets them back READY afterwards if they were ready before.

Every outbound leg is an ordinary `OutCall` (outbound.py): recorded, with its CDR.
Rooms are the media router's; this module only says who joins which, with what role.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from appliance.acd.engine import AcdError
from appliance.acd.model import AgentState
from appliance.pbx.cdr import CallRecord, stamp
from appliance.pbx.outbound import OutCall

if TYPE_CHECKING:
    from appliance.pbx.acd_service import AcdService

log = logging.getLogger("anxin.pbx.phones")

SUPERVISE_MODES = {"listen": "监听", "whisper": "耳语", "barge": "强插", "intercept": "拦截"}
OUTSIDE_PREFIX = "9"
DIAL_TIMEOUT = 5.0          # seconds of silence that end dialling (as on a PBX)
BUSY_REASONS = {"out": "外呼", "internal": "内部通话"}


class PhoneSessionError(ValueError):
    """A supervisor's or agent's request that cannot be carried out now (says why)."""


@dataclass(eq=False)
class PhoneSession:
    kind: str                          # "supervise" | "out" | "internal"
    url: str                           # the phone it is on
    state: str = "ringing"             # ringing → (dialling) → active
    mode: str | None = None            # supervise: listen / whisper / barge / intercept
    agent_id: str | None = None        # supervise: the agent watched
    call_id: str | None = None         # supervise: the agent's call (the room)
    number: str | None = None          # out: the number to dial
    purpose: str = "agent"             # out: "agent" (dialled on the phone) | "click_to_call"
    leg: OutCall | None = None         # out: the trunk leg
    peer: str | None = None            # internal: the other phone's url
    room: str | None = None
    restore_ready: bool = False        # the agent was READY before: back to READY afterwards
    task_id: str | None = None         # click-to-call for a missed-call task
    by: str | None = None
    digits: list[str] = field(default_factory=list)
    started_at: float | None = None     # internal: the callee's phone began to ring
    answered_at: float | None = None    # internal: the callee lifted it


class PhoneSessions:
    """The non-ACD uses of the phones, on the ACD service's phones, router and engine."""

    def __init__(self, acd: AcdService, extensions: dict[str, str]) -> None:
        self.acd = acd
        self.extensions = dict(extensions)            # extension → phone url
        self.sessions: dict[str, PhoneSession] = {}   # phone url → its session
        self._legs: dict[str, str] = {}               # outbound leg name → phone url

    # -- requests (control socket: supervisors, the console) --------------------------------------
    def phone_url(self, phone: str) -> str:
        """An extension or a port URL → the port URL."""
        if phone in self.acd.phones.phones:
            return phone
        try:
            return self.extensions[phone]
        except KeyError:
            raise PhoneSessionError(f"没有分机 {phone!r} (no such extension; extensions: "
                                    f"{', '.join(sorted(self.extensions)) or 'none'})") from None

    def supervise(self, mode: str, agent_id: str, phone: str, *, by: str | None = None) -> PhoneSession:
        if mode not in SUPERVISE_MODES:
            raise PhoneSessionError(f"mode must be one of {', '.join(SUPERVISE_MODES)}, got {mode!r}")
        url = self.phone_url(phone)
        agent_url = self.acd.device_of(agent_id)
        call_id = self.acd.talking.get(agent_url) if agent_url else None
        if call_id is None:
            raise PhoneSessionError(f"坐席 {agent_id} 当前没有通话 (agent {agent_id} is not on a call)")
        if url == agent_url:
            raise PhoneSessionError("不能监听自己的话机 (the supervisor's phone is the agent's)")
        current = self.sessions.get(url)
        if current is not None and current.kind == "supervise" and current.call_id == call_id \
                and current.state == "active":
            self._apply_mode(current, mode)        # listen → whisper → barge … at once
            return current
        if current is not None or self.acd.phone_busy(url):
            raise PhoneSessionError(f"话机 {phone} 正忙 (the supervisor's phone is busy)")
        session = PhoneSession("supervise", url, mode=mode, agent_id=agent_id, call_id=call_id, by=by)
        self.sessions[url] = session
        self.acd.phones.ring(url, agent_id, f"{SUPERVISE_MODES[mode]} {agent_id}")
        log.info("班长席 %s: %s 坐席 %s (%s), 振铃 %s", by or "-", SUPERVISE_MODES[mode], agent_id,
                 call_id, url)
        return session

    def click_to_call(self, phone: str, number: str, *, by: str | None = None,
                      task_id: str | None = None) -> PhoneSession:
        url = self.phone_url(phone)
        if not number.isdigit() or not 3 <= len(number) <= 20:
            raise PhoneSessionError(f"号码 {number!r} 无效 (3-20 digits)")
        if self.acd.phone_busy(url):
            raise PhoneSessionError(f"话机 {phone} 正忙 (the phone is busy)")
        session = PhoneSession("out", url, number=number, purpose="click_to_call", by=by, task_id=task_id)
        self.sessions[url] = session
        self._hold_agent(session, "out")
        self.acd.phones.ring(url, number, "外呼")
        log.info("点击外呼 %s: 振铃 %s, 接听后拨 %s", by or "-", url, number)
        return session

    def call_task(self, url: str, number: str, task_id: str) -> PhoneSession:
        """*5# on an off-hook phone: dial the task's number now (the agent is already listening)."""
        session = PhoneSession("out", url, number=number, purpose="missed_callback", task_id=task_id)
        self.sessions[url] = session
        self._hold_agent(session, "out")
        self._dial(session)
        return session

    # -- the phones (from the ACD service, before its own handling) ----------------------------------
    def handles(self, url: str) -> bool:
        return url in self.sessions

    def off_hook(self, url: str) -> None:
        session = self.sessions[url]
        if session.state != "ringing":
            return
        self.acd.phones.stop_ring(url)
        if session.kind == "supervise":
            self._join_supervisor(session)
        elif session.kind == "out":
            self._dial(session)
        elif session.kind == "internal":
            self._answer_internal(session)

    def on_hook(self, url: str) -> None:
        session = self.sessions.pop(url, None)
        if session is None:
            return
        router, phones = self.acd.router, self.acd.phones
        router.disconnect(("phone", url))
        phones.unbridge(url)
        if session.kind == "supervise":
            if session.mode == "intercept" and session.state == "active":
                self.acd.supervisor_left(url)
            log.info("班长席: %s 结束 (%s)", SUPERVISE_MODES.get(session.mode or "", ""), url)
        elif session.kind == "out":
            if session.leg is not None:
                self._legs.pop(session.leg.name, None)
                router.disconnect(session.leg.leg)
                session.leg.hangup()
            self._release_agent(session)
        elif session.kind == "internal" and session.peer is not None:
            self._record_internal(session)
            peer = self.sessions.pop(session.peer, None)
            if peer is not None:
                router.disconnect(("phone", peer.url))
                phones.unbridge(peer.url, "busy")
                if peer.state == "ringing":
                    phones.stop_ring(peer.url)
                self._release_agent(peer)
            self._release_agent(session)

    def dialled(self, url: str, digits: str) -> bool:
        """Digits on an idle phone that are not a feature code: an extension or 9 + number #.
        True when the digits are complete (a call was placed or refused)."""
        if digits in self.extensions:
            self._call_extension(url, digits)
            return True
        if digits.startswith(OUTSIDE_PREFIX):
            if digits.endswith("#"):
                self._dial_out(url, digits[1:-1])
                return True
            return False
        if any(ext.startswith(digits) for ext in self.extensions):
            return False
        self.acd.phones.tone(url, "congestion")   # 空号: no such extension
        return True

    def dial_timeout(self, url: str, digits: str) -> None:
        """Dialling ended by silence: 9 + number dials out; anything else is not a number."""
        if digits.startswith(OUTSIDE_PREFIX) and len(digits) > 3:
            self._dial_out(url, digits[1:])
        else:
            self.acd.phones.tone(url, "congestion")

    # -- a call the agent's ACD call ended ----------------------------------------------------------
    def call_ended(self, call_id: str) -> None:
        """The agent's call is over: supervisors in its room hear busy tone."""
        for url, session in list(self.sessions.items()):
            if session.kind == "supervise" and session.call_id == call_id:
                self.acd.router.disconnect(("phone", url))
                if session.state == "ringing":
                    self.acd.phones.stop_ring(url)
                    del self.sessions[url]
                else:
                    self.acd.phones.unbridge(url, "busy")
                    session.state = "ended"

    # -- supervisors ------------------------------------------------------------------------------
    def _join_supervisor(self, session: PhoneSession) -> None:
        assert session.call_id is not None and session.mode is not None
        agent_url = self.acd.device_of(session.agent_id or "")
        if agent_url is None or self.acd.talking.get(agent_url) != session.call_id:
            self.acd.phones.tone(session.url, "busy")  # the call ended while the phone rang
            session.state = "ended"
            return
        room = self.acd.router.room_of(("phone", agent_url))
        if room is None:
            self.acd.phones.tone(session.url, "busy")
            session.state = "ended"
            return
        session.room, session.state = room, "active"
        self.acd.phones.bridge(session.url, room)
        self.acd.router.connect(room, ("phone", session.url), "listen")
        self._apply_mode(session, session.mode)

    def _apply_mode(self, session: PhoneSession, mode: str) -> None:
        agent_url = self.acd.device_of(session.agent_id or "")
        leg = ("phone", session.url)
        if mode == "listen":
            self.acd.router.set_role(leg, "listen")
        elif mode == "whisper":
            assert agent_url is not None
            self.acd.router.set_role(leg, "whisper", whisper_to=[("phone", agent_url)])
        elif mode in ("barge", "intercept"):
            self.acd.router.set_role(leg, "talk")
        if mode == "intercept" and agent_url is not None:
            self.acd.intercept(session.call_id or "", agent_url, session.url)
        session.mode = mode
        log.info("班长席 %s: %s 坐席 %s", session.url, SUPERVISE_MODES[mode], session.agent_id)

    # -- calls out --------------------------------------------------------------------------------
    def _dial_out(self, url: str, number: str) -> None:
        if not number.isdigit() or len(number) < 3:
            self.acd.phones.tone(url, "congestion")
            return
        session = PhoneSession("out", url, number=number, state="ringing")
        self.sessions[url] = session
        self._hold_agent(session, "out")
        self._dial(session)

    def _dial(self, session: PhoneSession) -> None:
        assert session.number is not None
        self.acd.phones.tone(session.url, "ringback")
        agent = self.acd.agent_on.get(session.url) or self.extension_of(session.url)
        try:
            if self.acd.dialer is None:
                raise PhoneSessionError("no trunk")
            leg = self.acd.dialer(session.number, self, purpose=session.purpose, agent=agent)
        except Exception as exc:  # OutboundError: no trunk free
            log.error("外呼 %s → %s: %s", session.url, session.number, exc)
            self.acd.phones.tone(session.url, "congestion")
            session.state = "ended"
            return
        session.leg, session.state = leg, "dialling"
        self._legs[leg.name] = session.url

    def out_ringing(self, leg: OutCall) -> None:
        pass

    def out_answered(self, leg: OutCall) -> None:
        url = self._legs.get(leg.name)
        session = self.sessions.get(url) if url else None
        if session is None:
            leg.hangup()
            return
        session.room, session.state = leg.name, "active"
        self.acd.phones.bridge(session.url, leg.name)
        self.acd.router.connect(leg.name, leg.leg)
        self.acd.router.connect(leg.name, ("phone", session.url))
        if session.task_id is not None:
            self.acd.task_reached(session.task_id, session.agent_id or self.acd.agent_on.get(session.url))

    def out_ended(self, leg: OutCall) -> None:
        url = self._legs.pop(leg.name, None)
        self.acd.router.disconnect(leg.leg)
        session = self.sessions.get(url) if url else None
        if session is None or session.leg is not leg:
            return
        session.leg, session.state = None, "ended"
        self.acd.router.disconnect(("phone", session.url))
        tone = "busy" if leg.answered or leg.outcome() == "busy" else "congestion"
        self.acd.phones.unbridge(session.url, tone)
        self._release_agent(session)

    # -- calls between extensions --------------------------------------------------------------------
    def _call_extension(self, url: str, extension: str) -> None:
        peer = self.extensions[extension]
        if peer == url or self.acd.phone_busy(peer):
            self.acd.phones.tone(url, "busy")
            return
        now = self.acd.clock()
        caller = PhoneSession("internal", url, state="dialling", peer=peer, number=extension, started_at=now)
        callee = PhoneSession("internal", peer, state="ringing", peer=url, started_at=now)
        self.sessions[url], self.sessions[peer] = caller, callee
        self._hold_agent(caller, "internal")
        self._hold_agent(callee, "internal")
        self.acd.phones.tone(url, "ringback")
        self.acd.phones.ring(peer, self.extension_of(url) or "", "内部")
        log.info("内部通话 %s → %s", url, extension)

    def _answer_internal(self, session: PhoneSession) -> None:
        caller = self.sessions.get(session.peer or "")
        if caller is None:
            return
        room = f"internal-{caller.url}"
        now = self.acd.clock()
        for s in (caller, session):
            s.state, s.room, s.answered_at = "active", room, now
            self.acd.phones.bridge(s.url, room)
            self.acd.router.connect(room, ("phone", s.url))

    def _record_internal(self, ended: PhoneSession) -> None:
        """The call record of an internal call (direction ``internal``), when either side hangs up."""
        caller = ended if ended.number is not None else self.sessions.get(ended.peer or "")
        if caller is None or caller.started_at is None or self.acd.store_call is None:
            return
        now = self.acd.clock()
        from_ext, to_ext = self.extension_of(caller.url), caller.number
        answered = caller.answered_at
        record = CallRecord(
            call_id=f"int-{from_ext}-{datetime.fromtimestamp(caller.started_at, UTC):%y%m%d%H%M%S%f}",
            direction="internal", caller=from_ext, called=to_ext, started_at=stamp(caller.started_at) or "",
            answered_at=stamp(answered), ended_at=stamp(now) or "",
            ended_by="caller" if ended is caller else "callee",
            outcome="answered" if answered is not None else "cancelled", agent=caller.agent_id,
            talk_s=round(now - answered, 3) if answered is not None else None)
        try:
            self.acd.store_call(record)
        except Exception:  # the call is over either way; the log line keeps it
            log.exception("内部通话记录无法保存 %s → %s", from_ext, to_ext)

    # -- the agent's ACD state around these calls -------------------------------------------------------
    def _hold_agent(self, session: PhoneSession, kind: str) -> None:
        agent_id = self.acd.agent_on.get(session.url)
        if agent_id is None:
            return
        session.agent_id = agent_id
        state = self.acd.engine.agent(agent_id).state
        if state in (AgentState.READY, AgentState.WRAPUP):
            session.restore_ready = state is AgentState.READY
            self.acd.verb(lambda now: self.acd.engine.set_not_ready(agent_id, BUSY_REASONS[kind], now))

    def _release_agent(self, session: PhoneSession) -> None:
        agent_id = session.agent_id
        if not session.restore_ready or agent_id is None:
            return
        session.restore_ready = False
        try:
            view = self.acd.engine.agent(agent_id)
        except AcdError:
            return
        if view.state is AgentState.NOT_READY and view.reason in BUSY_REASONS.values():
            self.acd.verb(lambda now: self.acd.engine.set_ready(agent_id, now))

    def extension_of(self, url: str) -> str | None:
        return next((ext for ext, u in self.extensions.items() if u == url), None)
