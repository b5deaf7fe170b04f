"""Q.931 layer 3 timers (Q.931 9.1/9.2, ETSI EN 300 403 9.1) and per-call deadlines.

Values are seconds in whatever clock the shell passes as ``now``. The core never reads
a clock: it stores absolute deadlines (``now + T``) and the shell asks ``get_timer()``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Q931Timers:
    """Timer values and retry counts for one D-channel.

    t302  overlap receiving: SETUP ACK sent / INFORMATION received; expiry clears (28)
    t303  SETUP sent, no answer: retransmit once, then RELEASE COMPLETE (102)
    t304  overlap sending: SETUP ACK received / INFORMATION sent; expiry clears (102)
    t305  DISCONNECT sent, no RELEASE: send RELEASE with the DISCONNECT's cause
    t308  RELEASE sent, no RELEASE COMPLETE: retransmit once, then the channel goes to
          maintenance (and is restarted)
    t309  data link lost with active calls: they survive until it expires (cause 41)
    t310  CALL PROCEEDING received, no ALERTING/CONNECT/DISCONNECT: clear (102)
    t313  CONNECT sent (user side), no CONNECT ACK: clear (102)
    t316  RESTART sent, no RESTART ACK: retransmit; after ``restart_attempts`` sends the
          restart is reported failed
    t317  RESTART received: bound on clearing the channels (we clear at once; kept for
          the record)
    t322  STATUS ENQUIRY sent, no STATUS: retransmit; after ``status_enquiry_attempts``
          sends the call is cleared (41)
    """

    t302: float = 15.0
    t303: float = 4.0
    t304: float = 20.0
    t305: float = 30.0
    t308: float = 4.0
    t309: float = 6.0
    t310: float = 30.0
    t313: float = 4.0
    t316: float = 120.0
    t317: float = 90.0
    t322: float = 4.0
    restart_attempts: int = 2
    status_enquiry_attempts: int = 2

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if value <= 0:
                raise ValueError(f"Q931Timers.{field.name} must be positive, not {value!r}")

    def duration(self, name: str) -> float:
        """The value of timer ``name`` ("T303" or "t303")."""
        value = getattr(self, name.lower(), None)
        if not isinstance(value, float | int) or not name.lower().startswith("t"):
            raise KeyError(f"no Q.931 timer {name!r}")
        return float(value)


class Deadlines:
    """Named running timers of one owner (a call or a restart): name -> absolute deadline."""

    def __init__(self) -> None:
        self._due: dict[str, float] = {}

    def start(self, name: str, deadline: float) -> None:
        self._due[name] = deadline  # (re)starting a running timer restarts it

    def stop(self, *names: str) -> None:
        for name in names:
            self._due.pop(name, None)

    def stop_all(self) -> None:
        self._due.clear()

    def running(self, name: str) -> bool:
        return name in self._due

    def earliest(self) -> float | None:
        return min(self._due.values(), default=None)

    def pop_expired(self, now: float) -> str | None:
        """Remove and return the earliest timer due at ``now``, or None."""
        due = [(deadline, name) for name, deadline in self._due.items() if deadline <= now]
        if not due:
            return None
        _, name = min(due)
        del self._due[name]
        return name

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._due))
