"""Q.931 layer 3 for one PRI D-channel, user or network side, as a sans-I/O core.

The shell feeds it what the data link delivers (``receive``, ``link_established``,
``link_released``) and the application's requests (``setup``, ``answer``, ``hangup``
…), all with the current time; it hands back encoded messages (``messages_to_send``)
and events (``next_event``), and tells when it next needs the clock (``get_timer``).

Procedures follow Q.931 §5 / Annex A and ETSI EN 300 403 for both sides; the call
state table is states.py, the channel pool channels.py, RESTART restart.py and the
error handling of §5.8 recovery.py. Choices where the standards leave room:

* A DISCONNECT received is answered with RELEASE at once (no lingering in U12/N11 for
  in-band announcements); Hangup then Released reach the application.
* hangup() rejects an unanswered incoming SETUP with RELEASE COMPLETE, clears any other
  call with DISCONNECT, and is a no-op on a call already clearing or over.
* While the data link is down, messages are held and sent once it is back (only
  active calls survive a link loss, so those are DISCONNECTs and RESTARTs); a setup()
  while the link is down fails at once with Released(cause 41).
* T303 expiring twice ends the call with RELEASE COMPLETE (102); T308 twice puts the
  channel in maintenance and restarts it with RESTART.
"""

from __future__ import annotations

import random
from collections import deque

from drivers.e1_card.errors import LocalProtocolError
from drivers.e1_card.q931 import causes
from drivers.e1_card.q931.calls import Call, CallTable
from drivers.e1_card.q931.channels import ChannelPool
from drivers.e1_card.q931.events import (
    Answered,
    CallEvent,
    Digits,
    Hangup,
    IncomingCall,
    Proceeding,
    ProgressReceived,
    ProtocolErrorReported,
    Released,
    Ringing,
    SetupAcknowledged,
)
from drivers.e1_card.q931.ies import (
    IE,
    BearerCapability,
    CalledPartyNumber,
    CallingPartyNumber,
    Cause,
    ChannelIdentification,
    Display,
    KeypadFacility,
    Location,
    Presentation,
    Progress,
    ProgressIndicator,
    SendingComplete,
    TypeOfNumber,
)
from drivers.e1_card.q931.messages import (
    GLOBAL_CALL_REF,
    MAX_CALL_REF,
    MAX_MESSAGE_OCTETS,
    Message,
    MessageType,
    encode_message,
)
from drivers.e1_card.q931.numbers import ton_name
from drivers.e1_card.q931.recovery import Recovery
from drivers.e1_card.q931.restart import Restarts
from drivers.e1_card.q931.states import (
    CLEARING,
    OVERLAP,
    CallStateValue,
    Request,
    allowed,
    next_state,
    state_label,
)
from drivers.e1_card.q931.timers import Q931Timers
from drivers.e1_card.roles import B_TIMESLOTS, Role, check_role

S = CallStateValue
M = MessageType
# Progress descriptions after which the peer plays tones/announcements on the B-channel.
DEFAULT_TIMERS = Q931Timers()
_INBAND = frozenset({Progress.NOT_END_TO_END_ISDN, Progress.INBAND_AVAILABLE})


