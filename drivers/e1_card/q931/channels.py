"""The B-channel pool of one PRI interface: who holds which timeslot (Q.931 5.1.2, 5.2.3).

A timeslot is IDLE, RESERVED (picked for a call whose SETUP is not yet answered),
IN_USE (the peer agreed), or in MAINTENANCE (T308 failed twice, or a RESTART we sent is
not yet acknowledged). At most one call holds a timeslot at any time.

Glare (Q.931 5.7): both sides may pick the same idle timeslot at once. The network's
call wins, so a reservation the *user* side made for its own SETUP ``yields``: the
network may take it away (its SETUP, or its first answer to another of our calls), and
the displaced call waits for the network to name another channel or clear it (44/34).
The network side's reservations never yield.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum


class ChannelState(Enum):
    IDLE = "idle"
    RESERVED = "reserved"
    IN_USE = "in-use"
    MAINTENANCE = "maintenance"


@dataclass
class _Slot:
    state: ChannelState = ChannelState.IDLE
    owner: int | None = None  # call id
    yields: bool = False  # a user-side reservation the network may take (glare)


class ChannelPool:
    """Timeslot bookkeeping. ``highest_first``: the order we pick free channels in.

    The network picks from the top and the user from the bottom, which keeps glare rare
    when both pick at once (the usual PRI convention).
    """

    def __init__(self, timeslots: Iterable[int], *, highest_first: bool) -> None:
        self._slots = {ts: _Slot() for ts in sorted(set(timeslots))}
        if not self._slots:
            raise ValueError("a PRI interface needs at least one B-channel timeslot")
        self._of_call: dict[int, int] = {}
        self._highest_first = highest_first

    @property
    def timeslots(self) -> tuple[int, ...]:
        return tuple(self._slots)

    def __contains__(self, timeslot: object) -> bool:
        return timeslot in self._slots

    def state(self, timeslot: int) -> ChannelState:
        return self._slots[timeslot].state

    def owner(self, timeslot: int) -> int | None:
        return self._slots[timeslot].owner

    def channel_of(self, call_id: int) -> int | None:
        return self._of_call.get(call_id)

    def idle(self) -> tuple[int, ...]:
        return tuple(ts for ts, slot in self._slots.items() if slot.state is ChannelState.IDLE)

    def pick(self, preferred: int | None = None) -> int | None:
        """An idle timeslot: ``preferred`` if it is idle, else the first in our order."""
        if preferred is not None and self.is_idle(preferred):
            return preferred
        free = self.idle()
        if not free:
            return None
        return free[-1] if self._highest_first else free[0]

    def is_idle(self, timeslot: int) -> bool:
        slot = self._slots.get(timeslot)
        return slot is not None and slot.state is ChannelState.IDLE

    def can_take(self, timeslot: int) -> bool:
        """May the peer's authoritative choice have this timeslot (idle or yielding)?"""
        slot = self._slots.get(timeslot)
        if slot is None:
            return False
        return slot.state is ChannelState.IDLE or (slot.state is ChannelState.RESERVED and slot.yields)

    def reserve(self, timeslot: int, call_id: int, *, yields: bool = False) -> None:
        """Hold an idle timeslot for a call whose SETUP (ours or the peer's) is unanswered."""
        self._check_free_for(timeslot, call_id)
        self._assign(timeslot, call_id, ChannelState.RESERVED, yields)

    def take(self, timeslot: int, call_id: int) -> int | None:
        """Give ``timeslot`` to ``call_id`` for good (IN_USE), as the peer or we decided.

        A yielding reservation of another call is taken over (glare); its call id is
        returned so the caller can tell that call it has no channel any more.
        """
        slot = self._slots[timeslot]
        displaced = None
        if slot.owner is not None and slot.owner != call_id:
            if not (slot.state is ChannelState.RESERVED and slot.yields):
                raise ValueError(f"timeslot {timeslot} is {slot.state.value} for call {slot.owner}")
            displaced = slot.owner
            self._of_call.pop(displaced, None)
        elif slot.owner is None and slot.state is not ChannelState.IDLE:
            raise ValueError(f"timeslot {timeslot} is {slot.state.value}")
        self._assign(timeslot, call_id, ChannelState.IN_USE, False)
        return displaced

    def release(self, call_id: int) -> int | None:
        """Free the timeslot ``call_id`` holds (if any); returns it."""
        timeslot = self._of_call.pop(call_id, None)
        if timeslot is not None:
            self._slots[timeslot] = _Slot()
        return timeslot

    def set_maintenance(self, timeslot: int) -> int | None:
        """Take a timeslot out of service; returns the call that held it, if any."""
        slot = self._slots[timeslot]
        holder = slot.owner
        if holder is not None:
            self._of_call.pop(holder, None)
        self._slots[timeslot] = _Slot(state=ChannelState.MAINTENANCE)
        return holder

    def set_idle(self, timeslot: int) -> None:
        """Back in service (a restart completed); any holder must have been cleared."""
        slot = self._slots[timeslot]
        if slot.owner is not None:
            self._of_call.pop(slot.owner, None)
        self._slots[timeslot] = _Slot()

    def _check_free_for(self, timeslot: int, call_id: int) -> None:
        slot = self._slots.get(timeslot)
        if slot is None:
            raise ValueError(f"timeslot {timeslot} is not a B-channel of this interface")
        if slot.state is not ChannelState.IDLE:
            raise ValueError(f"timeslot {timeslot} is {slot.state.value}")
        if call_id in self._of_call:
            raise ValueError(f"call {call_id} already holds timeslot {self._of_call[call_id]}")

    def _assign(self, timeslot: int, call_id: int, state: ChannelState, yields: bool) -> None:
        previous = self._of_call.get(call_id)
        if previous is not None and previous != timeslot:
            self._slots[previous] = _Slot()  # a call moves: its old channel is free again
        self._slots[timeslot] = _Slot(state=state, owner=call_id, yields=yields)
        self._of_call[call_id] = timeslot
