"""When to (re)send a lane's batch and what an ack releases — sans-I/O, time passed in.

One batch per lane is in flight at a time (stop-and-wait): the hub then knows that
everything below a batch's first seq was acked before, so acking the batch's last seq
is always safe for it, and the box may delete every row up to it. Throughput comes
from batching, not pipelining: rows that arrive while a batch is in flight go in the
next one. Two lanes keep a live alarm from waiting behind a bulk backlog.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class InFlight:
    last_seq: int
    deadline: float


class LaneSender:
    def __init__(self, lane: str, ack_timeout: float = 5.0, ack_timeout_max: float = 60.0) -> None:
        self.lane = lane
        self.initial_timeout = ack_timeout
        self.max_timeout = ack_timeout_max
        self.timeout = ack_timeout
        self.in_flight: InFlight | None = None
        self.acked_upto = 0
        self.resends = 0

    def connected(self) -> None:
        """A fresh session: whatever was in flight may be lost; resend from the oldest now."""
        self.in_flight = None
        self.timeout = self.initial_timeout

    def disconnected(self) -> None:
        self.in_flight = None

    def can_send(self, now: float) -> bool:
        return self.in_flight is None or now >= self.in_flight.deadline

    def sent(self, last_seq: int, now: float) -> None:
        if self.in_flight is not None:
            # A timeout: back off so a slow hub is not flooded with the same batch.
            self.resends += 1
            self.timeout = min(self.timeout * 2, self.max_timeout)
        self.in_flight = InFlight(last_seq, now + self.timeout)

    def acked(self, upto: int) -> int | None:
        """The hub committed every seq <= UPTO. Returns UPTO if rows can now be deleted."""
        if upto <= self.acked_upto:
            return None  # a stale or repeated ack
        self.acked_upto = upto
        if self.in_flight is not None and upto >= self.in_flight.last_seq:
            self.in_flight = None
            self.timeout = self.initial_timeout
        return upto

    def get_timer(self) -> float | None:
        return self.in_flight.deadline if self.in_flight else None
