"""Calls the box places on a trunk (外呼): callbacks, the duty mobile, agents dialling out.

One `OutboundCalls` per span, owned by that span's call handler (ivr_call.py), which
hands it the span's events for the calls it placed and every line tick's media. Who
wanted the call (the ACD service for a callback or a mobile agent, an agent's phone, a
click-to-call from the console) is its ``owner`` and hears of each step:
``out_ringing`` (ALERTING), ``out_answered`` (CONNECT), ``out_ended`` (cleared, with
the cause and whether it was ever answered). Media: while a leg is answered its audio
goes through the box's media router (leg ``("call", name)``), and it is recorded like
every other call (全程录音: left = the far end, right = what the box sent).

The call record (CDR, direction ``out``) is written when the leg is released.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import numpy as np

from appliance.media.g711 import ALAW_IDLE
from appliance.pbx.call_recording import Recorder, close_recording, write_frames
from appliance.pbx.cdr import CallRecord, stamp
from appliance.recording.container import RecordingError
from drivers.e1_card.q931 import events as ev
from drivers.e1_card.q931.causes import cause_text
from drivers.e1_card.span import SLOT_BYTES
from drivers.e1_card.stack import PriSpan

log = logging.getLogger("anxin.pbx.outbound")

IDLE_SLOT = bytes([ALAW_IDLE]) * SLOT_BYTES
NORMAL_CLEARING = 16


class OutboundError(RuntimeError):
    """No trunk can place the call (all down or busy), or the line refused the number."""


class OutboundOwner(Protocol):
    def out_ringing(self, leg: OutCall) -> None: ...

    def out_answered(self, leg: OutCall) -> None: ...

    def out_ended(self, leg: OutCall) -> None: ...


class Router(Protocol):
    def put(self, leg: object, frame: bytes) -> None: ...

    def take(self, leg: object) -> bytes | None: ...


@dataclass(eq=False)
class OutCall:
    """One call the box placed, from SETUP to Released."""

    call_id: int
    name: str                       # box-wide unique: the media leg, the recording, the CDR
    number: str                     # as dialled (before the span's number rules)
    purpose: str                    # "callback" | "mobile" | "agent" | "click_to_call" | "transfer" …
    owner: OutboundOwner
    span: str
    calling: str | None = None
    agent: str | None = None        # the agent (工号) or phone it is for
    timeslot: int | None = None
    started_at: float = 0.0
    alerting_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    cause: int | None = None
    ended_by: str | None = None     # "far_end" | "box"
    recorder: Recorder | None = None
    recorded: bool = False
    cleared: bool = False
    calls: OutboundCalls | None = field(default=None, repr=False)   # who can clear it

    def hangup(self, cause: int = NORMAL_CLEARING) -> None:
        """Clear the leg from the box's side (the caller left, the agent hung up …)."""
        if self.calls is not None:
            self.calls.hangup(self, cause)

    @property
    def leg(self) -> tuple[str, str]:
        return ("call", self.name)

    @property
    def answered(self) -> bool:
        return self.answered_at is not None

    # The recording index's view (ivr_call's recorder factories read caller/called).
    @property
    def caller(self) -> str | None:
        return self.calling or self.agent

    @property
    def called(self) -> str:
        return self.number

    def outcome(self) -> str:
        """The CDR's outcome: answered, busy, no_answer (ringing, then nobody), cancelled
        (the box gave up or the one who wanted it left first), failed (network refused)."""
        if self.answered_at is not None:
            return "answered"
        if self.cause == 17:
            return "busy"
        if self.ended_by == "box":
            return "cancelled"
        if self.cause in (18, 19) or self.alerting_at is not None:
            return "no_answer"
        return "failed"


def outbound_record(leg: OutCall) -> CallRecord:
    """The CDR of a released outbound leg (``flow`` holds what placed it: out:callback …)."""
    ended = leg.ended_at if leg.ended_at is not None else leg.started_at
    return CallRecord(
        call_id=leg.name, direction="out", span=leg.span, timeslot=leg.timeslot,
        caller=leg.caller, called=leg.number, started_at=stamp(leg.started_at) or "",
        answered_at=stamp(leg.answered_at), ended_at=stamp(ended) or "", ended_by=leg.ended_by,
        outcome=leg.outcome(), flow=f"out:{leg.purpose}", agent=leg.agent,
        talk_s=round(ended - leg.answered_at, 3) if leg.answered_at is not None else None,
        recording_id=leg.name if leg.answered_at is not None and leg.recorded else None)


RecorderFactory = Callable[[str, datetime, OutCall], Recorder]


