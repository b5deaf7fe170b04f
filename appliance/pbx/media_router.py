"""MediaRouter: who hears whom on the box, for every trunk call and agent phone.

A shell over the conference mixer (appliance/media/conference.py). Legs are
``("call", name)`` for a trunk call (in or out, any span: call names are box-wide) and
``("phone", url)`` for an FXS phone. A room is one conversation: caller and agent; a
three-way call; a supervisor listening, whispering or barging in; a held caller hearing
music.

Timing: every span's handler ``put``s what each of its routed calls sent this tick and
``take``s the mix computed at the end of the previous tick; the phones' frames are given
by the clock owner's tick (acd_service.tick_audio), which then runs ``tick`` once for the
whole box. A caller thus hears the agent one tick (20 ms) later than the mix was made —
the same one-frame buffer a card's TDM bus has — and no leg ever waits for another span.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable

import numpy as np

from appliance.media.conference import LoopingPlayer, Mixer
from appliance.media.g711 import alaw_to_linear, linear_to_alaw
from appliance.media.music import builtin_music

log = logging.getLogger("anxin.pbx.media")

Leg = Hashable


class MediaRouter:
    def __init__(self, hold_music: np.ndarray | None = None) -> None:
        # Each room's held party hears the music from its own start (appliance/media/music.py).
        music = builtin_music() if hold_music is None else hold_music
        self.mixer = Mixer(hold_factory=lambda _room: LoopingPlayer(music))
        self._inputs: dict[Leg, np.ndarray] = {}
        self._outputs: dict[Leg, bytes] = {}

    # -- rooms ------------------------------------------------------------------------------
    def connect(self, room: str, leg: Leg, role: str = "talk", **options: object) -> None:
        """LEG into ROOM (leaving any room it was in)."""
        if self.mixer.room_of(leg) is not None:
            self.mixer.leave(leg)
        self.mixer.join(room, leg, role, **options)

    def set_role(self, leg: Leg, role: str, **options: object) -> None:
        self.mixer.set_role(leg, role, **options)

    def disconnect(self, leg: Leg) -> None:
        if self.mixer.room_of(leg) is not None:
            self.mixer.leave(leg)
        self._inputs.pop(leg, None)
        self._outputs.pop(leg, None)

    def room_of(self, leg: Leg) -> str | None:
        return self.mixer.room_of(leg)

    def legs(self, room: str) -> list[Leg]:
        return list(self.mixer.legs(room))

    def routed(self, leg: Leg) -> bool:
        return self.mixer.room_of(leg) is not None

    # -- media ------------------------------------------------------------------------------
    def put(self, leg: Leg, frame: bytes) -> None:
        """What LEG sent this tick (160 bytes A-law)."""
        if self.mixer.room_of(leg) is not None:
            self._inputs[leg] = alaw_to_linear(np.frombuffer(frame, dtype=np.uint8))

    def take(self, leg: Leg) -> bytes | None:
        """What LEG is to hear now (the last mix), None when it is in no room."""
        return self._outputs.pop(leg, None)

    def tick(self) -> dict[Leg, bytes]:
        """Mix every room once; returns (and keeps for ``take``) each routed leg's frame."""
        inputs, self._inputs = self._inputs, {}
        mixed = self.mixer.mix(inputs)
        out = {leg: linear_to_alaw(frame).tobytes() for leg, frame in mixed.items()}
        self._outputs = dict(out)
        return out
