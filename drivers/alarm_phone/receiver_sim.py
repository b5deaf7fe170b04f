"""The receiver's side of the Sur-Gard automation link, as a sans-I/O core.

A real central-station receiver sends one frame at a time to the automation computer
and waits for ACK (0x06) or NAK (0x15): stop-and-wait. Per the Sur-Gard manuals it
waits up to 4 seconds for the answer, resends on NAK or silence, and after 4 attempts
gives up ("computer fail"): it keeps the message buffered, goes on sending heartbeats,
and resumes delivery when the first heartbeat is ACKed. A heartbeat goes out when the
link has been idle for the heartbeat interval (30 s by default); any frame sent
restarts that interval.

This core models that, with time passed in: the simulator tool and the tests drive it
(aioquic style)::

    sim.queue_frame(frame)
    out = sim.data_to_send(now)        # bytes to write to the serial line, maybe b""
    sim.receive_data(answer, now)      # what the automation computer wrote back
    sim.handle_timer(now)              # at sim.get_timer()
    event = sim.next_event()           # Acked, Nakked, TimedOut, ComputerFail
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Final

from drivers.alarm_phone.surgard import ACK, NAK, format_heartbeat

__all__ = [
    "Acked",
    "ComputerFail",
    "GaveUp",
    "Nakked",
    "ReceiverSim",
    "SimEvent",
    "TimedOut",
]


@dataclass(frozen=True)
class SimEvent:
    """Base of the simulator's events."""


@dataclass(frozen=True)
class Acked(SimEvent):
    """frame was ACKed after attempts transmissions, latency seconds after the first."""

    frame: bytes
    attempts: int
    latency: float


@dataclass(frozen=True)
class Nakked(SimEvent):
    """Transmission number attempt of frame was NAKed."""

    frame: bytes
    attempt: int


@dataclass(frozen=True)
class TimedOut(SimEvent):
    """No answer to transmission number attempt of frame within ack_timeout."""

    frame: bytes
    attempt: int


@dataclass(frozen=True)
class ComputerFail(SimEvent):
    """max_attempts transmissions of frame went unacknowledged: the receiver's
    "computer fail". The frame stays queued; the link is probed again at retry_at."""

    frame: bytes
    attempts: int
    retry_at: float


GaveUp = ComputerFail
"""Alias: giving up on a frame is what a receiver reports as computer fail."""

_IDLE: Final = "idle"
_WAIT_ACK: Final = "wait_ack"
_FAILED: Final = "failed"


