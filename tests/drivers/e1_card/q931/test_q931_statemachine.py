"""Random request / delivery / loss / timer / link / restart sequences on a user-network pair.

Invariants checked after every step (hypothesis.stateful):
* on each side no timeslot is held by two calls, and the pool agrees with the calls;
* a call id gets no event after its Released, and Released only once;
* when both sides hold the same call as active, they use the same timeslot;
* nothing escapes receive() (an internal error would also show as ProtocolErrorReported).
At the end everything is hung up and left to the timers: every call id ever issued on
either side has exactly one Released, and both sides have all channels idle.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from q931_harness import Pair

from drivers.e1_card.errors import LocalProtocolError
from drivers.e1_card.q931.channels import ChannelState
from drivers.e1_card.q931.events import ProtocolErrorReported, Released
from drivers.e1_card.q931.ies import (
    BearerCapability,
    CallState,
    Cause,
    ChannelIdentification,
    ProgressIndicator,
    RestartIndicator,
)
from drivers.e1_card.q931.interface import Q931
from drivers.e1_card.q931.messages import Message, MessageType, encode_message
from drivers.e1_card.q931.states import CallStateValue

pytestmark = pytest.mark.timeout(120)

TIMESLOTS = (1, 2, 3, 17)  # a small span makes collisions and exhaustion likely
ROLES = st.sampled_from(["user", "network"])
ACTIONS = st.sampled_from(["proceeding", "alerting", "progress", "answer", "setup_acknowledge",
                           "information", "hangup"])
S = CallStateValue


class PairMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.pair = Pair(user_timeslots=TIMESLOTS, network_timeslots=TIMESLOTS)
        self.in_flight: dict[str, list[bytes]] = {"user": [], "network": []}
        self.seen = {"user": 0, "network": 0}
        self.released: dict[str, set[int]] = {"user": set(), "network": set()}
        self.link_up = True

    def peer(self, role: str) -> str:
        return "network" if role == "user" else "user"

    def _queue(self) -> None:
        for role in ("user", "network"):
            self.in_flight[role] += self.pair.side(role).messages_to_send()

    def _pick(self, role: str, index: int) -> int | None:
        ids = self.pair.side(role).active_calls()
        return ids[index % len(ids)] if ids else None

    # ------------------------------------------------------------------ rules

    @rule(timeslot=st.none() | st.sampled_from(TIMESLOTS), exclusive=st.booleans(),
          complete=st.booleans())
    def user_setup(self, timeslot: int | None, exclusive: bool, complete: bool) -> None:
        self.pair.user.setup("96101", now=self.pair.now, timeslot=timeslot, exclusive=exclusive,
                             sending_complete=complete)
        self._queue()

    @rule(timeslot=st.none() | st.sampled_from(TIMESLOTS), complete=st.booleans())
    def network_setup(self, timeslot: int | None, complete: bool) -> None:
        self.pair.network.setup("88886666", now=self.pair.now, timeslot=timeslot, sending_complete=complete)
        self._queue()

    @rule(role=ROLES, action=ACTIONS, index=st.integers(0, 7), cause=st.sampled_from([16, 17, 21, 34]))
    def request(self, role: str, action: str, index: int, cause: int) -> None:
        q = self.pair.side(role)
        call_id = self._pick(role, index)
        if call_id is None:
            return
        now = self.pair.now
        try:
            if action == "hangup":
                q.hangup(call_id, cause, now=now)
            elif action == "information":
                q.information(call_id, "5", now)
            else:
                getattr(q, action)(call_id, now)
        except LocalProtocolError:
            pass  # not allowed in the call's state: the table says so, nothing changed
        self._queue()

    @precondition(lambda self: self.link_up)
    @rule(role=ROLES, count=st.integers(1, 4))
    def deliver_some(self, role: str, count: int) -> None:
        self.deliver(role, count)

    def deliver(self, role: str, count: int) -> None:
        queue = self.in_flight[role]
        batch, self.in_flight[role] = queue[:count], queue[count:]
        for data in batch:
            self.pair.side(self.peer(role)).receive(data, self.pair.now)
        self._queue()

    @rule(role=ROLES)
    def lose(self, role: str) -> None:
        if self.in_flight[role]:
            self.in_flight[role].pop(0)

    @rule(seconds=st.sampled_from([0.5, 2.0, 4.0, 7.0, 16.0, 31.0, 121.0]))
    def advance(self, seconds: float) -> None:
        self.pair.now += seconds
        for role in ("user", "network"):
            self.pair.side(role).handle_timer(self.pair.now)
        self._queue()

    @precondition(lambda self: self.link_up)
    @rule(chance=st.integers(0, 5))
    def link_down(self, chance: int) -> None:
        if chance:
            return  # rarer than the other rules, or calls would never get anywhere
        self.link_up = False
        for role in ("user", "network"):
            self.in_flight[role].clear()  # unacknowledged frames die with the link
            self.pair.side(role).link_released(self.pair.now)
        self._queue()

    @precondition(lambda self: not self.link_up)
    @rule(reestablished=st.booleans())
    def link_back(self, reestablished: bool) -> None:
        self.link_up = True
        for role in ("user", "network"):
            self.pair.side(role).link_established(self.pair.now, reestablished=reestablished)
        self._queue()

    @rule(role=ROLES, timeslot=st.none() | st.sampled_from(TIMESLOTS), chance=st.integers(0, 5))
    def restart(self, role: str, timeslot: int | None, chance: int) -> None:
        if chance:
            return
        self.pair.side(role).restart(None if timeslot is None else (timeslot,), self.pair.now)
        self._queue()

    # ------------------------------------------------------------------ invariants

    @invariant()
    def events_are_consistent(self) -> None:
        for role in ("user", "network"):
            q = self.pair.side(role)
            while (event := q.next_event()) is not None:
                internal = isinstance(event, ProtocolErrorReported) and "internal error" in event.text
                assert not internal, event
                call_id = getattr(event, "call_id", None)
                if call_id is None:
                    continue
                assert call_id not in self.released[role], f"{role}: {event} after Released"
                if isinstance(event, Released):
                    self.released[role].add(call_id)
            live = set(q.active_calls())
            assert not live & self.released[role]

    @invariant()
    def no_timeslot_has_two_calls(self) -> None:
        for role in ("user", "network"):
            q = self.pair.side(role)
            held = [q.channel_of(call_id) for call_id in q.active_calls()]
            held = [ts for ts in held if ts is not None]
            assert len(held) == len(set(held)), (role, held)
            for ts in TIMESLOTS:
                owner = q.pool.owner(ts)
                if owner is not None:
                    assert q.channel_of(owner) == ts and owner in q.active_calls()
                    assert q.pool.state(ts) in (ChannelState.RESERVED, ChannelState.IN_USE)
                else:
                    assert q.pool.state(ts) in (ChannelState.IDLE, ChannelState.MAINTENANCE)
            for call in q.calls:
                assert call.state is not S.NULL

    @invariant()
    def both_sides_agree_on_active_channels(self) -> None:
        for ucall in self.pair.user.calls:
            ncall = self.pair.network.calls.find(ucall.cref, originator=not ucall.originator)
            if ncall is not None and ucall.state is S.ACTIVE and ncall.state is S.ACTIVE:
                assert self.pair.user.channel_of(ucall.call_id) == self.pair.network.channel_of(ncall.call_id)

    def teardown(self) -> None:
        """Hang everything up, deliver everything, let the timers finish: all released."""
        if not self.link_up:
            self.link_back(False)
        for _ in range(20):
            for role in ("user", "network"):
                for call_id in self.pair.side(role).active_calls():
                    self.pair.side(role).hangup(call_id, now=self.pair.now)
            self._queue()
            while self.in_flight["user"] or self.in_flight["network"]:
                self.deliver("user", 50)
                self.deliver("network", 50)
            self.advance(121.0)
            self.events_are_consistent()
        for role in ("user", "network"):
            q = self.pair.side(role)
            assert not q.active_calls(), (role, [(c.call_id, c.state) for c in q.calls])
            issued = set(range(1, q.calls._next_id))
            assert self.released[role] == issued, (role, issued - self.released[role])
            if not any(q.restarts.pending()):
                assert q.idle_timeslots() == TIMESLOTS or self._maintenance_only(q)

    def _maintenance_only(self, q: Q931) -> bool:
        """Channels a failed restart left in maintenance are the only non-idle ones."""
        return all(q.pool.state(ts) in (ChannelState.IDLE, ChannelState.MAINTENANCE) for ts in TIMESLOTS)


class FuzzMachine(PairMachine):
    """The same, plus hand-made peer messages aimed at live call references (no cross check)."""

    @rule(role=ROLES, mtype=st.sampled_from(list(MessageType)), index=st.integers(0, 7),
          flag=st.booleans(), state=st.sampled_from([0, 1, 3, 4, 6, 7, 9, 10, 12, 19, 42]),
          ts=st.sampled_from((*TIMESLOTS, 16)), extras=st.integers(0, 31))
    def peer_message(self, role: str, mtype: MessageType, index: int, flag: bool, state: int,
                     ts: int, extras: int) -> None:
        q = self.pair.side(role)
        calls = list(q.calls)
        if calls and index < 6:
            call = calls[index % len(calls)]
            cref, from_originator = call.cref, not call.originator if flag else call.originator
        else:
            cref, from_originator = index * 1000 % 0x7FFF, flag
        if mtype in (MessageType.RESTART, MessageType.RESTART_ACKNOWLEDGE) and index % 2:
            cref = 0
        pool = [BearerCapability(), Cause(16), CallState(state), ChannelIdentification((ts,), exclusive=flag),
                ProgressIndicator(8), RestartIndicator(7 if flag else 0)]
        ies = tuple(ie for bit, ie in enumerate(pool) if extras >> bit & 1)
        q.receive(encode_message(Message(mtype, cref, from_originator, ies)), self.pair.now)
        self._queue()

    @rule(role=ROLES, data=st.binary(max_size=24))
    def garbage(self, role: str, data: bytes) -> None:
        self.pair.side(role).receive(b"\x08\x02" + data, self.pair.now)
        self._queue()

    @invariant()
    def both_sides_agree_on_active_channels(self) -> None:
        pass  # forged messages may legitimately desynchronise the two sides


SETTINGS = settings(max_examples=80, stateful_step_count=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
TestPairMachine = PairMachine.TestCase
TestPairMachine.settings = SETTINGS
TestFuzzMachine = FuzzMachine.TestCase
TestFuzzMachine.settings = SETTINGS
