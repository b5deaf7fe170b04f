"""Call records and call-reference allocation for one D-channel (Q.931 4.3).

Each side allocates its own call references (15 bits on a PRI); the flag bit in every
message tells which side allocated the one it carries, so our reference 5 and the
peer's reference 5 are two different calls. We start at a random value and never hand
out a reference that one of our live calls still holds.

Call ids are separate from call references: they count up from 1 per Q931 instance and
are what the application sees.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from drivers.e1_card.errors import LocalProtocolError
from drivers.e1_card.q931.messages import MAX_CALL_REF, Message
from drivers.e1_card.q931.states import CallStateValue
from drivers.e1_card.q931.timers import Deadlines


@dataclass(eq=False)
class Call:
    """One call's protocol state. ``originator``: we allocated the reference (we sent SETUP)."""

    call_id: int
    cref: int
    originator: bool
    user_originated: bool  # the user side sent the SETUP (decides the state family)
    state: CallStateValue = CallStateValue.NULL
    timers: Deadlines = field(default_factory=Deadlines)
    sends: dict[str, int] = field(default_factory=dict)  # timer name -> messages sent under it
    first_answer: bool = False  # the first answer to SETUP (names the channel) went by
    cause: int | None = None  # why the call ends (reported in Released)
    disconnect_cause: int | None = None  # the cause of the DISCONNECT we sent (T305)
    setup: Message | None = None  # our SETUP, for the T303 retransmission
    release: Message | None = None  # our RELEASE, for the T308 retransmission

    def set_cause(self, cause: int) -> None:
        """Remember the first clearing cause only: later messages do not change it."""
        if self.cause is None:
            self.cause = cause


class CallTable:
    """The live calls, by call id and by (call reference, which side allocated it)."""

    def __init__(self, rng: random.Random | None = None) -> None:
        rng = rng or random.Random()
        self._next_cref = rng.randrange(1, MAX_CALL_REF + 1)
        self._next_id = 1
        self._by_id: dict[int, Call] = {}
        self._by_ref: dict[tuple[int, bool], Call] = {}

    def allocate_cref(self) -> int:
        """A fresh call reference of ours (1..32767, 0 is the global one)."""
        for _ in range(MAX_CALL_REF):
            cref = self._next_cref
            self._next_cref = cref % MAX_CALL_REF + 1
            if (cref, True) not in self._by_ref:
                return cref
        raise LocalProtocolError("all 32767 call references are in use")

    def add(self, cref: int, *, originator: bool, user_originated: bool) -> Call:
        key = (cref, originator)
        if key in self._by_ref:
            raise ValueError(f"call reference {cref} ({'ours' if originator else 'theirs'}) is in use")
        call = Call(self._next_id, cref, originator, user_originated)
        self._next_id += 1
        self._by_id[call.call_id] = call
        self._by_ref[key] = call
        return call

    def find(self, cref: int, *, originator: bool) -> Call | None:
        return self._by_ref.get((cref, originator))

    def get(self, call_id: int) -> Call | None:
        return self._by_id.get(call_id)

    def issued(self, call_id: int) -> bool:
        """Was this id ever handed out (the call may be over by now)?"""
        return 1 <= call_id < self._next_id

    def remove(self, call: Call) -> None:
        self._by_id.pop(call.call_id, None)
        self._by_ref.pop((call.cref, call.originator), None)

    def __iter__(self) -> Iterator[Call]:
        """A snapshot in call-id order, so handlers may remove calls while iterating."""
        return iter(sorted(self._by_id.values(), key=lambda call: call.call_id))

    def __len__(self) -> int:
        return len(self._by_id)
