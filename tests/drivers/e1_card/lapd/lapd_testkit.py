"""Test kit for the LAPD core (importable: pytest puts this directory on sys.path).

* ``LinkPair``: a user-side and a network-side DataLink joined by a fake network (one
  FIFO wire per direction with a fixed delay) and a fake clock. Each wire has filters
  that decide each frame's fate: drop, duplicate, reorder (hold until the next frame),
  corrupt. ``keep_up=True`` re-establishes after Released, as the PriSpan shell does.
* ``Peer``: a scripted far end for one DataLink: it builds frames as the other role and
  decodes what the link sends.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from drivers.e1_card.lapd import (
    DataIndication,
    DataLink,
    Established,
    Frame,
    FrameError,
    FrameKind,
    LinkEvent,
    Released,
    decode_frame,
    encode_frame,
)
from drivers.e1_card.roles import Role

# A filter sees each frame entering a wire (bytes, and decoded by the receiver or None)
# and returns what actually travels: [] drops it, [x, x] duplicates it, [y] corrupts it.
Filter = Callable[[bytes, Frame | None], list[bytes]]
Match = Callable[[Frame | None], bool]


def other(role: Role) -> Role:
    return "network" if role == "user" else "user"


def decode_or_none(data: bytes, receiver: Role) -> Frame | None:
    try:
        return decode_frame(data, receiver)
    except FrameError:
        return None


def kind_is(kind: FrameKind, **attrs: object) -> Match:
    """Match decoded frames of ``kind`` whose attributes equal ``attrs``."""
    def match(frame: Frame | None) -> bool:
        return frame is not None and frame.kind is kind and all(
            getattr(frame, name) == value for name, value in attrs.items())
    return match


def any_frame(frame: Frame | None) -> bool:
    return True


def drop(match: Match = any_frame, times: int | None = 1) -> Filter:
    """Drop the first ``times`` matching frames (None: all of them)."""
    left = [times]

    def f(data: bytes, frame: Frame | None) -> list[bytes]:
        if match(frame) and (left[0] is None or left[0] > 0):
            if left[0] is not None:
                left[0] -= 1
            return []
        return [data]
    return f


def duplicate(match: Match = any_frame, times: int = 1) -> Filter:
    left = [times]

    def f(data: bytes, frame: Frame | None) -> list[bytes]:
        if match(frame) and left[0] > 0:
            left[0] -= 1
            return [data, data]
        return [data]
    return f


def corrupt(match: Match, change: Callable[[bytes], bytes], times: int = 1) -> Filter:
    left = [times]

    def f(data: bytes, frame: Frame | None) -> list[bytes]:
        if match(frame) and left[0] > 0:
            left[0] -= 1
            return [change(data)]
        return [data]
    return f


def swap_with_next(match: Match) -> Filter:
    """Reorder: hold the first matching frame and send it right after the next one."""
    held: list[bytes] = []
    done = [False]

    def f(data: bytes, frame: Frame | None) -> list[bytes]:
        if held:
            return [data, held.pop()]
        if not done[0] and match(frame):
            done[0] = True
            held.append(data)
            return []
        return [data]
    return f


def fates(pattern: Iterable[str]) -> Filter:
    """The fate of the first frames in order ('ok', 'drop', 'dup'); the rest pass."""
    todo = deque(pattern)

    def f(data: bytes, frame: Frame | None) -> list[bytes]:
        fate = todo.popleft() if todo else "ok"
        return {"ok": [data], "drop": [], "dup": [data, data]}[fate]
    return f


@dataclass
class WireRecord:
    """One frame handed to a wire: when, by whom, and how many copies travelled."""

    t: float
    sender: Role
    data: bytes
    frame: Frame | None  # decoded as the receiver sees it
    copies: int


@dataclass
class Wire:
    receiver: Role
    delay: float
    filters: list[Filter] = field(default_factory=list)
    in_flight: deque[tuple[float, bytes]] = field(default_factory=deque)

    def put(self, now: float, data: bytes) -> list[bytes]:
        frames = [data]
        for flt in self.filters:
            frames = [out for x in frames for out in flt(x, decode_or_none(x, self.receiver))]
        for x in frames:
            self.in_flight.append((now + self.delay, x))
        return frames


class LinkPair:
    """user <-> network over two wires; ``run_for`` advances the fake clock."""

    def __init__(self, *, delay: float = 0.002, keep_up: bool = False, **link_options: object) -> None:
        self.now = 0.0
        self.keep_up = keep_up
        self.links: dict[Role, DataLink] = {
            "user": DataLink("user", **link_options),  # type: ignore[arg-type]
            "network": DataLink("network", **link_options),  # type: ignore[arg-type]
        }
        self.wires: dict[Role, Wire] = {side: Wire(other(side), delay) for side in self.links}  # by sender
        self.events: dict[Role, list[LinkEvent]] = {"user": [], "network": []}
        self.log: list[WireRecord] = []

    @property
    def user(self) -> DataLink:
        return self.links["user"]

    @property
    def network(self) -> DataLink:
        return self.links["network"]

    def pump(self) -> None:
        """Move produced frames onto the wires and collect events (keep_up reacts here)."""
        moved = True
        while moved:
            moved = False
            for side, link in self.links.items():
                for data in link.frames_to_send():
                    moved = True
                    copies = self.wires[side].put(self.now, data)
                    self.log.append(WireRecord(self.now, side, data, decode_or_none(data, other(side)),
                                               len(copies)))
                while (event := link.next_event()) is not None:
                    self.events[side].append(event)
                    if self.keep_up and isinstance(event, Released):
                        link.establish(self.now)
                        moved = True

    def _next_time(self) -> float | None:
        times = [w.in_flight[0][0] for w in self.wires.values() if w.in_flight]
        times += [t for link in self.links.values() if (t := link.get_timer()) is not None]
        return min(times) if times else None

    def run_for(self, seconds: float) -> None:
        self.run_until_time(self.now + seconds)

    def run_until_time(self, until: float) -> None:
        self.pump()
        while (t := self._next_time()) is not None and t <= until:
            self.now = max(self.now, t)
            self._do_one()
        self.now = max(self.now, until)

    def run_until(self, done: Callable[[], bool], timeout: float = 60.0) -> bool:
        """Run until ``done()`` holds (checked after every action) or ``timeout`` passes."""
        end = self.now + timeout
        self.pump()
        while not done():
            t = self._next_time()
            if t is None or t > end:
                return done()
            self.now = max(self.now, t)
            self._do_one()
        return True

    def _do_one(self) -> None:
        """Deliver the earliest due frame, else fire due timers."""
        due = [(w.in_flight[0][0], side) for side, w in self.wires.items()
               if w.in_flight and w.in_flight[0][0] <= self.now]
        if due:
            _, sender = min(due)
            _, data = self.wires[sender].in_flight.popleft()
            self.links[other(sender)].receive_frame(data, self.now)
        else:
            for link in self.links.values():
                timer = link.get_timer()
                if timer is not None and timer <= self.now:
                    link.handle_timer(self.now)
        self.pump()

    def establish(self, initiator: Role = "user") -> None:
        self.links[initiator].establish(self.now)
        ok = self.run_until(lambda: self.user.established and self.network.established
                            and not any(w.in_flight for w in self.wires.values()), timeout=10)
        assert ok, "link did not come up"

    def quiet(self) -> bool:
        """Nothing in flight and nothing queued or unacknowledged on either side."""
        return (not any(w.in_flight for w in self.wires.values())
                and all(link.queued == 0 for link in self.links.values()))

    def delivered(self, side: Role) -> list[bytes]:
        """Payloads handed to ``side``'s layer 3, in order."""
        return [e.payload for e in self.events[side] if isinstance(e, DataIndication)]

    def of_type(self, side: Role, cls: type[LinkEvent]) -> list[LinkEvent]:
        return [e for e in self.events[side] if isinstance(e, cls)]

    def resets(self) -> int:
        """Released and re-established events on both sides (data may be lost there)."""
        return sum(1 for side in self.events for e in self.events[side]
                   if isinstance(e, Released) or (isinstance(e, Established) and e.reestablished))

    def sent(self, sender: Role, match: Match = any_frame) -> list[WireRecord]:
        return [r for r in self.log if r.sender == sender and match(r.frame)]


