"""RESTART procedures on the global call reference (Q.931 5.5, ETSI EN 300 403 5.5).

We send one RESTART per B-channel (class 0 + that channel's identification, as libpri
does and as every exchange understands) or one for the whole interface (class 7, no
channel identification). The channels stay in maintenance until RESTART ACKNOWLEDGE;
T316 retransmits, and after ``restart_attempts`` sends the restart is reported failed.

A RESTART received clears every call on the indicated channels (class 0) or every call
(class 6/7), answers RESTART ACKNOWLEDGE echoing the restart indicator and channel
identification, and leaves the channels idle. Calls cleared by a restart end with
Released(cause 16): the restart itself is the normal way of freeing them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from drivers.e1_card.errors import LocalProtocolError
from drivers.e1_card.q931.causes import (
    IDENTIFIED_CHANNEL_DOES_NOT_EXIST,
    INVALID_CALL_REFERENCE,
    MANDATORY_IE_MISSING,
    NORMAL_CLEARING,
)
from drivers.e1_card.q931.channels import ChannelPool, ChannelState
from drivers.e1_card.q931.events import CallEvent, ProtocolErrorReported, Restarted, RestartFailed
from drivers.e1_card.q931.ies import CallState, Cause, ChannelIdentification, RestartClass, RestartIndicator
from drivers.e1_card.q931.messages import GLOBAL_CALL_REF, Message, MessageType
from drivers.e1_card.q931.states import GlobalState
from drivers.e1_card.q931.timers import Q931Timers

ALL = ()  # the pending-restart key of a whole-interface restart


class RestartHost(Protocol):
    """What the restart procedures need from the Q931 entity."""

    def send_message(self, msg: Message) -> None: ...
    def emit(self, event: CallEvent) -> None: ...
    def clear_calls_for_restart(self, timeslots: tuple[int, ...] | None, cause: int) -> None: ...
    def cause_ie(self, value: int, diagnostics: bytes = b"") -> Cause: ...


@dataclass
class _Pending:
    timeslots: tuple[int, ...]
    message: Message
    deadline: float
    sends: int = 1


class Restarts:
    """The restart side of one interface: our pending RESTARTs and answers to the peer's."""

    def __init__(self, host: RestartHost, pool: ChannelPool, timers: Q931Timers) -> None:
        self._host = host
        self._pool = pool
        self._timers = timers
        self._pending: dict[tuple[int, ...], _Pending] = {}

    @property
    def state(self) -> GlobalState:
        return GlobalState.REST1 if self._pending else GlobalState.REST0

    def pending(self) -> tuple[tuple[int, ...], ...]:
        return tuple(p.timeslots for p in self._pending.values())

    # --- our RESTART ---

    def start(self, timeslots: tuple[int, ...] | None, now: float) -> None:
        """restart(): whole interface (None) or each listed B-channel."""
        if timeslots is None:
            self._host.clear_calls_for_restart(None, NORMAL_CLEARING)
            for ts in self._pool.timeslots:
                self._pool.set_maintenance(ts)
            msg = Message(MessageType.RESTART, GLOBAL_CALL_REF, True,
                          (RestartIndicator(RestartClass.ALL_INTERFACES),))
            self._launch(ALL, self._pool.timeslots, msg, now)
            return
        bad = [ts for ts in timeslots if ts not in self._pool]
        if bad or not timeslots:
            raise LocalProtocolError(f"restart: {bad or 'no'} timeslot(s) not B-channels of this interface")
        for ts in dict.fromkeys(timeslots):  # de-duplicated, in order
            self._host.clear_calls_for_restart((ts,), NORMAL_CLEARING)
            self._pool.set_maintenance(ts)
            msg = Message(MessageType.RESTART, GLOBAL_CALL_REF, True, (
                ChannelIdentification(timeslots=(ts,), exclusive=True),
                RestartIndicator(RestartClass.INDICATED_CHANNELS),
            ))
            self._launch((ts,), (ts,), msg, now)

    def _launch(self, key: tuple[int, ...], timeslots: tuple[int, ...], msg: Message, now: float) -> None:
        self._pending[key] = _Pending(timeslots, msg, now + self._timers.t316)
        self._host.send_message(msg)

    def earliest(self) -> float | None:
        return min((p.deadline for p in self._pending.values()), default=None)

    def handle_timer(self, now: float) -> bool:
        """Fire the earliest expired T316, if any; True when one fired."""
        due = [(p.deadline, key) for key, p in self._pending.items() if p.deadline <= now]
        if not due:
            return False
        _, key = min(due)
        pending = self._pending[key]
        if pending.sends < self._timers.restart_attempts:
            pending.sends += 1
            pending.deadline = now + self._timers.t316
            self._host.send_message(pending.message)
        else:
            del self._pending[key]  # the channels stay in maintenance
            self._host.emit(RestartFailed(pending.timeslots))
        return True

    def _on_acknowledge(self, msg: Message) -> None:
        key = self._key_of(msg)
        pending = self._pending.pop(key, None) if key is not None else None
        if pending is None:
            self._host.emit(ProtocolErrorReported(None, None, f"unexpected {msg}: no such RESTART pending"))
            return
        still_restarting = {ts for p in self._pending.values() for ts in p.timeslots}
        for ts in pending.timeslots:
            if ts not in still_restarting:
                self._pool.set_idle(ts)
        self._host.emit(Restarted(pending.timeslots))

    # --- the peer's RESTART ---

    def _on_restart(self, msg: Message) -> None:
        indicator = msg.get(RestartIndicator)
        assert indicator is not None  # mandatory: the decoder checked it
        channel = msg.get(ChannelIdentification)
        if indicator.restart_class == RestartClass.INDICATED_CHANNELS:
            if channel is None or not channel.timeslots:
                self._status(MANDATORY_IE_MISSING, bytes([ChannelIdentification.IE_ID]),
                             f"{msg}: restart class 0 without a channel", msg.from_originator)
                return
            timeslots = tuple(dict.fromkeys(channel.timeslots))
            if any(ts not in self._pool for ts in timeslots):
                self._status(IDENTIFIED_CHANNEL_DOES_NOT_EXIST, bytes([ChannelIdentification.IE_ID]),
                             f"{msg}: no such B-channel", msg.from_originator)
                return
            self._host.clear_calls_for_restart(timeslots, NORMAL_CLEARING)
            answer: tuple = (channel, indicator)
        else:
            timeslots = self._pool.timeslots
            self._host.clear_calls_for_restart(None, NORMAL_CLEARING)
            answer = (indicator,)
        ours = {ts for p in self._pending.values() for ts in p.timeslots}
        for ts in timeslots:
            if ts not in ours and self._pool.state(ts) is not ChannelState.IDLE:
                self._pool.set_idle(ts)
        self._host.send_message(Message(MessageType.RESTART_ACKNOWLEDGE, GLOBAL_CALL_REF,
                                        not msg.from_originator, answer))
        self._host.emit(Restarted(timeslots))

    # --- everything on the global call reference ---

    def receive(self, msg: Message) -> None:
        """A message with call reference 0 (Q.931 5.8.3.2: only RESTART, its ACK, STATUS)."""
        if msg.type == MessageType.RESTART:
            self._on_restart(msg)
        elif msg.type == MessageType.RESTART_ACKNOWLEDGE:
            self._on_acknowledge(msg)
        elif msg.type == MessageType.STATUS:
            cause = msg.get(Cause)
            self._host.emit(ProtocolErrorReported(
                None, None, f"STATUS on the global call reference (cause {cause.value if cause else '-'})"))
        else:
            self._status(INVALID_CALL_REFERENCE, b"", f"{msg.name} on the global call reference",
                         msg.from_originator)

    def reject(self, cause: int, diagnostic: bytes, text: str, from_originator: bool = True) -> None:
        """A global-reference message the decoder refused: STATUS with its cause."""
        self._status(cause, diagnostic, text, from_originator)

    def _status(self, cause: int, diagnostic: bytes, text: str, peer_from_originator: bool) -> None:
        # Our answer carries the other flag (Q.931 4.3): a STATUS about a RESTART ACK has 0.
        self._host.send_message(Message(MessageType.STATUS, GLOBAL_CALL_REF, not peer_from_originator, (
            self._host.cause_ie(cause, diagnostic), CallState(int(self.state)))))
        self._host.emit(ProtocolErrorReported(None, cause, text))

    def _key_of(self, msg: Message) -> tuple[int, ...] | None:
        indicator = msg.get(RestartIndicator)
        if indicator is None:
            return None
        if indicator.restart_class != RestartClass.INDICATED_CHANNELS:
            return ALL
        channel = msg.get(ChannelIdentification)
        if channel is None or not channel.timeslots:
            return None
        return tuple(channel.timeslots)
