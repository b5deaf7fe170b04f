"""Test harness: a user-role and a network-role Q931 wired back to back with a fake clock.

``Pair.exchange()`` moves every queued message across (both directions at once, so
crossing messages really cross) until both sides are quiet; every message is decoded
into ``Pair.wire`` as (sender role, Message) so tests check what went over the wire.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from drivers.e1_card.q931.events import CallEvent
from drivers.e1_card.q931.interface import Q931
from drivers.e1_card.q931.messages import Message, MessageType, decode_message
from drivers.e1_card.q931.timers import Q931Timers
from drivers.e1_card.roles import B_TIMESLOTS, Role


@dataclass
class Pair:
    timers: Q931Timers = field(default_factory=Q931Timers)
    user_timeslots: tuple[int, ...] = B_TIMESLOTS
    network_timeslots: tuple[int, ...] = B_TIMESLOTS
    seed: int = 1
    link: bool = True
    now: float = 0.0

    def __post_init__(self) -> None:
        self.user = Q931("user", timeslots=self.user_timeslots, timers=self.timers,
                         rng=random.Random(self.seed))
        self.network = Q931("network", timeslots=self.network_timeslots, timers=self.timers,
                            rng=random.Random(self.seed + 1))
        self.wire: list[tuple[Role, Message]] = []
        self.events: dict[Role, list[CallEvent]] = {"user": [], "network": []}
        if self.link:
            self.user.link_established(self.now)
            self.network.link_established(self.now)

    def side(self, role: Role) -> Q931:
        return self.user if role == "user" else self.network

    def collect(self) -> None:
        for role in ("user", "network"):
            q = self.side(role)
            while (event := q.next_event()) is not None:
                self.events[role].append(event)

    def take(self, role: Role) -> list[bytes]:
        """Messages ``role`` queued, logged on the wire but not delivered (lost)."""
        out = self.side(role).messages_to_send()
        for data in out:
            self.wire.append((role, decode_message(data)))
        return out

    def exchange(self, rounds: int = 100) -> None:
        for _ in range(rounds):
            from_user, from_network = self.take("user"), self.take("network")
            if not from_user and not from_network:
                self.collect()
                return
            for data in from_user:
                self.network.receive(data, self.now)
            for data in from_network:
                self.user.receive(data, self.now)
            self.collect()
        raise AssertionError("the two sides never went quiet")

    def advance(self, seconds: float, *, deliver: bool = True) -> None:
        """Move the clock, fire timers on both sides, then (optionally) exchange."""
        self.now += seconds
        self.user.handle_timer(self.now)
        self.network.handle_timer(self.now)
        self.collect()
        if deliver:
            self.exchange()

    def inject(self, role: Role, data: bytes) -> None:
        """Deliver raw bytes to ``role`` as if its peer had sent them."""
        self.side(role).receive(data, self.now)
        self.collect()

    # --- looking at what happened ---

    def sent(self, role: Role, mtype: MessageType | None = None) -> list[Message]:
        return [m for who, m in self.wire if who == role and (mtype is None or m.type == mtype)]

    def of(self, role: Role, kind: type) -> list:
        return [e for e in self.events[role] if isinstance(e, kind)]

    def clear_log(self) -> None:
        self.wire.clear()
        self.events = {"user": [], "network": []}
