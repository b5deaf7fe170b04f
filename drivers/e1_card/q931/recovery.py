"""Message dispatch and Q.931 5.8 error handling, timer expiry, data-link recovery.

What arrives is routed here first: bad messages (InvalidMessage from the decoder),
unknown call references, messages the call state does not allow, STATUS and STATUS
ENQUIRY; only what is in order reaches the call procedures of interface.py. The
reactions, per Q.931 5.8 / EN 300 403 5.8:

* unknown call reference (5.8.3.2): RELEASE → RELEASE COMPLETE 81; RELEASE COMPLETE →
  ignored; STATUS ENQUIRY → STATUS 30 (state 0); STATUS of a non-Null state → RELEASE
  COMPLETE 101; SETUP → a new call; anything else → RELEASE COMPLETE 81.
* a SETUP whose reference is in use, or with the "from destination" flag: ignored.
* unexpected message in a state (5.8.4): STATUS 101 with our state (ignored in U19/N19).
* unknown message type: STATUS 97. Mandatory IE missing / bad (5.8.6): SETUP →
  RELEASE COMPLETE 96/100; DISCONNECT → as with cause 31 but RELEASE carries 96/100;
  RELEASE → RELEASE COMPLETE 96/100; RELEASE COMPLETE → as usual; others → STATUS.
* a non-mandatory IE with bad contents (5.8.7.2): the message is acted on, then STATUS 100.
* STATUS received (5.8.11): Null → the call is released; incompatible → RELEASE 101.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from drivers.e1_card.q931 import causes
from drivers.e1_card.q931.calls import Call
from drivers.e1_card.q931.ies import CallState, Cause
from drivers.e1_card.q931.messages import (
    DUMMY_CALL_REF,
    GLOBAL_CALL_REF,
    InvalidMessage,
    Message,
    MessageType,
    decode_message,
)
from drivers.e1_card.q931.states import (
    OVERLAP,
    CallStateValue,
    allowed,
    state_label,
    states_compatible,
)

if TYPE_CHECKING:
    from drivers.e1_card.q931.interface import Q931

S = CallStateValue
M = MessageType
Handler = Callable[[Call, Message, float], None]
_CLEARING_MESSAGES = frozenset({M.DISCONNECT, M.RELEASE, M.RELEASE_COMPLETE})


class Recovery:
    """The 5.8 machinery of one Q931 entity (it owns no state of its own)."""

    def __init__(self, q: Q931) -> None:
        self.q = q
        self._handlers: dict[MessageType, Handler] = {
            M.SETUP_ACKNOWLEDGE: q.on_setup_acknowledge,
            M.CALL_PROCEEDING: q.on_call_proceeding,
            M.ALERTING: q.on_alerting,
            M.CONNECT: q.on_connect,
            M.CONNECT_ACKNOWLEDGE: q.on_connect_acknowledge,
            M.PROGRESS: q.on_progress,
            M.INFORMATION: q.on_information,
            M.DISCONNECT: q.on_disconnect,
            M.RELEASE: q.on_release,
            M.RELEASE_COMPLETE: q.on_release_complete,
            M.NOTIFY: q.on_ignored,
            M.FACILITY: q.on_ignored,
            M.STATUS: self.on_status,
            M.STATUS_ENQUIRY: self.on_status_enquiry,
        }

    # ------------------------------------------------------------------ receiving

    def receive(self, payload: bytes, now: float) -> None:
        try:
            msg = decode_message(payload, sender=self.q.peer_role)
        except InvalidMessage as invalid:
            error = invalid
        except Exception as err:  # noqa: BLE001 - a codec bug must not take the span down
            self.q.report(None, None, f"undecodable message {payload.hex()}: {err!r}")
            return
        else:
            self._guarded(lambda: self.dispatch(msg, now), payload)
            return
        self._guarded(lambda: self.on_invalid(error, now), payload)

    def _guarded(self, action: Callable[[], None], payload: bytes) -> None:
        try:
            action()
        except Exception as err:  # noqa: BLE001 - receive() never raises (docs/pri-stack.md)
            self.q.report(None, causes.PROTOCOL_ERROR, f"internal error on {payload.hex()}: {err!r}")

    def dispatch(self, msg: Message, now: float) -> None:
        q = self.q
        if msg.call_ref == DUMMY_CALL_REF:
            q.report(None, None, f"ignored {msg}: dummy call reference")
            return
        if msg.call_ref == GLOBAL_CALL_REF:
            q.restarts.receive(msg)
            return
        call = q.calls.find(msg.call_ref, originator=not msg.from_originator)
        if call is None:
            self.unknown_reference(msg, now)
            return
        trigger = MessageType(msg.type)
        if not allowed(q.role, call.state, trigger):
            self.unexpected(call, msg)
            return
        self._handlers[trigger](call, msg, now)
        if msg.bad_ies and trigger not in _CLEARING_MESSAGES and q.calls.get(call.call_id) is call:
            self.send_status(call, causes.INVALID_IE_CONTENTS, bytes(msg.bad_ies))
            q.report(call, causes.INVALID_IE_CONTENTS,
                     f"{msg.name}: bad optional IE(s) {bytes(msg.bad_ies).hex()}")

    def unknown_reference(self, msg: Message, now: float) -> None:
        """Q.931 5.8.3.2: a call reference that belongs to no call of ours."""
        q = self.q
        if msg.type == M.SETUP:
            if msg.from_originator:
                q.on_setup(msg, now)
            else:
                q.report(None, None, f"ignored {msg}: SETUP with the 'from destination' flag")
            return
        if msg.type == M.RELEASE_COMPLETE:
            return
        if msg.type == M.STATUS_ENQUIRY:
            self._reply(msg, M.STATUS, q.cause_ie(causes.RESPONSE_TO_STATUS_ENQUIRY), CallState(0))
            return
        if msg.type == M.STATUS:
            state = msg.get(CallState)
            if state is not None and state.value != 0:
                self._reply(msg, M.RELEASE_COMPLETE, q.cause_ie(causes.MESSAGE_NOT_COMPATIBLE_WITH_STATE))
                q.report(None, causes.MESSAGE_NOT_COMPATIBLE_WITH_STATE,
                         f"{msg}: STATUS of state {state.value} for no call")
            return
        self._reply(msg, M.RELEASE_COMPLETE, q.cause_ie(causes.INVALID_CALL_REFERENCE))
        if msg.type != M.RELEASE:
            q.report(None, causes.INVALID_CALL_REFERENCE, f"{msg}: no such call")

    def unexpected(self, call: Call, msg: Message) -> None:
        """Q.931 5.8.4: not allowed in this state."""
        q = self.q
        label = state_label(call.state, q.role)
        if msg.type == M.SETUP or call.state is S.RELEASE_REQUEST:
            q.report(call, None, f"ignored {msg} in {label}")
            return
        self.send_status(call, causes.MESSAGE_NOT_COMPATIBLE_WITH_STATE)
        q.report(call, causes.MESSAGE_NOT_COMPATIBLE_WITH_STATE, f"{msg.name} not expected in {label}")

    def on_invalid(self, err: InvalidMessage, now: float) -> None:
        """The decoder refused the message; react from what it could read (5.8.1-5.8.7)."""
        q = self.q
        if err.cause is None or err.call_ref is None or err.call_ref == DUMMY_CALL_REF:
            q.report(None, None, f"ignored: {err}")
            return
        mtype = err.message_type
        if err.call_ref == GLOBAL_CALL_REF:
            if mtype == M.STATUS:
                q.report(None, None, f"ignored: {err}")
            else:
                q.restarts.reject(err.cause, err.diagnostic, str(err), err.from_originator)
            return
        call = q.calls.find(err.call_ref, originator=not err.from_originator)
        partial = err.message
        if call is None:
            self._invalid_unknown_reference(err)
        elif partial is not None and mtype == M.DISCONNECT and allowed(q.role, call.state, M.DISCONNECT):
            q.on_disconnect(call, partial, now, release_cause=err.cause)
        elif partial is not None and mtype == M.RELEASE:
            q.on_release(call, partial, now, complete_cause=err.cause)
        elif partial is not None and mtype == M.RELEASE_COMPLETE:
            q.on_release_complete(call, partial, now)
        elif mtype in (M.SETUP, M.STATUS) or call.state is S.RELEASE_REQUEST:
            pass  # a SETUP for a live reference, a broken STATUS: never answered
        else:
            self.send_status(call, err.cause, err.diagnostic)
        q.report(call, err.cause, str(err))

    def _invalid_unknown_reference(self, err: InvalidMessage) -> None:
        q = self.q
        assert err.call_ref is not None and err.from_originator is not None
        flag = not err.from_originator
        if err.message_type == M.SETUP:
            if err.from_originator:
                q.send_message(Message(M.RELEASE_COMPLETE, err.call_ref, flag,
                                       (q.cause_ie(err.cause or causes.PROTOCOL_ERROR, err.diagnostic),)))
        elif err.message_type not in (M.RELEASE_COMPLETE, M.STATUS):
            q.send_message(Message(M.RELEASE_COMPLETE, err.call_ref, flag,
                                   (q.cause_ie(causes.INVALID_CALL_REFERENCE),)))

    def _reply(self, msg: Message, mtype: MessageType, *ies: object) -> None:
        """Answer on the received message's reference (we are its other side)."""
        self.q.send_message(Message(mtype, msg.call_ref, not msg.from_originator, tuple(ies)))  # type: ignore[arg-type]

    def send_status(self, call: Call, cause: int, diagnostics: bytes = b"") -> None:
        self.q.send_call(call, M.STATUS, self.q.cause_ie(cause, diagnostics), CallState(int(call.state)))

    # ------------------------------------------------------------------ STATUS (5.8.10, 5.8.11)

    def on_status_enquiry(self, call: Call, msg: Message, now: float) -> None:
        self.send_status(call, causes.RESPONSE_TO_STATUS_ENQUIRY)

    def on_status(self, call: Call, msg: Message, now: float) -> None:
        q = self.q
        call.timers.stop("T322")
        state = msg.get(CallState)
        cause = msg.get(Cause)
        peer = state.value if state is not None else 0
        label = state_label(call.state, q.role)
        if cause is not None and cause.value != causes.RESPONSE_TO_STATUS_ENQUIRY:
            q.report(call, None, f"peer reports cause {cause.value} in its state {peer} (we are {label})")
        if peer == 0:
            # The peer has no such call: release it here too, without messages.
            q.end_call(call, causes.TEMPORARY_FAILURE)
        elif call.state is S.RELEASE_REQUEST:
            return  # T308 finishes the clearing
        elif not states_compatible(call.state, peer, user_originated=call.user_originated):
            q.report(call, causes.MESSAGE_NOT_COMPATIBLE_WITH_STATE,
                     f"peer's state {peer} incompatible with {label}: clearing")
            q.send_release(call, causes.MESSAGE_NOT_COMPATIBLE_WITH_STATE, now)

    def status_enquiry(self, call: Call, now: float) -> None:
        """Ask the peer for its state (one enquiry outstanding per call)."""
        if not self.q.link_up or call.timers.running("T322"):
            return
        self.q.send_call(call, M.STATUS_ENQUIRY)
        self.q.start_timer(call, "T322", now, first=True)

    # ------------------------------------------------------------------ data link (5.8.8, 5.8.9)

    def link_released(self, now: float) -> None:
        q = self.q
        for call in q.calls:
            if call.state is S.ACTIVE:
                call.timers.stop("T322")
                if not call.timers.running("T309"):
                    q.start_timer(call, "T309", now)
            else:
                q.end_call(call, causes.TEMPORARY_FAILURE)

    def link_established(self, now: float, reestablished: bool) -> None:
        q = self.q
        for call in q.calls:
            if call.timers.running("T309"):
                call.timers.stop("T309")
                if call.state is S.ACTIVE:  # else it was hung up meanwhile: clearing goes on
                    self.status_enquiry(call, now)
            elif reestablished:
                # Data link reset (5.8.8): I-frames may be lost. Overlap calls are cleared,
                # active ones checked with STATUS ENQUIRY; the others are left to their
                # timers (T303 resends a lost SETUP, where an enquiry would get "Null").
                if call.state in OVERLAP:
                    q.send_disconnect(call, causes.TEMPORARY_FAILURE, now)
                elif call.state is S.ACTIVE:
                    self.status_enquiry(call, now)

    # ------------------------------------------------------------------ timers (9.1/9.2)

    def timer_expired(self, call: Call, name: str, now: float) -> None:
        q = self.q
        if name == "T303":
            if not self._send_again(call, name, call.setup, now):
                q.send_call(call, M.RELEASE_COMPLETE, q.cause_ie(causes.RECOVERY_ON_TIMER_EXPIRY))
                q.end_call(call, causes.RECOVERY_ON_TIMER_EXPIRY)
        elif name == "T305":
            q.send_release(call, call.disconnect_cause or causes.NORMAL_CLEARING, now)
        elif name == "T308":
            if not self._send_again(call, name, call.release, now):
                self._t308_final(call, now)
        elif name == "T309":
            q.end_call(call, causes.TEMPORARY_FAILURE)
        elif name == "T322":
            sends = call.sends.get(name, 1)
            if sends < q.timers.status_enquiry_attempts:
                q.send_call(call, M.STATUS_ENQUIRY)
                q.start_timer(call, "T322", now)
                call.sends[name] = sends + 1
            else:
                q.report(call, causes.TEMPORARY_FAILURE, "no STATUS after STATUS ENQUIRY: clearing")
                q.send_release(call, causes.TEMPORARY_FAILURE, now)
        elif name == "T302":
            q.send_disconnect(call, causes.INVALID_NUMBER_FORMAT, now)
        else:  # T304, T310, T313: the peer never went on with the call
            q.send_disconnect(call, causes.RECOVERY_ON_TIMER_EXPIRY, now)

    def _send_again(self, call: Call, name: str, message: Message | None, now: float) -> bool:
        """On the first expiry of T303/T308, resend what started it and restart the timer.

        False on the second expiry (or with nothing kept to resend): the caller gives up.
        """
        sends = call.sends.get(name, 1)
        if sends >= 2 or message is None:
            return False
        self.q.send_message(message)
        self.q.start_timer(call, name, now)
        call.sends[name] = sends + 1
        return True

    def _t308_final(self, call: Call, now: float) -> None:
        """Second T308: the channel goes to maintenance and is restarted (Q.931 5.3.4.3)."""
        q = self.q
        ts = q.pool.channel_of(call.call_id)
        q.report(call, causes.RECOVERY_ON_TIMER_EXPIRY, f"no RELEASE COMPLETE; timeslot {ts} to maintenance")
        if ts is not None:
            q.pool.set_maintenance(ts)
        q.end_call(call, causes.RECOVERY_ON_TIMER_EXPIRY)
        if ts is not None:
            q.restart((ts,), now)