class Peer:
    """A scripted far end for one DataLink (the test plays the other role by hand)."""

    def __init__(self, link: DataLink) -> None:
        self.link = link
        self.role: Role = other(link.role)
        self.now = 0.0

    def feed(self, kind: FrameKind, *, command: bool, pf: bool = False, ns: int | None = None,
             nr: int | None = None, info: bytes = b"") -> None:
        frame = Frame(0, command, 0, kind, pf, ns, nr, info)
        self.link.receive_frame(encode_frame(frame, self.role), self.now)

    def feed_raw(self, data: bytes) -> None:
        self.link.receive_frame(data, self.now)

    def received(self) -> list[Frame]:
        """What the link sent since the last call, decoded as this peer sees it."""
        return [decode_frame(data, self.role) for data in self.link.frames_to_send()]

    def events(self) -> list[LinkEvent]:
        out = []
        while (event := self.link.next_event()) is not None:
            out.append(event)
        return out

    def advance(self, seconds: float) -> None:
        """Move time on and fire the link's due timers."""
        self.now += seconds
        self.link.handle_timer(self.now)

    def up(self) -> None:
        """Bring the link up (the link sends SABME, we answer UA) and drain its output."""
        self.link.establish(self.now)
        assert [f.kind for f in self.received()] == [FrameKind.SABME]
        self.feed(FrameKind.UA, command=False, pf=True)
        assert self.events() == [Established(reestablished=False)]
