"""AgentPhones: the agents' analog phones (FXS ports) on the box's call path.

The IVR hands a call over (``ToQueue``); ``offer(call, listener)`` rings every idle phone
with the caller's number as caller ID, and the first phone lifted takes the call: the
others stop ringing and that call's listener (the handler of the span it came in on: one
set of phones serves every span) hears ``agent_answered``. Calls are keyed by their
box-wide name, since Q.931 call references repeat from span to span. While the call is bridged, the phone
put down is ``agent_hung_up``; the caller leaving first is ``withdraw`` (the agent hears
busy tone until the handset goes down).

**Ring-all is a stand-in.** There are no queues, skills, agent log-in or
longest-idle selection here: every idle phone rings for the oldest waiting call. The ACD
issue replaces ``offer``'s choice of phones with real strategies; the port handling
(readers, hook state, the per-tick clock below) stays.

The box clocks its FXS ports (CONTRACTS §4): every line tick the handler calls
``clock(frames)`` and each port gets exactly one 160-byte A-law frame — the bridged
caller's audio, or idle (0xD5) for the others. A phone answers every frame with one of
its own; while bridged those frames are kept (at most ``MAX_QUEUED_FRAMES``) for the
handler to take with ``take_audio`` in the next tick, one per tick.

This is a shell class: it registers the ports' fds as readers on the running loop; the
decisions (which phone, what state) are plain methods the handler drives.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from drivers.e1_card.errors import SpanError
from drivers.e1_card.fxs import FRAME_BYTES, Audio, FxsPort, HookOff, HookOn

log = logging.getLogger("anxin.pbx.agents")

IDLE_FRAME = bytes([0xD5]) * FRAME_BYTES   # A-law silence (G.711 even-bit inverted zero)
MAX_QUEUED_FRAMES = 10                     # 200 ms: more means the phone runs ahead of the line


class OfferedCall(Protocol):
    """What AgentPhones needs of a call: its box-wide name and the caller's number."""

    caller: str | None
    name: str


class AgentListener(Protocol):
    """The call handler's side: told when an agent takes a call and when they put it down."""

    def agent_answered(self, call_name: str, port: FxsPort) -> None: ...

    def agent_hung_up(self, call_name: str, port: FxsPort) -> None: ...


@dataclass
class Phone:
    """One agent's phone: its hook switch and the call it rings for or carries."""

    port: FxsPort
    off_hook: bool = False
    ringing_for: str | None = None      # call name while ringing
    bridged_to: str | None = None       # call name while talking
    heard: deque[bytes] = field(default_factory=deque)  # the agent's voice, to the caller

    @property
    def idle(self) -> bool:
        return not self.off_hook and self.ringing_for is None and self.bridged_to is None