class OutboundCalls:
    """The calls one span's box side placed."""

    def __init__(self, span: PriSpan, clock: Callable[[], float], router: Router, *,
                 recorder_factory: RecorderFactory | None = None,
                 on_finished: Callable[[OutCall], None] | None = None) -> None:
        self.span, self.clock, self.router = span, clock, router
        self.recorder_factory, self.on_finished = recorder_factory, on_finished
        self.calls: dict[int, OutCall] = {}
        self._serial = 0

    def can_dial(self) -> bool:
        return self.span.link_up and bool(self.span.q931.idle_timeslots())

    def dial(self, number: str, owner: OutboundOwner, *, purpose: str, calling: str | None = None,
             agent: str | None = None) -> OutCall:
        """SETUP to NUMBER; raises ValueError for a number the line cannot carry."""
        now = self.clock()
        call_id = self.span.setup(number, calling)
        self._serial += 1
        name = f"{self.span.name}-{datetime.fromtimestamp(now, UTC):%y%m%d%H%M%S}-o{call_id}-{self._serial}"
        leg = OutCall(call_id, name, number, purpose, owner, self.span.name, calling=calling, agent=agent,
                      started_at=now, calls=self)
        self.calls[call_id] = leg
        log.info("外呼 %s: %s → %s (%s)", name, calling or "-", number, purpose)
        return leg

    def hangup(self, leg: OutCall, cause: int = NORMAL_CLEARING) -> None:
        if leg.cleared:
            return
        leg.cleared = True
        leg.ended_by = leg.ended_by or "box"
        self._close_recorder(leg)
        try:
            self.span.hangup(leg.call_id, cause)
        except Exception as exc:  # released by the far end in the same tick
            log.info("外呼 %s: hangup: %s", leg.name, exc)

    def owns(self, call_id: int) -> bool:
        return call_id in self.calls

    # -- the span's events for our calls -------------------------------------------------------
    def handle_event(self, event: object) -> None:
        leg = self.calls.get(getattr(event, "call_id", -1))
        if leg is None:
            return
        if isinstance(event, ev.Proceeding | ev.SetupAcknowledged) and event.timeslot is not None:
            leg.timeslot = event.timeslot
        elif isinstance(event, ev.Ringing):
            if leg.alerting_at is None:
                leg.alerting_at = self.clock()
                self._tell(leg, "out_ringing")
        elif isinstance(event, ev.Answered):
            leg.answered_at = self.clock()
            if self.recorder_factory is not None:
                try:
                    at = datetime.fromtimestamp(leg.answered_at, UTC)
                    leg.recorder = self.recorder_factory(leg.name, at, leg)
                    leg.recorded = True
                except (RecordingError, OSError) as exc:  # the call goes on unrecorded
                    log.error("外呼 %s: 录音无法开始: %s", leg.name, exc)
            log.info("外呼 %s: %s 已接听 (时隙 %s)", leg.name, leg.number, leg.timeslot)
            self._tell(leg, "out_answered")
        elif isinstance(event, ev.Hangup):
            leg.cause = event.cause
            leg.ended_by = leg.ended_by or "far_end"
            log.info("外呼 %s: 对方挂机 (%d %s)", leg.name, event.cause, cause_text(event.cause))
            self.hangup(leg, NORMAL_CLEARING)
        elif isinstance(event, ev.Released):
            leg.cleared = True
            if leg.cause is None:
                leg.cause = event.cause
            leg.ended_by = leg.ended_by or "far_end"
            leg.ended_at = self.clock()
            self._close_recorder(leg)
            del self.calls[leg.call_id]
            if not leg.answered:
                log.info("外呼 %s: %s 未接通 (%d %s)", leg.name, leg.number, leg.cause, cause_text(leg.cause))
            self._tell(leg, "out_ended")
            if self.on_finished is not None:
                try:
                    self.on_finished(leg)
                except Exception:
                    log.exception("外呼 %s: 通话记录无法保存", leg.name)

    def _tell(self, leg: OutCall, verb: str) -> None:
        try:
            getattr(leg.owner, verb)(leg)
        except Exception:  # the owner's trouble must not leave the leg unattended
            log.exception("外呼 %s: %s", leg.name, verb)

    # -- media ---------------------------------------------------------------------------------
    def on_media(self, received: np.ndarray) -> None:
        """One line tick (RECEIVED: 32 × 160 A-law): far-end audio in, the router's mix out."""
        for leg in list(self.calls.values()):
            if leg.cleared or leg.answered_at is None or leg.timeslot is None:
                continue
            heard = received[leg.timeslot].tobytes()
            self.router.put(leg.leg, heard)
            sent = self.router.take(leg.leg) or IDLE_SLOT
            self.span.play(leg.timeslot, sent)
            leg.recorder = write_frames(leg.recorder, heard, sent, f"外呼 {leg.name}: 录音")

    def _close_recorder(self, leg: OutCall) -> None:
        close_recording(leg.recorder, f"外呼 {leg.name}: 录音")
        leg.recorder = None
