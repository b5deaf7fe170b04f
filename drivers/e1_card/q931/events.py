"""Events the Q.931 entity reports to the application (frozen dataclasses, h11 style).

Every call yields exactly one :class:`Released` as its last event, whether it ended by
the peer, by us, by a timer, by a RESTART or by the data link going away.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.e1_card.q931.ies import BearerCapability


@dataclass(frozen=True)
class CallEvent:
    """Base class of everything ``Q931.next_event()`` returns."""


@dataclass(frozen=True)
class IncomingCall(CallEvent):
    """A SETUP from the peer was accepted; ``timeslot`` is the B-channel it will use.

    ``exclusive`` is what the peer asked for (the channel is ours either way).
    ``sending_complete`` False means more digits may follow (overlap): the application
    may treat ``called`` as complete anyway (answer with proceeding()), or call
    setup_acknowledge() and wait for Digits events.
    """

    call_id: int
    called: str
    calling: str | None
    calling_presentation: int | None
    timeslot: int
    exclusive: bool
    bearer: BearerCapability | None
    sending_complete: bool
    display: str | None = None
    # Type of number of each ("national", "subscriber", … as numbering.TONS names them).
    calling_ton: str = "unknown"
    called_ton: str = "unknown"


@dataclass(frozen=True)
class Proceeding(CallEvent):
    """CALL PROCEEDING received; ``timeslot`` is the B-channel the peer assigned."""

    call_id: int
    timeslot: int | None


@dataclass(frozen=True)
class SetupAcknowledged(CallEvent):
    """SETUP ACKNOWLEDGE received: send the remaining digits with information()."""

    call_id: int
    timeslot: int | None


@dataclass(frozen=True)
class Ringing(CallEvent):
    """ALERTING received; ``inband`` when the peer plays ringback on the B-channel."""

    call_id: int
    inband: bool = False


@dataclass(frozen=True)
class ProgressReceived(CallEvent):
    """PROGRESS (or a progress indicator) received; Q.931 4.5.23 description value."""

    call_id: int
    description: int


@dataclass(frozen=True)
class Answered(CallEvent):
    """The call is active: CONNECT received (we called) or CONNECT ACK (we answered)."""

    call_id: int


@dataclass(frozen=True)
class Digits(CallEvent):
    """Digits received in INFORMATION (overlap called number, or keypad)."""

    call_id: int
    digits: str
    sending_complete: bool = False


@dataclass(frozen=True)
class Hangup(CallEvent):
    """DISCONNECT received: the far end cleared. ``location`` None when it sent no cause."""

    call_id: int
    cause: int
    location: int | None


@dataclass(frozen=True)
class Released(CallEvent):
    """The call reference and the B-channel are free. Always a call's last event."""

    call_id: int
    cause: int


@dataclass(frozen=True)
class Restarted(CallEvent):
    """A RESTART completed (sent and acknowledged, or received and answered).

    The listed timeslots are idle; calls on them were released first.
    """

    timeslots: tuple[int, ...]


@dataclass(frozen=True)
class RestartFailed(CallEvent):
    """Our RESTART got no RESTART ACKNOWLEDGE after all attempts (T316).

    The timeslots stay in maintenance (unusable) until a later restart() succeeds.
    """

    timeslots: tuple[int, ...]


@dataclass(frozen=True)
class ProtocolErrorReported(CallEvent):
    """The peer broke the protocol (for the log). The reaction is already queued.

    ``cause`` is the Q.931 cause of the reaction (None: the message was ignored).
    """

    call_id: int | None
    cause: int | None
    text: str
