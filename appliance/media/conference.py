"""The box-wide conference mixer: who hears whom in every call, one matrix product per tick.

A call on the box is a **room**; everything that carries audio in it is a **leg** — a
trunk timeslot, an agent's phone, a supervisor's phone, a consulted third party. Rooms
and legs are any hashable ids the shell likes (``"span1-…-7"``, ``("trunk", "span1", 5)``,
``("phone", "sim:///run/anxin/fxs/port1")``); the mixer never looks inside them.

Each leg has a **role** in its room:

==========  ==========================================  ===============================
role        hears                                        is heard by
==========  ==========================================  ===============================
talk        every talker of the room                     everybody in the room
listen      every talker                                 nobody (监听, silent monitor)
whisper     every talker                                 only its whisper targets (密语)
muted       every talker                                 nobody (the agent's mute key)
hold        the room's hold source (放松音乐) only       nobody
==========  ==========================================  ===============================

A leg never hears itself, and a whisper reaches its targets only while they are in the
same room and not on hold. The supervisor's features are role changes on one room::

    监听 listen     mixer.join(call, supervisor, "listen")
    密语 whisper    mixer.set_role(supervisor, "whisper", whisper_to=[agent])
    强插 barge      mixer.set_role(supervisor, "talk")
    拦截 intercept  mixer.set_role(supervisor, "talk"); mixer.leave(agent)
    三方 three-way  mixer.join(call, third_party, "talk")
    保持 hold       mixer.set_role(caller, "hold")

``mix(inputs)`` does one 20 ms tick for every room at once: INPUTS maps legs to their
int16 frame of 160 samples (a leg missing or ``None`` is silence this tick; legs in no
room are ignored), and the answer maps every leg in a room to what it hears. Inside, the
hear-relation of the whole box is one 0/1 matrix ``H`` (rebuilt only when a room
changes; block-diagonal, rooms packed into blocks of ``BLOCK_LEGS`` rows, so its cost
grows with the legs, not their square), and the tick is ``H @ X`` — one stacked matrix
product in float32 — then clipped to int16. The sums are integers far below 2**24, so
float32 is exact: a two-party room passes each side's frame through bit for bit, and
three or more legs add exactly before they saturate (a wrapped sum would be a full-scale
click).

Hold: a room's hold source is anything with ``next_frame() -> int16[160]`` — a
`LoopingPlayer` over the music loop (appliance/media/music.py loads and fades the
files), a ToneGenerator, comfort noise. It is asked for one frame per tick, only in
ticks when someone in the room is on hold, so the music goes on where it stopped when
the caller is held again. Every held leg of the room hears the same frame. A room with
no source (and no ``hold_factory``) gives its held legs silence.

Sans-I/O: no clock, no files, nothing but arrays; the shell calls ``mix`` once per line
tick.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from enum import StrEnum
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

from appliance.media import FRAME_SAMPLES, MediaError

__all__ = ["BLOCK_LEGS", "ConferenceError", "HoldSource", "LoopingPlayer", "MAX_ROOM_LEGS", "Mixer", "Role"]

# float32 adds integers exactly below 2**24: 2**15 × 64 legs is far inside that.
MAX_ROOM_LEGS: Final = 64
BLOCK_LEGS: Final = 24  # rows of one block of the hear-matrix (a bigger room makes them bigger)
_SILENCE: Final = np.zeros(FRAME_SAMPLES, dtype=np.int16)
_PAD: Final = object()  # a row of the matrix that no leg uses (the end of a block)

Leg = Hashable
Room = Hashable


class ConferenceError(MediaError):
    """The mixer was asked for something impossible (a leg in two rooms, an unknown role …)."""


class Role(StrEnum):
    TALK = "talk"
    LISTEN = "listen"
    WHISPER = "whisper"
    MUTED = "muted"
    HOLD = "hold"


class HoldSource(Protocol):
    """What a held leg hears: one frame (int16, 160 samples) per call."""

    def next_frame(self) -> np.ndarray: ...


class LoopingPlayer:
    """SAMPLES (1-D, 16-bit linear) played round and round, a frame at a time.

    ``LoopingPlayer(MusicOnHold(load_playlist(dir), 1).loop)`` plays the centre's music
    with its faded seams; any int16 array works (a loop shorter than a frame too).
    """

    def __init__(self, samples: npt.ArrayLike, *, frame_samples: int = FRAME_SAMPLES) -> None:
        array = np.asarray(samples)
        if array.ndim != 1 or array.size == 0:
            raise ConferenceError(f"looping player: need 1-D samples, got shape {array.shape}")
        if not np.issubdtype(array.dtype, np.integer):
            raise ConferenceError(f"looping player: samples must be integers, not {array.dtype}")
        if array.min() < -32768 or array.max() > 32767:
            raise ConferenceError("looping player: samples outside the 16-bit range")
        if frame_samples < 1:
            raise ConferenceError(f"looping player: frame of {frame_samples} samples")
        self.loop = array.astype(np.int16)  # a copy: the caller's array may change
        self.loop.flags.writeable = False
        self.frame_samples = frame_samples
        self._ramp = np.arange(frame_samples, dtype=np.int64)
        self._position = 0

    @property
    def loop_samples(self) -> int:
        return len(self.loop)

    @property
    def position(self) -> int:
        """Samples into the loop where the next frame starts."""
        return self._position

    def restart(self) -> None:
        self._position = 0

    def next_frame(self) -> np.ndarray:
        indices = (self._position + self._ramp) % self.loop_samples
        self._position = (self._position + self.frame_samples) % self.loop_samples
        return self.loop[indices]


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise ConferenceError(f"no role {role!r} (roles: {', '.join(r.value for r in Role)})") from None


class Mixer:
    """Every room of the box; ``mix(inputs)`` is one tick for all of them (see the module doc).

    HOLD_FACTORY, when given, makes the hold source of a room that has a leg on hold and
    none set (e.g. ``lambda room: LoopingPlayer(music_loop)``: each call its own place in
    the music).
    """

    def __init__(self, *, hold_factory: Callable[[Room], HoldSource] | None = None) -> None:
        self.hold_factory = hold_factory
        self._rooms: dict[Room, dict[Leg, Role]] = {}
        self._room_of: dict[Leg, Room] = {}
        self._whisper_to: dict[Leg, frozenset[Leg]] = {}
        self._hold: dict[Room, HoldSource] = {}
        self._stale = True
        # What the last rebuild made of the rooms (valid while not _stale).
        self._order: list[Leg] = []
        self._matrix = np.zeros((0, 0, 0), dtype=np.float32)
        self._held: list[tuple[Room, np.ndarray]] = []
        self._rows = np.zeros(0, dtype=np.intp)
        self._legs: list[Leg] = []

    # -- membership ------------------------------------------------------------------------
    def join(self, room: Room, leg: Leg, role: Role | str = Role.TALK, *,
             whisper_to: Iterable[Leg] = ()) -> None:
        """LEG into ROOM as ROLE (a leg is in one room at a time: leave() first to move it)."""
        role = _role(role)
        if leg in self._room_of:
            raise ConferenceError(f"leg {leg!r} is already in room {self._room_of[leg]!r}; leave it first")
        members = self._rooms.get(room, {})
        if len(members) >= MAX_ROOM_LEGS:
            raise ConferenceError(f"room {room!r} is full ({MAX_ROOM_LEGS} legs)")
        targets = self._targets(leg, role, whisper_to)
        self._rooms[room] = members
        members[leg] = role
        self._room_of[leg] = room
        self._set_targets(leg, targets)
        self._stale = True

    def leave(self, leg: Leg) -> Room:
        """LEG out of its room; the room it left. An empty room is gone, with its hold source."""
        room = self._room_of.pop(leg, None)
        if room is None:
            raise ConferenceError(f"leg {leg!r} is in no room")
        members = self._rooms[room]
        del members[leg]
        self._whisper_to.pop(leg, None)
        if not members:
            del self._rooms[room]
            self._hold.pop(room, None)
        self._stale = True
        return room

    def set_role(self, leg: Leg, role: Role | str, *, whisper_to: Iterable[Leg] = ()) -> None:
        """LEG's new ROLE in its room (WHISPER_TO: the legs a whisper reaches)."""
        role = _role(role)
        room = self._room_of.get(leg)
        if room is None:
            raise ConferenceError(f"leg {leg!r} is in no room")
        targets = self._targets(leg, role, whisper_to)
        self._rooms[room][leg] = role
        self._set_targets(leg, targets)
        self._stale = True

    def set_hold_source(self, room: Room, source: HoldSource | None) -> None:
        """What ROOM's held legs hear (None: the hold_factory's, or silence)."""
        if source is None:
            self._hold.pop(room, None)
        elif not callable(getattr(source, "next_frame", None)):
            raise ConferenceError(f"hold source for room {room!r} has no next_frame()")
        else:
            self._hold[room] = source

    @staticmethod
    def _targets(leg: Leg, role: Role, whisper_to: Iterable[Leg]) -> frozenset[Leg]:
        targets = frozenset(whisper_to)
        if role is Role.WHISPER and not targets:
            raise ConferenceError(f"leg {leg!r}: a whisper needs someone to whisper to (whisper_to)")
        if role is not Role.WHISPER and targets:
            raise ConferenceError(f"leg {leg!r}: whisper_to is only for the whisper role, not {role}")
        if leg in targets:
            raise ConferenceError(f"leg {leg!r} cannot whisper to itself")
        return targets

    def _set_targets(self, leg: Leg, targets: frozenset[Leg]) -> None:
        if targets:
            self._whisper_to[leg] = targets
        else:
            self._whisper_to.pop(leg, None)

    # -- views --------------------------------------------------------------------------------
    def rooms(self) -> tuple[Room, ...]:
        """Every room that has a leg, in the order they were opened."""
        return tuple(self._rooms)

    def room_of(self, leg: Leg) -> Room | None:
        return self._room_of.get(leg)

    def legs(self, room: Room) -> dict[Leg, Role]:
        """ROOM's legs and their roles, in joining order (a copy; empty for no such room)."""
        return dict(self._rooms.get(room, {}))

    def role_of(self, leg: Leg) -> Role | None:
        room = self._room_of.get(leg)
        return None if room is None else self._rooms[room][leg]

    def whisper_targets(self, leg: Leg) -> frozenset[Leg]:
        return self._whisper_to.get(leg, frozenset())

    def hold_source(self, room: Room) -> HoldSource | None:
        return self._hold.get(room)

    def hears(self, leg: Leg) -> frozenset[Leg]:
        """The legs LEG hears this tick (a held leg hears none: only the hold source)."""
        room = self._room_of.get(leg)
        if room is None:
            return frozenset()
        return frozenset(other for other in self._rooms[room] if self._hears(room, leg, other))

    def _hears(self, room: Room, leg: Leg, other: Leg) -> bool:
        """The one rule of the module doc's table."""
        members = self._rooms[room]
        if leg == other or members[leg] is Role.HOLD:
            return False
        role = members[other]
        return role is Role.TALK or (role is Role.WHISPER and leg in self._whisper_to[other])

    # -- the tick -------------------------------------------------------------------------------
    def _rebuild(self) -> None:
        """The hear-matrix of the box, block-diagonal: rooms packed into blocks of BLOCK legs.

        One stacked product (blocks, BLOCK, BLOCK) @ (blocks, BLOCK, 160) costs legs × BLOCK
        rather than legs² of a dense box-wide matrix; a room never straddles two blocks.
        """
        block = max([BLOCK_LEGS, *(len(members) for members in self._rooms.values())])
        order: list[Leg] = []  # the leg of each row, or _PAD
        placed: list[tuple[Room, dict[Leg, Role], int]] = []
        for room, members in self._rooms.items():
            if len(order) % block + len(members) > block:
                order.extend([_PAD] * (block - len(order) % block))
            placed.append((room, members, len(order)))
            order.extend(members)
        order.extend([_PAD] * (-len(order) % block))
        matrix = np.zeros((len(order) // block, block, block), dtype=np.float32)
        flat = matrix.reshape(-1, block)  # row r of the box is flat[r], its columns the block's
        held: list[tuple[Room, np.ndarray]] = []
        for room, members, first in placed:
            rows = np.arange(first, first + len(members))
            roles = list(members.values())
            hearing = rows[[role is not Role.HOLD for role in roles]]
            talking = rows[[role is Role.TALK for role in roles]] % block
            flat[np.ix_(hearing, talking)] = 1.0
            where = {leg: first + i for i, leg in enumerate(members)}
            for leg, row in where.items():
                flat[row, row % block] = 0.0  # nobody hears their own voice back
                if members[leg] is Role.WHISPER:
                    for target in self._whisper_to[leg]:
                        if members.get(target, Role.HOLD) is not Role.HOLD:
                            flat[where[target], row % block] = 1.0
            on_hold = rows[[role is Role.HOLD for role in roles]]
            if on_hold.size:
                held.append((room, on_hold))
        self._order, self._matrix, self._held = order, matrix, held
        self._rows = np.array([row for row, leg in enumerate(order) if leg is not _PAD], dtype=np.intp)
        self._legs = [leg for leg in order if leg is not _PAD]
        self._stale = False

    def _hold_frame(self, room: Room) -> np.ndarray | None:
        source = self._hold.get(room)
        if source is None and self.hold_factory is not None:
            source = self._hold[room] = self.hold_factory(room)
        if source is None:
            return None
        frame = np.asarray(source.next_frame())
        if frame.shape != (FRAME_SAMPLES,):
            raise ConferenceError(f"hold source of room {room!r} gave a frame of shape {frame.shape}, "
                                  f"need ({FRAME_SAMPLES},)")
        return frame

    def _gather(self, inputs: Mapping[Leg, np.ndarray | None]) -> np.ndarray:
        """INPUTS as rows of the box (silence where missing), int16 (rows, 160)."""
        get, silence = inputs.get, _SILENCE
        frames = [silence if leg is _PAD or (frame := get(leg)) is None else frame for leg in self._order]
        try:
            stacked = np.array(frames)
        except ValueError:
            stacked = None  # frames of different shapes: the slow path below names the leg
        if stacked is None or stacked.dtype != np.int16 or stacked.shape != (len(frames), FRAME_SAMPLES):
            for leg, frame in zip(self._order, frames, strict=True):
                shape, dtype = getattr(frame, "shape", None), getattr(frame, "dtype", type(frame).__name__)
                if shape != (FRAME_SAMPLES,) or dtype != np.int16:
                    raise ConferenceError(f"leg {leg!r}: frame of shape {shape} {dtype}, "
                                          f"need ({FRAME_SAMPLES},) int16")
            raise ConferenceError("frames the mixer cannot stack")  # not reached: one was wrong
        return stacked

    def mix(self, inputs: Mapping[Leg, np.ndarray | None]) -> dict[Leg, np.ndarray]:
        """One tick: what every leg in a room hears, int16[160] each (rows of one new array)."""
        if self._stale:
            self._rebuild()
        if not self._legs:
            return {}
        blocks, block = self._matrix.shape[:2]
        heard = self._gather(inputs).astype(np.float32).reshape(blocks, block, FRAME_SAMPLES)
        out = np.matmul(self._matrix, heard).reshape(-1, FRAME_SAMPLES)
        for room, rows in self._held:
            music = self._hold_frame(room)
            if music is not None:
                out[rows] = music
        np.clip(out, -32768.0, 32767.0, out=out)
        frames = out[self._rows].astype(np.int16)
        return dict(zip(self._legs, list(frames), strict=True))