class AgentPhones:
    """The FXS ports agents answer calls on (ring-all until the ACD lands)."""

    def __init__(self, ports: list[FxsPort]) -> None:
        self.phones = [Phone(port) for port in ports]
        self._waiting: dict[str, OfferedCall] = {}   # offered, not answered, oldest first
        self._listeners: dict[str, AgentListener] = {}   # per call, until it is withdrawn
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Watch every port's fd on the running loop (idempotent)."""
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        for phone in self.phones:
            self._loop.add_reader(phone.port.fileno(), self._on_readable, phone)

    def stop(self) -> None:
        if self._loop is None:
            return
        for phone in self.phones:
            self._loop.remove_reader(phone.port.fileno())
        self._loop = None

    # -- state ------------------------------------------------------------------------------
    def idle(self) -> list[FxsPort]:
        """Ports that are on-hook and neither ringing nor in a call."""
        return [phone.port for phone in self.phones if phone.idle]

    def off_hook(self) -> list[FxsPort]:
        return [phone.port for phone in self.phones if phone.off_hook]

    def bridged(self, call_name: str) -> FxsPort | None:
        phone = self._bridged_phone(call_name)
        return phone.port if phone is not None else None

    def waiting(self, call_name: str) -> bool:
        return call_name in self._waiting

    # -- calls --------------------------------------------------------------------------------
    def offer(self, call: OfferedCall, listener: AgentListener) -> None:
        """Ring every idle phone for CALL (or keep it waiting until one is free)."""
        self._waiting[call.name] = call
        self._listeners[call.name] = listener
        self._ring_idle_phones()

    def withdraw(self, call_name: str) -> None:
        """The call is gone (caller hung up, or nobody answered in time): stop its phones."""
        self._waiting.pop(call_name, None)
        self._listeners.pop(call_name, None)
        for phone in self.phones:
            if phone.ringing_for == call_name:
                self._stop_ringing(phone)
            if phone.bridged_to == call_name:
                phone.bridged_to = None
                phone.heard.clear()
                self._drive(phone, lambda p: p.tone("busy"))  # heard until the agent hangs up
        self._ring_idle_phones()

    def take_audio(self, call_name: str) -> bytes | None:
        """The next 20 ms of the agent bridged to CALL_NAME, None if none is there yet."""
        phone = self._bridged_phone(call_name)
        if phone is None or not phone.heard:
            return None
        return phone.heard.popleft()

    def clock(self, frames: Mapping[str, bytes]) -> None:
        """One line tick: one frame to every port (FRAMES[call name] for a bridged one)."""
        for phone in self.phones:
            frame = frames.get(phone.bridged_to, IDLE_FRAME) if phone.bridged_to is not None else IDLE_FRAME
            self._drive(phone, lambda p, f=frame: p.write_audio(f))

    # -- the phones ---------------------------------------------------------------------------
    def _ring_idle_phones(self) -> None:
        if not self._waiting:
            return
        oldest = next(iter(self._waiting.values()))
        for phone in self.phones:
            if phone.idle:
                phone.ringing_for = oldest.name
                number = oldest.caller or ""
                self._drive(phone, lambda p, n=number: p.send_cid(n, ""))
                self._drive(phone, lambda p: p.ring(True))
                log.info("坐席话机 %s: 振铃, 来电 %s (%s)", phone.port.url, number or "无号码", oldest.name)

    def _stop_ringing(self, phone: Phone) -> None:
        phone.ringing_for = None
        self._drive(phone, lambda p: p.ring(False))

    def _on_readable(self, phone: Phone) -> None:
        try:
            while (event := phone.port.read_event()) is not None:
                self._on_event(phone, event)
        except SpanError as exc:  # a port that failed reads as an unplugged phone
            log.error("坐席话机 %s: 读取失败: %s", phone.port.url, exc)
            if self._loop is not None:
                self._loop.remove_reader(phone.port.fileno())
            self._on_event(phone, HookOn())

    def _on_event(self, phone: Phone, event: object) -> None:
        if isinstance(event, Audio):
            if phone.bridged_to is not None:
                phone.heard.append(event.samples)
                while len(phone.heard) > MAX_QUEUED_FRAMES:
                    phone.heard.popleft()
        elif isinstance(event, HookOff):
            phone.off_hook = True
            self._answer(phone)
        elif isinstance(event, HookOn):
            phone.off_hook = False
            self._drive(phone, lambda p: p.tone("none"))
            name, phone.bridged_to = phone.bridged_to, None
            phone.heard.clear()
            if name is not None:
                log.info("坐席话机 %s: 坐席挂机 (%s)", phone.port.url, name)
                listener = self._listeners.pop(name, None)
                if listener is not None:
                    listener.agent_hung_up(name, phone.port)
            self._ring_idle_phones()
        # Flash and Digit (transfer, hold) belong to the ACD issue.

    def _answer(self, phone: Phone) -> None:
        name, phone.ringing_for = phone.ringing_for, None
        if name is None or name not in self._waiting:
            return  # lifted with no call for it: nothing to connect
        call = self._waiting.pop(name)
        self._drive(phone, lambda p: p.ring(False))
        for other in self.phones:
            if other.ringing_for == name:
                self._stop_ringing(other)
        phone.bridged_to = name
        phone.heard.clear()
        log.info("坐席话机 %s: 接听 %s", phone.port.url, call.name)
        listener = self._listeners.get(name)
        if listener is not None:
            listener.agent_answered(name, phone.port)
        self._ring_idle_phones()  # phones rung for this call may serve the next one

    def _bridged_phone(self, call_name: str) -> Phone | None:
        return next((phone for phone in self.phones if phone.bridged_to == call_name), None)

    @staticmethod
    def _drive(phone: Phone, command: Callable[[FxsPort], object]) -> None:
        """One command to a phone; a broken port is logged, never a reason to drop the call."""
        try:
            command(phone.port)
        except (SpanError, OSError) as exc:
            log.error("坐席话机 %s: %s", phone.port.url, exc)
