"""Q.931 call states and the transition table of both sides (Q.931 2.1, 5; Annex A SDL).

One table per role: ``TRANSITIONS[role][state][trigger] -> new state``. A trigger is a
local request (:class:`Request`, what the application asks for) or a received message
(:class:`MessageType`). The new state is the one the call is in once the whole
reaction is done, e.g. a DISCONNECT received in U10 answers with RELEASE at once, so
the entry reads U10 --DISCONNECT--> U19 (U12 is passed through).

The state numbers mirror each other across the interface: a call the user originates
runs U1/N1 (call initiated), U3/N3 (outgoing call proceeding), U4/N4 (call delivered);
one the network originates runs N6/U6, N9/U9, N7/U7, N8/U8. So the user table's
*requests* in states 6-9 and 25 are the network table's *received messages*, and the
other way round in states 1-4 and 2. Clearing: U11/N11 mean the user sent DISCONNECT,
U12/N12 the network did.

A pair that is not in the table is not allowed: :func:`next_state` raises
LocalProtocolError naming the state (``U7``) and the trigger; the interface turns that
into a STATUS (cause 101) when the trigger was a message from the peer.
"""

from __future__ import annotations

from enum import Enum, IntEnum

from drivers.e1_card.errors import LocalProtocolError
from drivers.e1_card.q931.messages import MessageType
from drivers.e1_card.roles import Role


class CallStateValue(IntEnum):
    """Call state, numbered as in the Call state IE (Q.931 4.5.7, Table 4-25)."""

    NULL = 0
    CALL_INITIATED = 1
    OVERLAP_SENDING = 2
    OUTGOING_CALL_PROCEEDING = 3
    CALL_DELIVERED = 4
    CALL_PRESENT = 6
    CALL_RECEIVED = 7
    CONNECT_REQUEST = 8
    INCOMING_CALL_PROCEEDING = 9
    ACTIVE = 10
    DISCONNECT_REQUEST = 11
    DISCONNECT_INDICATION = 12
    RELEASE_REQUEST = 19
    OVERLAP_RECEIVING = 25


class GlobalState(IntEnum):
    """State of the global call reference (RESTART, Q.931 2.4), as coded in Call state."""

    REST0 = 0  # null
    REST1 = 0x3D  # restart request: we sent RESTART, waiting for RESTART ACKNOWLEDGE
    REST2 = 0x3E  # restart: we received RESTART and are clearing the channels


class Request(Enum):
    """What the application asks of a call (the Q931 request methods)."""

    SETUP = "setup"
    SETUP_ACKNOWLEDGE = "setup_acknowledge"
    PROCEEDING = "proceeding"
    ALERTING = "alerting"
    PROGRESS = "progress"
    ANSWER = "answer"
    INFORMATION = "information"
    HANGUP = "hangup"


Trigger = Request | MessageType
S = CallStateValue
M = MessageType
R = Request

# Establishment phase states grouped by who originated the call (mirror numbering).
USER_ORIGINATED = frozenset({S.CALL_INITIATED, S.OVERLAP_SENDING, S.OUTGOING_CALL_PROCEEDING,
                             S.CALL_DELIVERED})
NETWORK_ORIGINATED = frozenset({S.CALL_PRESENT, S.OVERLAP_RECEIVING, S.INCOMING_CALL_PROCEEDING,
                                S.CALL_RECEIVED, S.CONNECT_REQUEST})
CLEARING = frozenset({S.DISCONNECT_REQUEST, S.DISCONNECT_INDICATION, S.RELEASE_REQUEST})
OVERLAP = frozenset({S.OVERLAP_SENDING, S.OVERLAP_RECEIVING})

# Messages accepted (and kept in the same state) wherever a call is up and not clearing.
_KEEP = (M.STATUS, M.STATUS_ENQUIRY, M.NOTIFY, M.FACILITY)
# Clearing initiated by the peer: DISCONNECT is answered with RELEASE at once.
_PEER_CLEARS = {M.DISCONNECT: S.RELEASE_REQUEST, M.RELEASE: S.NULL, M.RELEASE_COMPLETE: S.NULL}


def _row(state: S, moves: dict[Trigger, S], keep: tuple[Trigger, ...] = _KEEP) -> dict[Trigger, S]:
    row: dict[Trigger, S] = dict(_PEER_CLEARS)
    row.update({trigger: state for trigger in keep})
    row.update(moves)
    return row