class ReceiverSim:
    """Stop-and-wait sender of Sur-Gard frames with retries, heartbeats and computer fail.

    After ComputerFail the receiver waits retry_after seconds (default: the heartbeat
    interval, or 30 s when heartbeats are off) and probes the link with one heartbeat
    (or, without heartbeats, one more try of the held frame). The first ACK ends the
    failure and the held frame goes out next; a probe that fails waits another
    retry_after.
    """

    def __init__(
        self,
        ack_timeout: float = 4.0,
        max_attempts: int = 4,
        heartbeat_interval: float | None = 30.0,
        retry_after: float | None = None,
        heartbeat: bytes | None = None,
    ) -> None:
        if ack_timeout <= 0:
            raise ValueError(f"ack_timeout must be > 0, got {ack_timeout}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        if heartbeat_interval is not None and heartbeat_interval <= 0:
            raise ValueError(f"heartbeat_interval must be > 0 or None, got {heartbeat_interval}")
        if retry_after is None:
            retry_after = heartbeat_interval if heartbeat_interval is not None else 30.0
        if retry_after <= 0:
            raise ValueError(f"retry_after must be > 0, got {retry_after}")
        self.ack_timeout = ack_timeout
        self.max_attempts = max_attempts
        self.heartbeat_interval = heartbeat_interval
        self.retry_after = retry_after
        self.heartbeat = heartbeat if heartbeat is not None else format_heartbeat()

        self._queue: deque[bytes] = deque()
        self._events: deque[SimEvent] = deque()
        self._state = _IDLE
        self._now: float | None = None  # latest time seen
        # Start of the current idle period: the first time seen, then every transmission.
        self._idle_since: float | None = None
        # The frame in flight.
        self._frame = b""
        self._is_heartbeat = False
        self._probe = False  # a single-shot probe sent while failed
        self._attempt = 0  # transmissions in the current round (toward max_attempts)
        self._total = 0  # transmissions of this frame ever (for Acked.attempts)
        self._first_tx = 0.0
        self._sent_at = 0.0
        self._resend = False
        self._retry_at = 0.0
        self._head_total = 0  # transmissions of the queue head across failures
        self._head_first_tx: float | None = None

    # -- public API -------------------------------------------------------------------

    @property
    def failed(self) -> bool:
        """True while the receiver is in computer fail."""
        return self._state == _FAILED

    @property
    def queued(self) -> int:
        """Frames waiting or in flight (heartbeats not counted)."""
        return len(self._queue)

    def queue_frame(self, frame: bytes) -> None:
        """Append a frame (exact bytes, DC4 included) to the receiver's buffer."""
        if not frame:
            raise ValueError("cannot queue an empty frame")
        self._queue.append(bytes(frame))

    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes from the automation computer: ACK and NAK count, anything else is ignored."""
        self._tick(now)
        for byte in data:
            b = bytes((byte,))
            if self._state != _WAIT_ACK:
                continue  # nothing in flight: a stray answer
            if b == ACK:
                self._on_ack(now)
            elif b == NAK:
                self._on_nak(now)

    def data_to_send(self, now: float) -> bytes:
        """The frame to write now, or b"" when nothing is due."""
        self.handle_timer(now)
        if self._state == _WAIT_ACK:
            if not self._resend:
                return b""
            self._resend = False
            return self._transmit(now)
        if self._state == _FAILED:
            if now < self._retry_at:
                return b""
            if self.heartbeat_interval is not None or not self._queue:
                self._start(self.heartbeat, heartbeat=True, probe=True)
            else:
                self._start_head(probe=True)
            return self._transmit(now)
        if self._queue:
            self._start_head(probe=False)
            return self._transmit(now)
        if self._heartbeat_due(now):
            self._start(self.heartbeat, heartbeat=True, probe=False)
            return self._transmit(now)
        return b""

    def get_timer(self) -> float | None:
        """When data_to_send/handle_timer should next be called (<= now means at once)."""
        now = self._now if self._now is not None else 0.0
        if self._state == _WAIT_ACK:
            return now if self._resend else self._sent_at + self.ack_timeout
        if self._state == _FAILED:
            return self._retry_at
        if self._queue:
            return now
        if self.heartbeat_interval is None:
            return None
        if self._idle_since is None:
            return None  # no clock seen yet: the first call with `now` starts it
        return self._idle_since + self.heartbeat_interval

    def handle_timer(self, now: float) -> None:
        """Expire the answer timeout of the frame in flight."""
        self._tick(now)
        if self._state != _WAIT_ACK or self._resend:
            return
        if now < self._sent_at + self.ack_timeout:
            return
        self._events.append(TimedOut(self._frame, self._total))
        self._after_failure(now)

    def next_event(self) -> SimEvent | None:
        """The next event, or None."""
        return self._events.popleft() if self._events else None

    # -- internals --------------------------------------------------------------------

    def _tick(self, now: float) -> None:
        if self._idle_since is None:
            self._idle_since = now
        if self._now is None or now > self._now:
            self._now = now

    def _heartbeat_due(self, now: float) -> bool:
        if self.heartbeat_interval is None:
            return False
        return self._idle_since is not None and now >= self._idle_since + self.heartbeat_interval

    def _start_head(self, probe: bool) -> None:
        self._start(self._queue[0], heartbeat=False, probe=probe)

    def _start(self, frame: bytes, heartbeat: bool, probe: bool) -> None:
        self._state = _WAIT_ACK
        self._frame = frame
        self._is_heartbeat = heartbeat
        self._probe = probe
        self._attempt = 0
        self._resend = False
        if heartbeat:
            self._total = 0
            self._first_tx = -1.0
        else:
            # The head keeps its history across a computer fail, for honest latency.
            self._total = self._head_total
            self._first_tx = -1.0 if self._head_first_tx is None else self._head_first_tx

    def _transmit(self, now: float) -> bytes:
        self._attempt += 1
        self._total += 1
        if self._first_tx < 0:
            self._first_tx = now
        if not self._is_heartbeat:
            self._head_total = self._total
            self._head_first_tx = self._first_tx
        self._sent_at = now
        self._idle_since = now
        return self._frame

    def _on_ack(self, now: float) -> None:
        self._events.append(Acked(self._frame, self._total, now - self._first_tx))
        if not self._is_heartbeat:
            self._queue.popleft()
            self._head_total = 0
            self._head_first_tx = None
        # Any ACK ends a computer fail: the held frame (if any) goes out next.
        self._state = _IDLE

    def _on_nak(self, now: float) -> None:
        self._events.append(Nakked(self._frame, self._total))
        self._after_failure(now)

    def _after_failure(self, now: float) -> None:
        if self._probe:
            # Still failed: wait another retry_after before probing again.
            self._state = _FAILED
            self._retry_at = now + self.retry_after
        elif self._attempt >= self.max_attempts:
            self._state = _FAILED
            self._retry_at = now + self.retry_after
            self._events.append(ComputerFail(self._frame, self._total, self._retry_at))
        else:
            self._resend = True