class Q931:
    """Layer 3 of one D-channel. See the module docstring and docs/pri-stack.md."""

    def __init__(self, role: Role, *, timeslots: tuple[int, ...] = B_TIMESLOTS,
                 timers: Q931Timers = DEFAULT_TIMERS, rng: random.Random | None = None) -> None:
        self.role: Role = check_role(role)
        self.peer_role: Role = "network" if role == "user" else "user"
        self.timers = timers
        self.pool = ChannelPool(timeslots, highest_first=role == "network")
        self.calls = CallTable(rng)
        self.location = Location.USER if role == "user" else Location.PUBLIC_LOCAL
        # The state our DISCONNECT puts a call in: U11 on the user side, N12 on the network's.
        self.disconnect_state = S.DISCONNECT_REQUEST if role == "user" else S.DISCONNECT_INDICATION
        self.restarts = Restarts(self, self.pool, timers)
        self.recovery = Recovery(self)
        self._events: deque[CallEvent] = deque()
        self._out: list[bytes] = []
        # Messages made while the data link is down, with the call they belong to.
        self._held: list[tuple[tuple[int, bool] | None, bytes]] = []
        self.link_up = False

    # ------------------------------------------------------------------ shell side

    def link_established(self, now: float, reestablished: bool = False) -> None:
        """DL-ESTABLISH indication/confirm: flush held messages, check surviving calls."""
        self.link_up = True
        self._out += [data for _, data in self._held]
        self._held.clear()
        self.recovery.link_established(now, reestablished)

    def link_released(self, now: float) -> None:
        """DL-RELEASE indication (Q.931 5.8.9): active calls wait T309, the rest clear."""
        self.link_up = False
        self.recovery.link_released(now)

    def receive(self, payload: bytes, now: float) -> None:
        """One layer 3 message from the data link. Never raises."""
        self.recovery.receive(bytes(payload), now)

    def messages_to_send(self) -> list[bytes]:
        out, self._out = self._out, []
        return out

    def next_event(self) -> CallEvent | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        deadlines = [call.timers.earliest() for call in self.calls]
        deadlines.append(self.restarts.earliest())
        return min((d for d in deadlines if d is not None), default=None)

    def handle_timer(self, now: float) -> None:
        """Fire every timer due at ``now``, earliest first."""
        while True:
            due = [(call.timers.earliest(), call.call_id, call) for call in self.calls]
            due = [item for item in due if item[0] is not None and item[0] <= now]
            restart_due = self.restarts.earliest()
            if due and (restart_due is None or min(due)[0] <= restart_due):
                call = min(due, key=lambda item: (item[0], item[1]))[2]
                name = call.timers.pop_expired(now)
                assert name is not None
                self.recovery.timer_expired(call, name, now)
            elif not self.restarts.handle_timer(now):
                return

    # ------------------------------------------------------------------ requests

    def setup(self, called: str, calling: str | None = None, *, now: float, timeslot: int | None = None,
              exclusive: bool = False, bearer: BearerCapability | None = None,
              calling_presentation: int = Presentation.ALLOWED, display: str | None = None,
              called_ton: int = TypeOfNumber.UNKNOWN, calling_ton: int = TypeOfNumber.UNKNOWN,
              sending_complete: bool = True) -> int:
        """Place a call; returns its call id. Failures known locally end it at once.

        Network side: the channel is ours to choose (``timeslot`` or the highest idle)
        and always exclusive. User side: ``timeslot`` is requested preferred (or
        ``exclusive``); None lets the network choose.
        """
        if timeslot is not None and timeslot not in self.pool:
            raise LocalProtocolError(f"setup: timeslot {timeslot} is not a B-channel of this interface")
        ies: list[IE] = [bearer or BearerCapability()]
        if called:
            ies.append(CalledPartyNumber(called, ton=called_ton))
        if calling is not None:
            ies.append(CallingPartyNumber(calling, ton=calling_ton, presentation=calling_presentation))
        if display:
            ies.append(Display(display))
        if sending_complete:
            ies.append(SendingComplete())
        for ie in ies:
            ie.encode()  # bad digits or display raise ValueError before any state changes
        # With the largest channel IE we may add: too long for one I-frame is our mistake.
        _check_size(Message(M.SETUP, MAX_CALL_REF, True,
                            (*ies, ChannelIdentification(timeslots=(31,), exclusive=True))), "setup")
        call = self.calls.add(self.calls.allocate_cref(), originator=True,
                              user_originated=self.role == "user")
        call.state = next_state(self.role, S.NULL, Request.SETUP)
        failure, channel = self._outgoing_channel(call, timeslot, exclusive)
        if failure is None and not self.link_up:
            failure = causes.TEMPORARY_FAILURE
        if failure is not None:
            self.end_call(call, failure)
            return call.call_id
        if channel is not None:
            ies.append(channel)
        call.setup = Message(M.SETUP, call.cref, True, tuple(ies))
        self.send_message(call.setup)
        self.start_timer(call, "T303", now, first=True)
        return call.call_id

    def _outgoing_channel(self, call: Call, timeslot: int | None,
                          exclusive: bool) -> tuple[int | None, ChannelIdentification | None]:
        """(failure cause, channel IE) for our SETUP; reserves the channel."""
        if self.role == "network":
            ts = self.pool.pick() if timeslot is None else timeslot
            if ts is None:
                return causes.NO_CIRCUIT_AVAILABLE, None
            if not self.pool.is_idle(ts):
                return causes.REQUESTED_CHANNEL_NOT_AVAILABLE, None
            self.pool.reserve(ts, call.call_id)
            return None, ChannelIdentification(timeslots=(ts,), exclusive=True)
        if not self.pool.idle():
            return causes.NO_CIRCUIT_AVAILABLE, None
        if timeslot is None:
            return None, None  # "any channel": the network names it in its answer
        if not self.pool.is_idle(timeslot):
            if exclusive:
                return causes.REQUESTED_CHANNEL_NOT_AVAILABLE, None
            timeslot = self.pool.pick()
            assert timeslot is not None
        self.pool.reserve(timeslot, call.call_id, yields=True)
        return None, ChannelIdentification(timeslots=(timeslot,), exclusive=exclusive)

    def setup_acknowledge(self, call_id: int, now: float) -> None:
        """Overlap receiving: ask for more digits (SETUP ACKNOWLEDGE); T302 runs."""
        call = self._request(call_id, Request.SETUP_ACKNOWLEDGE)
        self._respond(call, M.SETUP_ACKNOWLEDGE, Request.SETUP_ACKNOWLEDGE)
        self.start_timer(call, "T302", now)

    def proceeding(self, call_id: int, now: float) -> None:
        """CALL PROCEEDING: the SETUP is complete and being handled."""
        call = self._request(call_id, Request.PROCEEDING)
        call.timers.stop("T302")
        self._respond(call, M.CALL_PROCEEDING, Request.PROCEEDING)

    def alerting(self, call_id: int, now: float, inband: bool = False) -> None:
        """ALERTING: the called side rings (``inband``: we play ringback on the B-channel)."""
        call = self._request(call_id, Request.ALERTING)
        call.timers.stop("T302")
        extra = (ProgressIndicator(Progress.INBAND_AVAILABLE, self.location),) if inband else ()
        self._respond(call, M.ALERTING, Request.ALERTING, extra)

    def progress(self, call_id: int, now: float) -> None:
        """PROGRESS with "in-band information available" (announcements before answer)."""
        call = self._request(call_id, Request.PROGRESS)
        self.send_call(call, M.PROGRESS, ProgressIndicator(Progress.INBAND_AVAILABLE, self.location))
        call.state = next_state(self.role, call.state, Request.PROGRESS)

    def answer(self, call_id: int, now: float) -> None:
        """CONNECT. User side waits for CONNECT ACK (T313); the network side is active."""
        call = self._request(call_id, Request.ANSWER)
        call.timers.stop("T302")
        self._respond(call, M.CONNECT, Request.ANSWER)
        if call.state is S.CONNECT_REQUEST:
            self.start_timer(call, "T313", now)

    def information(self, call_id: int, digits: str, now: float, sending_complete: bool = False) -> None:
        """INFORMATION: overlap digits (called number) or, once proceeding, keypad."""
        call = self._request(call_id, Request.INFORMATION)
        ies: list[IE] = []
        overlap = call.state in OVERLAP
        if digits:
            ies.append(CalledPartyNumber(digits) if overlap else KeypadFacility(digits))
        if sending_complete:
            ies.append(SendingComplete())
        _check_size(Message(M.INFORMATION, MAX_CALL_REF, True, tuple(ies)), "information")
        if overlap:
            self.start_timer(call, "T304", now)
        self.send_call(call, M.INFORMATION, *ies)

    def hangup(self, call_id: int, cause: int = causes.NORMAL_CLEARING, now: float | None = None) -> None:
        """Clear or reject a call; a no-op when it is already clearing or over.

        ``now`` is required; it may be passed by keyword or as the third argument.
        """
        if now is None:
            raise TypeError("hangup() needs the current time: hangup(call_id, cause, now=...)")
        call = self.calls.get(call_id)
        if call is None:
            if self.calls.issued(call_id):
                return  # ended already: its Released may still be queued
            raise LocalProtocolError(f"hangup: no call {call_id}")
        new = next_state(self.role, call.state, Request.HANGUP)
        if new is S.NULL:
            # Reject a SETUP we have not answered (Q.931 5.3.2 a).
            self.send_call(call, M.RELEASE_COMPLETE, self.cause_ie(cause))
            self.end_call(call, cause)
        elif new is S.RELEASE_REQUEST and call.state is not S.RELEASE_REQUEST:
            self.send_release(call, cause, now)
        elif call.state not in CLEARING:
            self.send_disconnect(call, cause, now)

    def restart(self, timeslots: tuple[int, ...] | None, now: float) -> None:
        """RESTART the listed B-channels (one message each) or the whole interface (None)."""
        self.restarts.start(tuple(timeslots) if timeslots is not None else None, now)

    # ------------------------------------------------------------------ queries

    def channel_of(self, call_id: int) -> int | None:
        return self.pool.channel_of(call_id)

    def call_state(self, call_id: int) -> CallStateValue:
        call = self.calls.get(call_id)
        if call is not None:
            return call.state
        if self.calls.issued(call_id):
            return S.NULL
        raise LocalProtocolError(f"no call {call_id}")

    def idle_timeslots(self) -> tuple[int, ...]:
        return self.pool.idle()

    def active_calls(self) -> tuple[int, ...]:
        """Ids of the calls not yet released."""
        return tuple(call.call_id for call in self.calls)

    # ------------------------------------------------------------------ building blocks

    def _request(self, call_id: int, request: Request) -> Call:
        call = self.calls.get(call_id)
        if call is None:
            state = state_label(S.NULL, self.role)
            raise LocalProtocolError(
                f"request {request.value}() not allowed: call {call_id} is in {state} (over)")
        if not allowed(self.role, call.state, request):
            next_state(self.role, call.state, request)  # raises, naming state and request
        return call

    def _respond(self, call: Call, mtype: MessageType, request: Request, extra: tuple[IE, ...] = ()) -> None:
        """An answer to the peer's SETUP; the first one names the channel (exclusive)."""
        ies: list[IE] = []
        if not call.first_answer:
            call.first_answer = True
            ts = self.pool.channel_of(call.call_id)
            if ts is not None:
                self.pool.take(ts, call.call_id)
                ies.append(ChannelIdentification(timeslots=(ts,), exclusive=True))
        self.send_call(call, mtype, *ies, *extra)
        call.state = next_state(self.role, call.state, request)

    def send_message(self, msg: Message) -> None:
        data = encode_message(msg)
        if self.link_up:
            self._out.append(data)
        else:
            key = None if msg.call_ref == GLOBAL_CALL_REF else (msg.call_ref, msg.from_originator)
            self._held.append((key, data))

    def send_call(self, call: Call, mtype: MessageType, *ies: IE) -> None:
        self.send_message(Message(mtype, call.cref, call.originator, tuple(ies)))

    def cause_ie(self, value: int, diagnostics: bytes = b"") -> Cause:
        return Cause(value, location=self.location, diagnostics=diagnostics)

    def emit(self, event: CallEvent) -> None:
        self._events.append(event)

    def report(self, call: Call | None, cause: int | None, text: str) -> None:
        self.emit(ProtocolErrorReported(call.call_id if call else None, cause, text))

    def start_timer(self, call: Call, name: str, now: float, *, first: bool = False) -> None:
        """Start (or restart) a call timer; ``first`` resets its retransmission count."""
        call.timers.start(name, now + self.timers.duration(name))
        if first:
            call.sends[name] = 1

    def send_disconnect(self, call: Call, cause: int, now: float) -> None:
        """Start clearing (Q.931 5.3.3/5.3.4): DISCONNECT, T305."""
        self.stop_call_timers(call)
        call.set_cause(cause)
        call.disconnect_cause = cause
        self.send_call(call, M.DISCONNECT, self.cause_ie(cause))
        call.state = self.disconnect_state
        self.start_timer(call, "T305", now)

    def send_release(self, call: Call, cause: int, now: float) -> None:
        """RELEASE (kept for the T308 retransmission), Release Request state."""
        self.stop_call_timers(call)
        call.set_cause(cause)
        call.release = Message(M.RELEASE, call.cref, call.originator, (self.cause_ie(cause),))
        self.send_message(call.release)
        call.state = S.RELEASE_REQUEST
        self.start_timer(call, "T308", now, first=True)

    def stop_call_timers(self, call: Call) -> None:
        """Stop the call's timers, except T309: a link outage outlives our clearing."""
        call.timers.stop(*(name for name in call.timers.names() if name != "T309"))

    def end_call(self, call: Call, cause: int) -> None:
        """The call is over: free its reference and channel, report Released (once)."""
        call.timers.stop_all()
        call.state = S.NULL
        if self._held:  # a call that ended while the link was down sends nothing later
            key = (call.cref, call.originator)
            self._held = [(k, data) for k, data in self._held if k != key]
        self.pool.release(call.call_id)
        self.calls.remove(call)
        self.emit(Released(call.call_id, call.cause if call.cause is not None else cause))

    def clear_calls_for_restart(self, timeslots: tuple[int, ...] | None, cause: int) -> None:
        """RESTART: end the calls on these channels (all calls for None) without messages."""
        for call in self.calls:
            ts = self.pool.channel_of(call.call_id)
            if timeslots is None or (ts is not None and ts in timeslots):
                call.cause = None  # the restart, not an earlier clearing cause, ended it
                self.end_call(call, cause)

    # ------------------------------------------------------------------ received, per call

    def on_setup(self, msg: Message, now: float) -> None:
        """A new call from the peer (its reference was unknown): pick the channel."""
        failure, ts = self._incoming_channel(msg.get(ChannelIdentification))
        if failure is not None:
            self.send_message(Message(M.RELEASE_COMPLETE, msg.call_ref, False, (self.cause_ie(failure),)))
            return
        assert ts is not None
        call = self.calls.add(msg.call_ref, originator=False, user_originated=self.role == "network")
        call.state = next_state(self.role, S.NULL, M.SETUP)
        self.pool.take(ts, call.call_id)  # a yielding reservation of ours loses (glare)
        channel = msg.get(ChannelIdentification)
        called = msg.get(CalledPartyNumber)
        calling = msg.get(CallingPartyNumber)
        display = msg.get(Display)
        self.emit(IncomingCall(
            call_id=call.call_id,
            called=called.digits if called else "",
            calling=calling.digits if calling else None,
            calling_presentation=int(calling.presentation) if calling else None,
            calling_ton=ton_name(calling.ton) if calling else "unknown",
            called_ton=ton_name(called.ton) if called else "unknown",
            timeslot=ts,
            exclusive=bool(channel and channel.exclusive),
            bearer=msg.get(BearerCapability),
            sending_complete=msg.get(SendingComplete) is not None,
            display=display.text if display else None,
        ))

    def _incoming_channel(self, channel: ChannelIdentification | None) -> tuple[int | None, int | None]:
        """(rejection cause, timeslot) for a SETUP from the peer (Q.931 5.1.2, 5.2.3.1)."""
        if channel is not None and channel.no_channel and self.role == "user":
            return causes.NO_CIRCUIT_AVAILABLE, None  # call offered without a B-channel
        wanted = channel.timeslots[0] if channel is not None and channel.timeslots else None
        if wanted is not None:
            # The network's choice beats a reservation for our own SETUP (glare, Q.931 5.7).
            free = self.pool.can_take(wanted) if self.role == "user" else self.pool.is_idle(wanted)
            if free:
                return None, wanted
            if channel is not None and channel.exclusive:
                if wanted not in self.pool:
                    return causes.IDENTIFIED_CHANNEL_DOES_NOT_EXIST, None
                return causes.REQUESTED_CHANNEL_NOT_AVAILABLE, None
        ts = self.pool.pick()
        if ts is None:
            return causes.NO_CIRCUIT_AVAILABLE, None
        return None, ts

    def take_first_answer(self, call: Call, msg: Message, now: float) -> bool:
        """The peer's first answer to our SETUP names the channel; False if we cleared."""
        call.timers.stop("T303")
        if call.first_answer:
            return True
        call.first_answer = True
        channel = msg.get(ChannelIdentification)
        named = channel.timeslots[0] if channel is not None and channel.timeslots else None
        current = self.pool.channel_of(call.call_id)
        if named is None or named == current:
            if current is not None:
                self.pool.take(current, call.call_id)
                return True
            self.report(call, causes.MANDATORY_IE_MISSING, f"{msg.name}: no channel for call {call.call_id}")
            self.send_release(call, causes.MANDATORY_IE_MISSING, now)
            return False
        if self.role == "user" and self.pool.can_take(named):
            self.pool.take(named, call.call_id)  # the network moved us (or glare)
            return True
        # Network: we offered an exclusive channel; user: the named one is busy here.
        self.report(call, causes.CHANNEL_UNACCEPTABLE, f"{msg.name} names timeslot {named}: unacceptable")
        self.send_release(call, causes.CHANNEL_UNACCEPTABLE, now)
        return False

    def on_setup_acknowledge(self, call: Call, msg: Message, now: float) -> None:
        if self.take_first_answer(call, msg, now):
            call.state = next_state(self.role, call.state, M.SETUP_ACKNOWLEDGE)
            self.start_timer(call, "T304", now)
            self.emit(SetupAcknowledged(call.call_id, self.pool.channel_of(call.call_id)))

    def on_call_proceeding(self, call: Call, msg: Message, now: float) -> None:
        if self.take_first_answer(call, msg, now):
            call.timers.stop("T304")
            call.state = next_state(self.role, call.state, M.CALL_PROCEEDING)
            self.start_timer(call, "T310", now)
            self.emit(Proceeding(call.call_id, self.pool.channel_of(call.call_id)))

    def on_alerting(self, call: Call, msg: Message, now: float) -> None:
        if self.take_first_answer(call, msg, now):
            call.timers.stop("T304", "T310")
            call.state = next_state(self.role, call.state, M.ALERTING)
            inband = any(pi.description in _INBAND for pi in msg.get_all(ProgressIndicator))
            self.emit(Ringing(call.call_id, inband))

    def on_connect(self, call: Call, msg: Message, now: float) -> None:
        if self.take_first_answer(call, msg, now):
            call.timers.stop("T304", "T310")
            self.send_call(call, M.CONNECT_ACKNOWLEDGE)
            call.state = next_state(self.role, call.state, M.CONNECT)
            self.emit(Answered(call.call_id))

    def on_connect_acknowledge(self, call: Call, msg: Message, now: float) -> None:
        if call.state is S.CONNECT_REQUEST:  # user side: our CONNECT is confirmed
            call.timers.stop("T313")
            call.state = next_state(self.role, call.state, M.CONNECT_ACKNOWLEDGE)
            self.emit(Answered(call.call_id))

    def on_progress(self, call: Call, msg: Message, now: float) -> None:
        indicators = msg.get_all(ProgressIndicator)
        if any(pi.description in _INBAND | {Progress.DESTINATION_NON_ISDN} for pi in indicators):
            call.timers.stop("T310")
        for pi in indicators[:1]:
            self.emit(ProgressReceived(call.call_id, int(pi.description)))

    def on_information(self, call: Call, msg: Message, now: float) -> None:
        number = msg.get(CalledPartyNumber)
        keypad = msg.get(KeypadFacility)
        digits = (number.digits if number else "") + (keypad.digits if keypad else "")
        complete = msg.get(SendingComplete) is not None
        if call.timers.running("T302"):
            self.start_timer(call, "T302", now)
        if digits or complete:
            self.emit(Digits(call.call_id, digits, complete))

    def on_disconnect(self, call: Call, msg: Message, now: float, release_cause: int | None = None) -> None:
        """The peer clears: answer RELEASE at once (``release_cause``: 96/100 for a bad one)."""
        cause = msg.get(Cause)
        value = cause.value if cause is not None else causes.NORMAL_UNSPECIFIED
        was_clearing = call.state in CLEARING
        call.set_cause(value)
        self.send_release(call, release_cause if release_cause is not None else value, now)
        if not was_clearing:
            self.emit(Hangup(call.call_id, value, int(cause.location) if cause is not None else None))

    def on_release(self, call: Call, msg: Message, now: float, complete_cause: int | None = None) -> None:
        cause = msg.get(Cause)
        if cause is None and call.cause is None and complete_cause is None:
            complete_cause = causes.MANDATORY_IE_MISSING  # first clearing message needs one
        if call.state is not S.RELEASE_REQUEST:  # else both sent RELEASE: done (5.3.5)
            ies = (self.cause_ie(complete_cause),) if complete_cause is not None else ()
            self.send_call(call, M.RELEASE_COMPLETE, *ies)
        self.end_call(call, cause.value if cause is not None else causes.NORMAL_UNSPECIFIED)

    def on_release_complete(self, call: Call, msg: Message, now: float) -> None:
        cause = msg.get(Cause)
        self.end_call(call, cause.value if cause is not None else causes.NORMAL_UNSPECIFIED)

    def on_ignored(self, call: Call, msg: Message, now: float) -> None:
        """NOTIFY, FACILITY: nothing for basic call control to do."""


def _check_size(msg: Message, request: str) -> None:
    size = len(encode_message(msg))
    if size > MAX_MESSAGE_OCTETS:
        raise LocalProtocolError(f"{request}: the message would be {size} octets, more than one "
                                 f"I-frame carries ({MAX_MESSAGE_OCTETS}): shorten the numbers or display")