def _clearing_rows(our_disconnect: S, their_disconnect: S) -> dict[S, dict[Trigger, S]]:
    """States 11, 12, 19: hangup is a no-op there; crossing messages are tolerated."""
    tolerated = (M.STATUS, M.STATUS_ENQUIRY, M.NOTIFY, M.FACILITY, M.INFORMATION, M.PROGRESS, R.HANGUP)
    return {
        # We sent DISCONNECT: the peer answers RELEASE, or its DISCONNECT crosses ours.
        our_disconnect: _row(our_disconnect, {}, tolerated),
        # Transient (we answer DISCONNECT with RELEASE at once); kept for completeness.
        their_disconnect: _row(their_disconnect, {R.HANGUP: S.RELEASE_REQUEST},
                               (M.STATUS, M.STATUS_ENQUIRY)),
        # We sent RELEASE: only RELEASE (collision) or RELEASE COMPLETE end it.
        S.RELEASE_REQUEST: {M.RELEASE: S.NULL, M.RELEASE_COMPLETE: S.NULL,
                            M.STATUS: S.RELEASE_REQUEST, M.STATUS_ENQUIRY: S.RELEASE_REQUEST,
                            R.HANGUP: S.RELEASE_REQUEST},
    }


def _stay(state: S, *triggers: Trigger) -> dict[Trigger, S]:
    return {trigger: state for trigger in triggers}


def _calling_rows(initiated: S, overlap: S, proceeding: S, delivered: S, *,
                  our_disconnect: S) -> dict[S, dict[Trigger, S]]:
    """We sent SETUP (U1-U4 on the user side, N6/N25/N9/N7 on the network side).

    The mirror numbering makes both sides the same table: the peer's answers move the
    call on, PROGRESS and INFORMATION keep it where it is, hangup sends DISCONNECT.
    """
    kept = (M.PROGRESS, M.INFORMATION, R.INFORMATION)
    return {
        initiated: _row(initiated, {
            M.SETUP_ACKNOWLEDGE: overlap, M.CALL_PROCEEDING: proceeding, M.ALERTING: delivered,
            M.CONNECT: S.ACTIVE, R.HANGUP: our_disconnect}),
        overlap: _row(overlap, {
            M.CALL_PROCEEDING: proceeding, M.ALERTING: delivered, M.CONNECT: S.ACTIVE,
            **_stay(overlap, *kept), R.HANGUP: our_disconnect}),
        proceeding: _row(proceeding, {
            M.ALERTING: delivered, M.CONNECT: S.ACTIVE, **_stay(proceeding, *kept),
            R.HANGUP: our_disconnect}),
        delivered: _row(delivered, {
            M.CONNECT: S.ACTIVE, **_stay(delivered, *kept), R.HANGUP: our_disconnect}),
    }


def _called_rows(present: S, overlap: S, proceeding: S, alerting: S, *, answered: S, our_disconnect: S,
                 information_after_proceeding: bool) -> dict[S, dict[Trigger, S]]:
    """We received SETUP (U6/U25/U9/U7 on the user side, N1-N4 on the network side).

    Our requests move the call on; ``answered`` is where answer() leads (the user waits
    in U8 for CONNECT ACKNOWLEDGE, the network is active at once). Hangup in the first
    state rejects the SETUP with RELEASE COMPLETE.
    """
    kept = (M.INFORMATION, R.PROGRESS)
    later = (*kept, R.INFORMATION) if information_after_proceeding else kept
    return {
        present: _row(present, {
            R.SETUP_ACKNOWLEDGE: overlap, R.PROCEEDING: proceeding, R.ALERTING: alerting,
            R.ANSWER: answered, R.HANGUP: S.NULL}),
        overlap: _row(overlap, {
            R.PROCEEDING: proceeding, R.ALERTING: alerting, R.ANSWER: answered,
            **_stay(overlap, *kept), R.HANGUP: our_disconnect}),
        proceeding: _row(proceeding, {
            R.ALERTING: alerting, R.ANSWER: answered, **_stay(proceeding, *later),
            R.HANGUP: our_disconnect}),
        alerting: _row(alerting, {
            R.ANSWER: answered, **_stay(alerting, *later), R.HANGUP: our_disconnect}),
    }


