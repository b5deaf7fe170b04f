"""IvrCallHandler: the first piece of pbxd's call path — an IVR on a real span's media.

It takes the calls a `PriSpan` offers (its ``events`` queue), answers them, walks each
through an `IvrSession` (appliance/ivr/engine.py) and turns the session's actions into
media on the call's timeslot:

- Play → the prompt file (A-law, appliance/ivr/prompts.py) is fed to ``span.play`` one
  160-byte frame per received line tick, from a media tap. PriSpan queues at most 1 s per
  timeslot, so a whole prompt cannot be queued at once; feeding per tick also means the
  line, not a local timer, says when the prompt is done (``on_prompt_done`` in the tick
  its last frame goes out).
- DTMF → one `DtmfBank` over all 32 timeslots, fed every tick with what the far end sends
  (decoded with appliance/media/g711); a digit on a call's timeslot goes to ``on_digit``.
- Timers → ``get_timer()`` is armed on the loop (``call_at``), ``on_timer`` when due.
- ToQueue → the outcome is kept in ``outcomes[call_id]``. With ``acd`` (an
  `AcdService`, appliance/pbx/acd_service.py) the call joins the ACD queue the flow
  names, with its priority (emergency / recognised elder / others); the caller hears
  ringback while the ACD rings agents' phones, then the call is bridged: each tick the
  caller's frame goes to the agent's port and the agent's frame to ``span.play``. The
  agent putting the phone down is ``on_agent_hangup`` (the survey follows in the default
  flow; its `SurveyResult` is kept in ``call.survey``); an ACD overflow (max wait, no
  agent logged in) is ``on_handoff_failed(now, reason)`` (the flow's fallback). Without
  ``acd`` (and for Transfer, which has no outbound trunk leg yet) the call is cleared
  with cause 16.
- Hangup → the call is cleared with cause 16.
- RecordMessage → the caller's audio into an encrypted recording from
  ``message_factory`` (kind ``message``; left = the caller) until StopRecording, then
  ``on_recorded`` with its recording id; the CreateCase that follows goes to
  ``on_case`` (pbxd opens the case in box.db and links the message). Without a
  message_factory (no recording key) nothing is kept, loudly.
- The call released → ``on_finished(call)``: pbxd writes the call record (CDR).
- The far end hangs up → ``on_hangup``; the box answers the DISCONNECT with a release.

Call recording (全程录音): with a ``recorder_factory`` every answered call gets a
`RecordingWriter`; each tick writes left = what the caller (the line) sends and right =
what the box sends on the call's timeslot (prompts, ringback, the agent's voice), from
answer to hang-up.

Time: the engine wants epoch seconds. The handler reads the loop clock only and converts
it with one offset fixed at start (``epoch_at_start``, default ``time.time()`` — the only
wall-clock read, here at the shell boundary). The DTMF bank runs on the line's own clock
(20 ms per received frame), so frames that arrive in a burst still count as 20 ms apart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import numpy as np

from appliance.acd.engine import AcdError
from appliance.acd.model import OverflowRule
from appliance.ivr import engine
from appliance.ivr.engine import CallerInfo, IvrError, IvrSession
from appliance.ivr.flows import Flow, IvrConfig
from appliance.ivr.number_speech import announcement_prompts
from appliance.ivr.prompts import PromptError, find_prompt, read_prompt
from appliance.media.dtmf import DtmfBank
from appliance.media.g711 import ALAW_IDLE, alaw_to_linear, linear_to_alaw
from appliance.media.tones import ToneGenerator
from appliance.pbx.acd_service import AcdService
from appliance.pbx.call_recording import Recorder, close_recording, write_frames
from appliance.pbx.outbound import OutboundCalls, OutCall
from appliance.recording.container import RecordingError
from drivers.e1_card.q931 import events as ev
from drivers.e1_card.span import SLOT_BYTES
from drivers.e1_card.stack import PriSpan

log = logging.getLogger("anxin.pbx.ivr")

TIMESLOTS = 32
LINE_TICK = 0.020  # one received frame buffer = 20 ms of the line's clock
NORMAL_CLEARING = 16
CALL_REJECTED = 21
TEMPORARY_FAILURE = 41
IDLE_SLOT = bytes([ALAW_IDLE]) * SLOT_BYTES
CALLBACK_CONFIRM = "callback_confirm"   # the prompt a caller hears after asking for a callback
ANNOUNCEMENT = "queue_announcement"     # the name a position announcement plays under

class InbandLink(Protocol):
    """The receiver side of in-band Contact ID on one call (drivers/alarm_phone/inband.py)."""

    @property
    def finished(self) -> bool: ...

    def feed(self, frame: np.ndarray, now: float) -> None: ...

    def next_frame(self, now: float) -> np.ndarray: ...

    def events(self) -> list[object]: ...


# (recording name, started at, the call) → an open recorder; pbxd's factory picks the path
# and the key, and indexes the recording with the call's numbers.
RecorderFactory = Callable[[str, datetime, "IvrCall"], Recorder]
CallerLookup = Callable[[str | None], CallerInfo]
Dialer = Callable[..., OutCall]   # call_path.dial(number, owner, *, purpose, calling, agent)


class LoopClock:
    """Epoch seconds by the event loop's monotonic clock, with one offset taken at the first
    reading: every handler and the ACD share it, so waits and talk times never bend when
    the wall clock is stepped (NTP) during a call."""

    def __init__(self, epoch_at_start: float | None = None) -> None:
        self._epoch_at_start = epoch_at_start
        self.offset: float | None = None

    def __call__(self) -> float:
        loop_now = asyncio.get_running_loop().time()
        if self.offset is None:
            start = self._epoch_at_start if self._epoch_at_start is not None else time.time()
            self.offset = start - loop_now
        return loop_now + self.offset


class _NoRouter:
    """Without an ACD there is nobody to connect an outbound call to."""

    def put(self, leg: object, frame: bytes) -> None:
        pass

    def take(self, leg: object) -> bytes | None:
        return None


class IvrCallError(RuntimeError):
    """A prompt the flow names cannot be played (missing or unreadable file)."""


@dataclass
class IvrCall:
    """One call the handler owns, from IncomingCall to Released."""

    call_id: int
    timeslot: int
    caller: str | None
    name: str
    called: str | None = None
    span: str | None = None                # the span's name
    started_at: float = 0.0                # epoch seconds: the SETUP arrived
    answered_at: float | None = None       # CONNECT ACK: the box answered
    queued_at: float | None = None         # handed to the agents' phones
    agent_at: float | None = None          # an agent lifted the phone
    agent_left_at: float | None = None     # the agent put it down (or the caller left first)
    ended_at: float | None = None
    ended_by: str | None = None            # "caller" | "box"
    case_id: str | None = None             # the case a message opened
    session: IvrSession | None = None
    prompt: str | None = None        # the prompt being played, None when silent
    audio: bytes = b""
    position: int = 0
    recorder: Recorder | None = None
    recorded: bool = False                 # a recording was opened for the call
    message: Recorder | None = None
    message_id: str | None = None
    timer: asyncio.TimerHandle | None = None
    cleared: bool = False
    digits: list[str] = field(default_factory=list)   # every key heard, for the call's log
    ringback: ToneGenerator | None = None   # while the agents' phones ring
    agent_port: str | None = None          # the URL of the phone that answered, for the call record
    agent_id: str | None = None            # the agent (工号) who answered
    bridged: bool = False                  # caller and agent are talking
    survey: engine.SurveyResult | None = None   # 满意度评价, stored with the call
    ticks: int = 0                         # line ticks since the call was answered
    actions: list[engine.Action] = field(default_factory=list)  # everything the session did
    emergency: object | None = None        # the call's alarm (emergency_calls.EmergencyCall)
    alarm_ids: list[str] = field(default_factory=list)  # signals stored for it: the call, in-band messages
    inband: InbandLink | None = None       # in-band Contact ID before the voice path opens
    out_leg: OutCall | None = None         # put through to a number outside (duty mobile …)
    callback_requested: bool = False       # pressed the queue's callback key: called back later
    refused: str | None = None             # "reject": a blacklisted number refused unanswered
    announcing: bool = False               # the queue's position announcement is playing


class IvrCallHandler:
    """Runs IVR FLOW (a Flow or the IvrConfig's default flow) on every call SPAN offers."""

    def __init__(self, span: PriSpan, flow: Flow | IvrConfig, prompt_dir: str | Path | None = None, *,
                 recorder_factory: RecorderFactory | None = None, caller_lookup: CallerLookup | None = None,
                 epoch_at_start: float | None = None, clock: LoopClock | None = None,
                 acd: AcdService | None = None,
                 message_factory: RecorderFactory | None = None,
                 on_case: Callable[[IvrCall, engine.CreateCase], str | None] | None = None,
                 on_finished: Callable[[IvrCall], None] | None = None,
                 emergency_check: Callable[[IvrCall], object | None] | None = None,
                 emergency_flow: Flow | None = None,
                 inband_factory: Callable[[float], InbandLink] | None = None,
                 on_inband: Callable[[IvrCall, object], None] | None = None,
                 on_outbound_finished: Callable[[OutCall], None] | None = None,
                 dialer: Dialer | None = None,
                 screen: Callable[[IvrCall], str | None] | None = None,
                 blocked_flow: Flow | None = None) -> None:
        if isinstance(flow, IvrConfig):
            prompt_dir = prompt_dir if prompt_dir is not None else flow.prompt_dir
            flow = flow.flow
        if prompt_dir is None:
            raise IvrCallError(f"no prompt directory for flow {flow.name!r}")
        self.span, self.flow, self.prompt_dir = span, flow, Path(prompt_dir)
        self.recorder_factory = recorder_factory
        self.caller_lookup = caller_lookup or (lambda number: CallerInfo(number))
        self.message_factory = message_factory
        self.on_case, self.on_finished = on_case, on_finished
        self.acd = acd
        # Emergency phones calling in: the alarm is committed before the answer, then in-band
        # Contact ID (when a receiver factory is given), then EMERGENCY_FLOW (the emergency queue).
        self.emergency_check, self.emergency_flow = emergency_check, emergency_flow
        self.inband_factory, self.on_inband = inband_factory, on_inband
        # The calls the box places on this span (callbacks, the duty mobile, agents dialling out).
        self.outbound = OutboundCalls(span, self.now, acd.router if acd is not None else _NoRouter(),
                                      recorder_factory=recorder_factory, on_finished=on_outbound_finished)
        self.dialer = dialer                      # places a call on any span (call_path.dial)
        self.screen = screen                      # "reject": refuse before answering (blacklist)
        self.blocked_flow = blocked_flow          # "announce": this flow instead of the IVR's
        self._transfers: dict[str, IvrCall] = {}  # outbound leg name → the caller it is for
        self.calls: dict[int, IvrCall] = {}
        self.outcomes: dict[int, engine.Action] = {}   # ToQueue / Transfer / Hangup per call
        self.finished: dict[int, IvrCall] = {}          # released calls, for logs and tests
        self.clock = clock if clock is not None else LoopClock(epoch_at_start)
        self._offset: float | None = None
        self._prompts: dict[str, bytes] = {}
        self._dtmf = DtmfBank(TIMESLOTS)
        self._line_time = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        span.media_taps.append(self._on_media)

    # -- clocks ------------------------------------------------------------------------------
    def _loop_now(self) -> float:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop.time()

    def now(self) -> float:
        """Epoch seconds by the loop clock (the box's LoopClock: one offset for everything)."""
        self._loop_now()
        value = self.clock()
        self._offset = self.clock.offset
        return value

    # -- events from the span ---------------------------------------------------------------
    async def run(self) -> None:
        """Take the span's events for ever (cancel to stop)."""
        self.now()
        while True:
            event = await self.span.events.get()
            try:
                self.handle_event(event)
            except Exception:  # one call's trouble must not stop the others
                log.exception("IVR: handling %r", event)

    def handle_event(self, event: object) -> None:
        """One span event. A fault while handling a call clears that call (cause 41, temporary
        failure: the carrier may retry it elsewhere) instead of leaving the caller in silence,
        then is raised for the trunk's fault count; the other calls never see it."""
        try:
            self._handle_event(event)
        except Exception:
            call = self.calls.get(getattr(event, "call_id", -1))
            if call is not None and not call.cleared:
                log.error("IVR %s: 处理出错, 拆除本次呼叫 (fault: clearing this call, cause 41)", call.name)
                call.ended_by = call.ended_by or "box"
                try:
                    self._clear(call, TEMPORARY_FAILURE)
                except Exception:  # the fault is in clearing too: the line's own timers end it
                    log.exception("IVR %s: 拆除失败", call.name)
            raise

    def _handle_event(self, event: object) -> None:
        if isinstance(event, ev.IncomingCall):
            self._incoming(event)
            return
        if self.outbound.owns(getattr(event, "call_id", -1)):
            self.outbound.handle_event(event)
            return
        call = self.calls.get(getattr(event, "call_id", -1))
        if call is None:
            return
        if isinstance(event, ev.Answered):
            self._start(call)
        elif isinstance(event, ev.Hangup):
            log.info("IVR %s: 主叫挂机 (cause %s)", call.name, event.cause)
            call.ended_by = call.ended_by or "caller"
            if call.session is not None:
                self._drive(call, lambda s, now: s.on_hangup(now))
            self._clear(call, NORMAL_CLEARING)
        elif isinstance(event, ev.Released):
            self._release(call)

    def _incoming(self, event: ev.IncomingCall) -> None:
        if event.timeslot is None:
            self.span.hangup(event.call_id, 44)  # requested channel not available
            return
        now = self.now()
        # Unique across restarts (Q.931 call references repeat): recording and CDR key.
        name = f"{self.span.name}-{datetime.fromtimestamp(now, UTC):%y%m%d%H%M%S}-{event.call_id}"
        call = IvrCall(event.call_id, event.timeslot, event.calling, name, called=event.called,
                       span=self.span.name, started_at=now)
        self.calls[event.call_id] = call
        log.info("IVR %s: 来电 %s → %s, 时隙 %d", name, event.calling, event.called, event.timeslot)
        if self.emergency_check is not None:
            try:  # commits the alarm before the answer; an emergency is answered whatever fails
                call.emergency = self.emergency_check(call)
            except Exception:
                log.exception("IVR %s: 紧急呼叫报警记录失败 (alarm record failed)", name)
        if self.screen is not None:
            try:
                call.refused = self.screen(call)
            except Exception:  # a screening fault never loses a call
                log.exception("IVR %s: 来电筛查失败", name)
        if call.refused == "reject":
            call.ended_by = "box"
            self._clear(call, CALL_REJECTED)   # logged: its call record says blacklisted
            return
        self.span.proceeding(event.call_id)
        self.span.answer(event.call_id)

    def _start(self, call: IvrCall) -> None:
        """CONNECT ACK: the path is through; recording and the flow begin now."""
        if call.session is not None:
            return
        now = self.now()
        call.answered_at = now
        self._dtmf.reset(call.timeslot)
        if self.recorder_factory is not None:
            try:
                call.recorder = self.recorder_factory(call.name, datetime.fromtimestamp(now, UTC), call)
                call.recorded = True
            except (RecordingError, OSError) as exc:  # the call goes on unrecorded
                log.error("IVR %s: 录音无法开始: %s", call.name, exc)
        if call.emergency is not None and self.inband_factory is not None:
            call.inband = self.inband_factory(self._line_time)
            log.info("IVR %s: 紧急呼叫, 带内 Contact ID 握手", call.name)
            return  # the flow starts when the in-band exchange is over (_inband_tick)
        self._begin_flow(call, now)

    def _begin_flow(self, call: IvrCall, now: float) -> None:
        if call.emergency is not None and self.emergency_flow:
            flow = self.emergency_flow
        elif call.refused == "announce" and self.blocked_flow:
            flow = self.blocked_flow
        else:
            flow = self.flow
        try:
            call.session = IvrSession(flow, self.caller_lookup(call.caller), now)
        except (IvrError, ValueError) as exc:
            log.error("IVR %s: %s", call.name, exc)
            self._clear(call, NORMAL_CLEARING)
            return
        self._carry_out(call, now)

    # -- the session's actions --------------------------------------------------------------
    def _drive(self, call: IvrCall, verb: Callable[[IvrSession, float], None]) -> None:
        if call.session is None:
            return
        now = self.now()
        try:
            verb(call.session, now)
        except IvrError:
            log.exception("IVR %s: engine refused an event", call.name)
            self._clear(call, NORMAL_CLEARING)
            return
        self._carry_out(call, now)

    def _carry_out(self, call: IvrCall, now: float) -> None:
        session = call.session
        assert session is not None
        # Drained until empty: a verb given back to the session (on_recorded) adds actions.
        while pending := session.actions():
            for action in pending:
                call.actions.append(action)
                if isinstance(action, engine.Play):
                    self._play(call, action.prompt)
                elif isinstance(action, engine.StopPlay):
                    self._stop_play(call)
                elif isinstance(action, engine.RecordMessage):
                    self._start_message(call)
                elif isinstance(action, engine.StopRecording):
                    path = self._stop_message(call)
                    session.on_recorded(path, now)  # its CreateCase comes in the next drain
                elif isinstance(action, engine.ToQueue) and self.acd is not None:
                    self.outcomes[call.call_id] = action
                    self._offer(call, action)
                elif isinstance(action, engine.Transfer) and self.dialer is not None:
                    self.outcomes[call.call_id] = action
                    self._transfer_out(call, action.number, "transfer")
                elif isinstance(action, engine.ToQueue | engine.Transfer):
                    # No ACD given / no way to dial out: cleared.
                    self.outcomes[call.call_id] = action
                    log.info("IVR %s: %s (无排队系统, 挂机)", call.name, action)
                    self._clear(call, NORMAL_CLEARING)
                elif isinstance(action, engine.Hangup):
                    self.outcomes.setdefault(call.call_id, action)
                    self._clear(call, NORMAL_CLEARING)
                elif isinstance(action, engine.CreateCase) and self.on_case is not None:
                    try:
                        call.case_id = self.on_case(call, action)
                    except Exception:  # the message is kept; the case can be opened by hand
                        log.exception("IVR %s: 留言工单无法创建", call.name)
                elif isinstance(action, engine.SurveyResult):
                    call.survey = action
                    log.info("IVR %s: 满意度评价 %d (%s)", call.name, action.score, action.label)
                # CollectDigits (the timer says it all), DigitsCollected and CreateCase stay
                # in call.actions for pbxd to store with the call.
        self._arm_timer(call)

    def _play(self, call: IvrCall, prompt: str) -> None:
        if call.cleared:
            return
        try:
            audio = self._prompt_audio(prompt)
        except (IvrCallError, PromptError, OSError) as exc:  # clear: never a caller left in silence
            log.error("IVR %s: 提示音无法播放: %s", call.name, exc)
            self._clear(call, NORMAL_CLEARING)
            return
        call.prompt, call.audio, call.position = prompt, audio, 0

    def _stop_play(self, call: IvrCall) -> None:
        call.prompt, call.audio, call.position = None, b"", 0
        self.span.clear_audio(call.timeslot)

    def _prompt_audio(self, name: str) -> bytes:
        audio = self._prompts.get(name)
        if audio is None:
            path = find_prompt(name, self.prompt_dir)
            if path is None:
                raise IvrCallError(f"prompt {name!r} is not in {self.prompt_dir}")
            audio = self._prompts[name] = read_prompt(path)
        return audio

    def _arm_timer(self, call: IvrCall) -> None:
        if call.timer is not None:
            call.timer.cancel()
            call.timer = None
        deadline = call.session.get_timer() if call.session is not None else None
        if deadline is None or call.cleared or self._offset is None:
            return
        assert self._loop is not None
        call.timer = self._loop.call_at(deadline - self._offset, self._on_timer, call)

    def _on_timer(self, call: IvrCall) -> None:
        call.timer = None
        if call.call_id in self.calls:
            self._drive(call, lambda s, now: s.on_timer(now))

    # -- the ACD ------------------------------------------------------------------------------------
    def _offer(self, call: IvrCall, action: engine.ToQueue) -> None:
        assert self.acd is not None
        if call.cleared:
            return
        call.ringback = ToneGenerator("ringback")
        call.queued_at = self.now()
        category = call.session.caller.category if call.session is not None else None
        priority = self.acd.priority_for(action.queue, action.priority, category)
        log.info("IVR %s: 转坐席, 排队 %s (%s)", call.name, action.queue, priority.name)
        try:
            self.acd.join(call, action.queue, priority, self)
        except AcdError as exc:
            log.error("IVR %s: 无法排队: %s", call.name, exc)
            call.ringback = None
            self._drive(call, lambda s, now: s.on_handoff_failed(now, "no_queue"))

    def acd_connected(self, call_name: str, url: str, agent_id: str) -> None:
        """The ACD bridged an agent's phone to the call: caller and agent talk from now."""
        call = self._call_named(call_name)
        if call is None or call.cleared:
            return
        if call.announcing:   # the agent is there: no more "您前面还有…"
            call.announcing = False
            self._stop_play(call)
        call.ringback, call.bridged, call.agent_port, call.agent_id = None, True, url, agent_id
        call.agent_at = self.now()
        log.info("IVR %s: 坐席 %s (%s) 接听", call.name, agent_id, url)

    def acd_agent_left(self, call_name: str) -> None:
        """The agent put the phone down; the flow goes on (the survey)."""
        call = self._call_named(call_name)
        if call is None or call.cleared:
            return
        call.bridged = False
        call.agent_left_at = self.now()
        log.info("IVR %s: 坐席 %s 挂机", call.name, call.agent_id)
        self._drive(call, lambda s, now: s.on_agent_hangup(now))

    def acd_overflow(self, call_name: str, rule: OverflowRule, reason: str) -> None:
        """The ACD gave the call up (max wait, nobody logged in): the flow's fallback."""
        call = self._call_named(call_name)
        if call is None or call.cleared:
            return
        call.ringback = None
        log.info("IVR %s: 排队溢出 %s (%s)", call.name, rule.describe(), reason)
        if rule.kind == "mobile" and rule.target and self.dialer is not None:
            call.queued_at = None  # out of the ACD: the duty mobile takes it from here
            self._transfer_out(call, rule.target, "mobile")
            return
        if rule.kind == "callback" and call.caller and call.caller.isdigit():
            # The ACD made a missed-call task of it: say we will call back, then goodbye.
            call.callback_requested = True
            self._stop_play(call)
            self._play(call, CALLBACK_CONFIRM)
            return
        self._drive(call, lambda s, now: s.on_handoff_failed(now, reason))

    # -- the caller put through to a number outside (duty mobile, IVR transfer) ----------------------
    def _transfer_out(self, call: IvrCall, number: str, purpose: str) -> None:
        """Dial NUMBER; the caller hears ringback, then talks to whoever answers."""
        assert self.dialer is not None
        if call.cleared:
            return
        try:
            leg = self.dialer(number, self, purpose=purpose, calling=call.caller, agent=f"{purpose}:{number}")
        except Exception as exc:  # OutboundError: no trunk free: the flow's fallback
            log.error("IVR %s: 无法外呼 %s: %s", call.name, number, exc)
            self._drive(call, lambda s, now: s.on_handoff_failed(now, "unreachable"))
            return
        call.ringback = ToneGenerator("ringback")
        call.out_leg = leg
        if call.queued_at is None:
            call.queued_at = self.now()
        self._transfers[leg.name] = call
        log.info("IVR %s: 转接外线 %s (%s)", call.name, number, purpose)

    def out_ringing(self, leg: OutCall) -> None:
        pass  # the caller already hears ringback

    def out_answered(self, leg: OutCall) -> None:
        call = self._transfers.get(leg.name)
        if call is None or call.cleared:
            leg.hangup()
            return
        assert self.acd is not None
        call.ringback, call.bridged = None, True
        call.agent_at, call.agent_id, call.agent_port = self.now(), leg.agent, leg.name
        self.acd.router.connect(call.name, ("call", call.name))
        self.acd.router.connect(call.name, leg.leg)
        log.info("IVR %s: 外线 %s 接听", call.name, leg.number)

    def out_ended(self, leg: OutCall) -> None:
        call = self._transfers.pop(leg.name, None)
        if call is None:
            return
        if self.acd is not None:
            self.acd.router.disconnect(leg.leg)
            self.acd.router.disconnect(("call", call.name))
        call.out_leg = None
        if call.cleared:
            return
        if leg.answered:
            call.bridged = False
            call.agent_left_at = self.now()
            log.info("IVR %s: 外线 %s 挂机", call.name, leg.number)
            self._drive(call, lambda s, now: s.on_agent_hangup(now))
        else:
            call.ringback = None
            log.info("IVR %s: 外线 %s 未接通 (%s)", call.name, leg.number, leg.outcome())
            self._drive(call, lambda s, now: s.on_handoff_failed(now, f"mobile_{leg.outcome()}"))

    def acd_announce(self, call_name: str, position: int, expected_wait: int) -> None:
        """您前面还有N位 … : said over the ringback, from the fixed number prompts."""
        call = self._call_named(call_name)
        if call is None or call.cleared or call.bridged or call.prompt is not None:
            return  # a prompt already playing (the queue's own) is not cut for this
        log.info("IVR %s: 排队位置 %d, 预计等待 %d 秒", call.name, position, expected_wait)
        try:
            audio = b"".join(self._prompt_audio(name)
                             for name in announcement_prompts(position, expected_wait))
        except (IvrCallError, PromptError, OSError) as exc:  # the wait goes on, with ringback
            log.error("IVR %s: 排队播报无法播放: %s", call.name, exc)
            return
        call.prompt, call.audio, call.position, call.announcing = ANNOUNCEMENT, audio, 0, True

    def _callback_key(self, call: IvrCall, digit: str) -> bool:
        """The waiting caller pressed the queue's callback key: keep the place, say so, hang up."""
        if (self.acd is None or call.queued_at is None or call.bridged or call.out_leg is not None
                or call.callback_requested or not call.caller or not call.caller.isdigit()):
            return False
        if self.acd.callback_key(call.name) != digit:
            return False
        try:
            self.acd.request_callback(call.name, call.caller)
        except AcdError as exc:  # offered to an agent in the same instant: the call goes on
            log.info("IVR %s: 回电请求未受理: %s", call.name, exc)
            return False
        call.callback_requested, call.ringback = True, None
        log.info("IVR %s: 主叫 %s 请求回电, 保留排队位置", call.name, call.caller)
        self._play(call, CALLBACK_CONFIRM)   # a prompt that cannot be played clears the call
        return True

    def _leave_agents(self, call: IvrCall) -> None:
        call.ringback, call.bridged = None, False
        if call.out_leg is not None:  # the caller left while put through outside
            self._transfers.pop(call.out_leg.name, None)
            if self.acd is not None:
                self.acd.router.disconnect(call.out_leg.leg)
                self.acd.router.disconnect(("call", call.name))
            call.out_leg.hangup()
            call.out_leg = None
            return
        if self.acd is not None and call.queued_at is not None:
            self.acd.leave(call.name)

    def _call_named(self, name: str) -> IvrCall | None:
        return next((call for call in self.calls.values() if call.name == name), None)

    # -- messages ------------------------------------------------------------------------------
    def _start_message(self, call: IvrCall) -> None:
        if self.message_factory is None:
            log.error("IVR %s: 未配置录音密钥, 留言不保存 (no recording key: message not kept)", call.name)
            return
        call.message_id = f"{call.name}-msg"
        try:
            at = datetime.fromtimestamp(self.now(), UTC)
            call.message = self.message_factory(call.message_id, at, call)
        except (RecordingError, OSError) as exc:
            log.error("IVR %s: 留言录音无法开始: %s", call.name, exc)
            call.message_id = None

    def _stop_message(self, call: IvrCall) -> str:
        close_recording(call.message, f"IVR {call.name}: 留言录音")
        call.message = None
        return call.message_id or ""

    # -- media: one tap for every call of the span ------------------------------------------------
    def _on_media(self, frame: bytes) -> None:
        self._line_time += LINE_TICK
        received = np.frombuffer(frame, dtype=np.uint8).reshape(TIMESLOTS, SLOT_BYTES)
        for timeslot, digit in self._dtmf.feed(alaw_to_linear(received), self._line_time):
            call = self._call_on(timeslot)
            if call is not None and call.session is not None and not call.cleared:
                call.digits.append(digit)
                if not self._callback_key(call, digit):
                    self._drive(call, lambda s, now, d=digit: s.on_digit(d, now))
        for call in list(self.calls.values()):
            if call.inband is not None and not call.cleared:
                self._inband_tick(call, received[call.timeslot])
                continue
            if call.session is None or call.cleared:
                continue
            call.ticks += 1
            heard = received[call.timeslot].tobytes()
            sent = self._next_frame(call)
            if call.bridged and self.acd is not None:
                self.acd.router.put(("call", call.name), heard)
            call.message = write_frames(call.message, heard, IDLE_SLOT, f"IVR {call.name}: 留言")
            call.recorder = write_frames(call.recorder, heard, sent, f"IVR {call.name}: 录音")
            if call.prompt is not None and call.position >= len(call.audio):
                # Its last frame goes out in the answer to this tick: the prompt is done.
                call.prompt, call.audio, call.position = None, b"", 0
                if call.callback_requested:
                    self._clear(call, NORMAL_CLEARING)  # the confirmation was said: goodbye
                elif call.announcing:
                    call.announcing = False             # back to ringback: the flow did not ask for it
                else:
                    self._drive(call, lambda s, now: s.on_prompt_done(now))
        self.outbound.on_media(received)
        if self.acd is not None:
            self.acd.tick_audio(self)  # the box clocks its FXS ports (and the mixer) with the line

    def _inband_tick(self, call: IvrCall, heard: np.ndarray) -> None:
        """One tick of the in-band Contact ID exchange: what the phone sent in, each message
        stored (``on_inband``) before the kissoff for it goes out, the receiver's tone out."""
        link = call.inband
        assert link is not None
        link.feed(alaw_to_linear(heard), self._line_time)
        for event in link.events():
            if self.on_inband is not None:
                try:
                    self.on_inband(call, event)
                except Exception:  # the kissoff still follows: the phone would repeat otherwise
                    log.exception("IVR %s: 带内报警无法保存", call.name)
        frame = linear_to_alaw(link.next_frame(self._line_time)).tobytes()
        self.span.play(call.timeslot, frame)
        call.recorder = write_frames(call.recorder, heard.tobytes(), frame, f"IVR {call.name}: 录音")
        if link.finished:
            call.inband = None
            log.info("IVR %s: 带内 Contact ID 结束, 接通语音", call.name)
            self._begin_flow(call, self.now())

    def _next_frame(self, call: IvrCall) -> bytes:
        """Queue this tick's frame for the caller: the prompt, ringback or the agent's voice."""
        if call.prompt is None:
            frame: bytes | None = None
            if call.bridged and self.acd is not None:
                frame = self.acd.router.take(("call", call.name))
            elif call.ringback is not None:
                frame = linear_to_alaw(call.ringback.next_frame()).tobytes()
            if frame is None:
                return IDLE_SLOT
            self.span.play(call.timeslot, frame)
            return frame
        chunk = call.audio[call.position:call.position + SLOT_BYTES].ljust(SLOT_BYTES, IDLE_SLOT[:1])
        call.position += SLOT_BYTES
        self.span.play(call.timeslot, chunk)
        return chunk

    def _call_on(self, timeslot: int) -> IvrCall | None:
        for call in self.calls.values():
            if call.timeslot == timeslot:
                return call
        return None

    # -- clearing ------------------------------------------------------------------------------------
    def _clear(self, call: IvrCall, cause: int) -> None:
        """Stop the call's media and recording, then clear it on the line (once)."""
        if call.cleared:
            return
        call.cleared = True
        call.ended_by = call.ended_by or "box"
        self._leave_agents(call)
        self._stop_play(call)
        if call.timer is not None:
            call.timer.cancel()
            call.timer = None
        self._stop_message(call)
        self._close_recorder(call)
        try:
            self.span.hangup(call.call_id, cause)
        except Exception as exc:  # already released by the far end in the same tick
            log.info("IVR %s: hangup: %s", call.name, exc)

    def _close_recorder(self, call: IvrCall) -> None:
        close_recording(call.recorder, f"IVR {call.name}: 录音")
        call.recorder = None

    def _release(self, call: IvrCall) -> None:
        if call.session is not None and not call.session.finished:
            self._drive(call, lambda s, now: s.on_hangup(now))
        call.cleared = True  # the line is already free: nothing to send
        self._leave_agents(call)
        if call.timer is not None:
            call.timer.cancel()
            call.timer = None
        self._stop_message(call)
        self._close_recorder(call)
        self.calls.pop(call.call_id, None)
        call.ended_at = self.now()
        if call.bridged or (call.agent_at is not None and call.agent_left_at is None):
            call.agent_left_at = call.ended_at
        self.finished[call.call_id] = call
        if self.on_finished is not None:
            try:
                self.on_finished(call)
            except Exception:  # the call is over either way; its record is in the log
                log.exception("IVR %s: 通话记录无法保存", call.name)
