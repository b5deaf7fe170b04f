"""AgentPhones: the agents' analog phones (FXS ports), as the ACD's shell drives them.

This is the port layer only. Which phone rings for which call is the ACD's decision
(appliance/acd, carried out by appliance/pbx/acd_service.py); here the phones are rung,
stopped, bridged to a call and given tones, and what the phones do (hook, digits, flash)
goes to the listener.

The box clocks its FXS ports (CONTRACTS §4): every line tick ``clock(frames)`` gives each
port exactly one 160-byte A-law frame — what the media router mixed for it (FRAMES[url]),
or idle (0xD5). A phone answers every frame with one of its own; while bridged those
frames are kept (at most ``MAX_QUEUED_FRAMES``) for the router to take with
``take_heard`` in the next tick, one per tick. One set of phones serves every span.

A shell class: it registers the ports' fds as readers on the running loop. A port that
fails reads as a phone put down; a command to a broken port is logged, never raised.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from drivers.e1_card.errors import SpanError
from drivers.e1_card.fxs import FRAME_BYTES, Audio, Digit, Flash, FxsPort, HookOff, HookOn

log = logging.getLogger("anxin.pbx.agents")

IDLE_FRAME = bytes([0xD5]) * FRAME_BYTES   # A-law silence (G.711 even-bit inverted zero)
MAX_QUEUED_FRAMES = 10                     # 200 ms: more means the phone runs ahead of the line


class PhoneListener(Protocol):
    """What the phones tell (the ACD service)."""

    def phone_off_hook(self, url: str) -> None: ...

    def phone_on_hook(self, url: str) -> None: ...

    def phone_digit(self, url: str, digit: str) -> None: ...

    def phone_flash(self, url: str) -> None: ...


@dataclass
class Phone:
    """One agent's phone: its hook switch and the call it rings for or carries."""

    port: FxsPort
    off_hook: bool = False
    ringing: bool = False
    bridged_to: str | None = None       # call name while talking
    heard: deque[bytes] = field(default_factory=deque)  # the agent's voice, to the caller

    @property
    def url(self) -> str:
        return self.port.url


class AgentPhones:
    """The FXS ports agents answer calls on."""

    def __init__(self, ports: list[FxsPort]) -> None:
        self.phones = {port.url: Phone(port) for port in ports}
        self.listener: PhoneListener | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Watch every port's fd on the running loop (idempotent)."""
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        for phone in self.phones.values():
            self._loop.add_reader(phone.port.fileno(), self._on_readable, phone)

    def stop(self) -> None:
        if self._loop is None:
            return
        for phone in self.phones.values():
            self._loop.remove_reader(phone.port.fileno())
        self._loop = None

    # -- commands (from the ACD service) ------------------------------------------------------
    def ring(self, url: str, number: str | None, name: str = "") -> None:
        """Caller ID, then ring (CID is sent before the first ring, as on a real line)."""
        phone = self.phones[url]
        phone.ringing = True
        self._drive(phone, lambda p: p.send_cid(number or "", name))
        self._drive(phone, lambda p: p.ring(True))

    def stop_ring(self, url: str) -> None:
        phone = self.phones[url]
        if phone.ringing:
            phone.ringing = False
            self._drive(phone, lambda p: p.ring(False))

    def bridge(self, url: str, call_name: str) -> None:
        phone = self.phones[url]
        self.stop_ring(url)
        phone.bridged_to = call_name
        phone.heard.clear()
        self._drive(phone, lambda p: p.tone("none"))

    def unbridge(self, url: str, tone: str | None = None) -> None:
        """The call left the phone; TONE (busy when the caller hung up) until it is put down."""
        phone = self.phones[url]
        phone.bridged_to = None
        phone.heard.clear()
        if tone is not None and phone.off_hook:
            self._drive(phone, lambda p: p.tone(tone))

    def tone(self, url: str, tone: str) -> None:
        self._drive(self.phones[url], lambda p: p.tone(tone))

    # -- media ------------------------------------------------------------------------------------
    def take_heard(self, url: str) -> bytes | None:
        """The next 20 ms the phone at URL sent while bridged, None if none is there yet."""
        phone = self.phones[url]
        return phone.heard.popleft() if phone.heard else None

    def clock(self, frames: Mapping[str, bytes]) -> None:
        """One line tick: one frame to every port (FRAMES[url] when given, else idle)."""
        for phone in self.phones.values():
            frame = frames.get(phone.url, IDLE_FRAME)
            self._drive(phone, lambda p, f=frame: p.write_audio(f))

    # -- the phones ---------------------------------------------------------------------------
    def _on_readable(self, phone: Phone) -> None:
        try:
            while (event := phone.port.read_event()) is not None:
                self._on_event(phone, event)
        except SpanError as exc:  # a port that failed reads as an unplugged phone
            log.error("坐席话机 %s: 读取失败: %s", phone.url, exc)
            if self._loop is not None:
                self._loop.remove_reader(phone.port.fileno())
            self._on_event(phone, HookOn())

    def _on_event(self, phone: Phone, event: object) -> None:
        if isinstance(event, Audio):
            if phone.bridged_to is not None:
                phone.heard.append(event.samples)
                while len(phone.heard) > MAX_QUEUED_FRAMES:
                    phone.heard.popleft()
            return
        args: tuple[str, ...] = (phone.url,)
        if isinstance(event, HookOff):
            phone.off_hook = True  # the service decides: answer the ringing call, or dial tone
            verb = "phone_off_hook"
        elif isinstance(event, HookOn):
            if not phone.off_hook and phone.bridged_to is None:
                return  # a second on-hook (port failure after a hang-up): nothing new
            phone.off_hook = False
            self._drive(phone, lambda p: p.tone("none"))
            verb = "phone_on_hook"
        elif isinstance(event, Digit):
            verb, args = "phone_digit", (phone.url, event.digit)
        elif isinstance(event, Flash):
            verb = "phone_flash"
        else:
            return
        if self.listener is not None:
            try:
                getattr(self.listener, verb)(*args)
            except Exception:  # one phone's trouble must not stop the others being read
                log.exception("坐席话机 %s: handling %r", phone.url, event)

    @staticmethod
    def _drive(phone: Phone, command: Callable[[FxsPort], object]) -> None:
        """One command to a phone; a broken port is logged, never a reason to drop the call."""
        try:
            command(phone.port)
        except (SpanError, OSError) as exc:
            log.error("坐席话机 %s: %s", phone.url, exc)