USER_TRANSITIONS: dict[S, dict[Trigger, S]] = {
    S.NULL: {R.SETUP: S.CALL_INITIATED, M.SETUP: S.CALL_PRESENT, R.HANGUP: S.NULL},
    **_calling_rows(S.CALL_INITIATED, S.OVERLAP_SENDING, S.OUTGOING_CALL_PROCEEDING, S.CALL_DELIVERED,
                    our_disconnect=S.DISCONNECT_REQUEST),
    **_called_rows(S.CALL_PRESENT, S.OVERLAP_RECEIVING, S.INCOMING_CALL_PROCEEDING, S.CALL_RECEIVED,
                   answered=S.CONNECT_REQUEST, our_disconnect=S.DISCONNECT_REQUEST,
                   information_after_proceeding=False),
    S.CONNECT_REQUEST: _row(S.CONNECT_REQUEST, {
        M.CONNECT_ACKNOWLEDGE: S.ACTIVE, M.INFORMATION: S.CONNECT_REQUEST,
        R.HANGUP: S.DISCONNECT_REQUEST}),
    S.ACTIVE: _row(S.ACTIVE, {
        M.INFORMATION: S.ACTIVE, R.INFORMATION: S.ACTIVE, R.HANGUP: S.DISCONNECT_REQUEST}),
    **_clearing_rows(our_disconnect=S.DISCONNECT_REQUEST, their_disconnect=S.DISCONNECT_INDICATION),
}

NETWORK_TRANSITIONS: dict[S, dict[Trigger, S]] = {
    S.NULL: {R.SETUP: S.CALL_PRESENT, M.SETUP: S.CALL_INITIATED, R.HANGUP: S.NULL},
    **_called_rows(S.CALL_INITIATED, S.OVERLAP_SENDING, S.OUTGOING_CALL_PROCEEDING, S.CALL_DELIVERED,
                   answered=S.ACTIVE, our_disconnect=S.DISCONNECT_INDICATION,
                   information_after_proceeding=True),
    # CONNECT received in N6-N7 goes straight to N10: N8 is passed through, CONNECT ACK sent.
    **_calling_rows(S.CALL_PRESENT, S.OVERLAP_RECEIVING, S.INCOMING_CALL_PROCEEDING, S.CALL_RECEIVED,
                    our_disconnect=S.DISCONNECT_INDICATION),
    # N8 only exists for a moment (CONNECT received, CONNECT ACK not yet sent).
    S.CONNECT_REQUEST: _row(S.CONNECT_REQUEST, {R.HANGUP: S.DISCONNECT_INDICATION}),
    S.ACTIVE: _row(S.ACTIVE, {
        M.CONNECT_ACKNOWLEDGE: S.ACTIVE,  # the user's optional answer to our CONNECT
        M.INFORMATION: S.ACTIVE, R.INFORMATION: S.ACTIVE, R.HANGUP: S.DISCONNECT_INDICATION}),
    **_clearing_rows(our_disconnect=S.DISCONNECT_INDICATION, their_disconnect=S.DISCONNECT_REQUEST),
}

TRANSITIONS: dict[Role, dict[S, dict[Trigger, S]]] = {
    "user": USER_TRANSITIONS,
    "network": NETWORK_TRANSITIONS,
}


def state_label(state: CallStateValue, role: Role) -> str:
    """``U10`` / ``N10``: how Q.931 names a state on each side."""
    return f"{'U' if role == 'user' else 'N'}{int(state)}"


def trigger_label(trigger: Trigger) -> str:
    if isinstance(trigger, Request):
        return f"request {trigger.value}()"
    return f"message {trigger.name}"


def next_state(role: Role, state: CallStateValue, trigger: Trigger) -> CallStateValue:
    """The state after ``trigger`` in ``state``; LocalProtocolError if not allowed there."""
    try:
        return TRANSITIONS[role][state][trigger]
    except KeyError:
        raise LocalProtocolError(
            f"{trigger_label(trigger)} not allowed in call state {state_label(state, role)}"
            f" ({state.name.lower().replace('_', ' ')})"
        ) from None


def allowed(role: Role, state: CallStateValue, trigger: Trigger) -> bool:
    return trigger in TRANSITIONS[role].get(state, {})


def states_compatible(ours: CallStateValue, peer: int, *, user_originated: bool) -> bool:
    """Q.931 5.8.11: may the peer's reported state (in a STATUS) go with ours?

    The states mirror each other, so equal is compatible. Messages in flight make one
    side lag behind the other along the same call, so any establishment or active state
    of the call's own direction goes with any other. We accept anything while we are
    clearing (the clearing timers finish the job). A peer that reports clearing while
    we are not, or an establishment state of the opposite call direction (a U6 for a
    call we placed), is incompatible. Null (0) is handled by the caller.
    """
    if peer == ours:
        return True
    if ours in CLEARING:
        return True
    try:
        peer_state = CallStateValue(peer)
    except ValueError:
        return False  # not a call state at all
    family = USER_ORIGINATED if user_originated else NETWORK_ORIGINATED
    return ours in family | {S.ACTIVE} and peer_state in family | {S.ACTIVE}
