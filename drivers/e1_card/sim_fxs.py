"""Simulated FXS port over an AF_UNIX SOCK_SEQPACKET socket (CONTRACTS §4).

The box (:class:`SimFxsPort`) owns the port and listens at PATH, one handset at a
time; :class:`SimHandsetLink` is the phone's end (``anxin-sim handset``). Datagram
byte 0 says what follows: ``0x00`` + 160 bytes of A-law (20 ms), or ``0x01`` + UTF-8
JSON control — handset → box ``{"hook":"off"|"on"}``, ``{"flash":true}``,
``{"dtmf":"5"}``; box → handset ``{"ring":true|false}``,
``{"cid":{"number":…,"name":…}}``, ``{"tone":"dial"|"busy"|"ringback"|"congestion"|"none"}``.
A datagram that breaks the format (unknown type byte, bad JSON, wrong audio length,
unknown values) is logged, counted in ``dropped`` and dropped, whoever sent it.

The box side reports only hook transitions, and a handset that disconnects while
off-hook is reported as HookOn: an unplugged phone is an idle line. A handset that
connects while the port rings is told to ring at once.
"""

from __future__ import annotations

import json
import logging
import os
import select
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from drivers.e1_card.errors import SpanError
from drivers.e1_card.fxs import (
    Audio,
    Digit,
    Flash,
    FxsEvent,
    FxsPort,
    HookOff,
    HookOn,
    check_audio,
    check_digits,
    check_tone,
    parse_fxs_url,
)
from drivers.e1_card.seqpacket import PeerClosed, Slot

__all__ = [
    "AUDIO",
    "CONTROL",
    "CallerId",
    "HandsetEvent",
    "Ring",
    "SimFxsPort",
    "SimHandsetLink",
    "Tone",
]

log = logging.getLogger("anxin.fxs.sim")

AUDIO: Final = 0x00
CONTROL: Final = 0x01


def _json_control(payload: dict[str, object]) -> bytes:
    return bytes([CONTROL]) + json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def _port_path(url: str | os.PathLike[str]) -> Path:
    text = os.fspath(url)
    return Path(parse_fxs_url(text)[1] if text.startswith("sim://") else os.path.abspath(text))


class _SlotEnd(ABC):
    """What the port and the handset share: one slot at ``path`` under one epoll, audio out, close."""

    path: Path
    dropped: int

    def _open_slot(self, path: Path) -> None:
        self.path = path
        self._watch = select.epoll()
        self._slot = Slot(path, "FXS port", self._watch)
        self._closed = False
        self.dropped = 0

    def fileno(self) -> int:
        return self._watch.fileno()

    def write_audio(self, frame: bytes) -> None:
        """160 bytes of A-law (20 ms) to the other end."""
        self._send(bytes([AUDIO]) + check_audio(frame))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._slot.close()
            self._watch.close()

    @abstractmethod
    def _send(self, datagram: bytes) -> None:
        """One datagram to the other end (each side deals with a missing peer its own way)."""


# -- FXS: box side -------------------------------------------------------------------------------


def _box_events(message: object) -> list[FxsEvent]:
    """Events from one handset→box control message; ValueError if it is not one."""
    if not isinstance(message, dict):
        raise ValueError(f"control must be a JSON object, not {message!r}")
    events: list[FxsEvent] = []
    if "hook" in message:
        if message["hook"] not in ("off", "on"):
            raise ValueError(f"hook must be \"off\" or \"on\", not {message['hook']!r}")
        events.append(HookOff() if message["hook"] == "off" else HookOn())
    if "flash" in message:
        if not isinstance(message["flash"], bool):
            raise ValueError(f"flash must be true, not {message['flash']!r}")
        if message["flash"]:
            events.append(Flash())
    if "dtmf" in message:
        events.extend(Digit(d) for d in check_digits(message["dtmf"]))
    if not events and not message.keys() & {"hook", "flash", "dtmf"}:
        raise ValueError(f"no hook, flash or dtmf in {message!r}")
    return events


def _split_datagram(data: bytes) -> Audio | object:
    """Audio for an audio datagram, the parsed JSON of a control one; ValueError otherwise."""
    if not data:
        raise ValueError("empty datagram")
    if data[0] == AUDIO:
        return Audio(check_audio(data[1:]))
    if data[0] == CONTROL:
        return json.loads(data[1:].decode("utf-8"))  # JSONDecodeError is a ValueError
    raise ValueError(f"unknown datagram type byte {data[0]:#04x}")


class SimFxsPort(_SlotEnd, FxsPort):
    """The box's end of a simulated FXS line: listens at PATH for one handset."""

    def __init__(self, url: str | os.PathLike[str]) -> None:
        path = _port_path(url)
        super().__init__(f"sim://{path}")
        self._open_slot(path)
        self._events: deque[FxsEvent] = deque()
        self._off_hook = False
        self._ringing = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._slot.listen()
        except OSError as exc:
            self.close()
            raise SpanError(f"listening for a handset at {path}: {exc.strerror or exc}") from exc

    @property
    def connected(self) -> bool:
        self._accept()
        return self._slot.connected

    @property
    def off_hook(self) -> bool:
        return self._off_hook

    def read_event(self) -> FxsEvent | None:
        if self._closed:
            return None
        self._accept()
        while not self._events:
            try:
                data = self._slot.recv(4096)
            except PeerClosed as exc:
                self._handset_gone(str(exc))
                break
            if data is None:
                break
            self._take(data)
        return self._events.popleft() if self._events else None

    def ring(self, on: bool) -> None:
        self._ringing = bool(on)
        self._send(_json_control({"ring": self._ringing}))

    def send_cid(self, number: str, name: str = "") -> None:
        self._send(_json_control({"cid": {"number": str(number), "name": str(name)}}))

    def tone(self, name: str) -> None:
        self._send(_json_control({"tone": check_tone(name)}))

    def _take(self, data: bytes) -> None:
        try:
            parsed = _split_datagram(data)
            events = [parsed] if isinstance(parsed, Audio) else _box_events(parsed)
        except ValueError as exc:
            self.dropped += 1
            log.warning("FXS %s: bad datagram %r dropped: %s", self.path, data[:80], exc)
            return
        for event in events:
            if isinstance(event, HookOff | HookOn):
                if self._off_hook == isinstance(event, HookOff):
                    continue  # no change: the hook switch only reports transitions
                self._off_hook = isinstance(event, HookOff)
            self._events.append(event)

    def _accept(self) -> None:
        if self._closed:
            return
        was = self._slot.connected
        if self._slot.accept():
            if was:  # the old one was dead (a live one would have been refused)
                self._handset_gone("closed (a new handset connected)")
            log.info("FXS %s: handset connected", self.path)
            if self._ringing:  # plugged in during a call: it rings at once
                self._send(_json_control({"ring": True}))

    def _handset_gone(self, why: str) -> None:
        log.info("FXS %s: handset connection %s", self.path, why)
        if self._off_hook:  # an unplugged phone is an idle line
            self._off_hook = False
            self._events.append(HookOn())

    def _send(self, datagram: bytes) -> None:
        if self._closed:
            raise SpanError(f"FXS port {self.path} is closed")
        self._accept()
        try:
            if not self._slot.send(datagram) and self._slot.connected:
                self.dropped += 1
        except PeerClosed as exc:
            self._handset_gone(str(exc))


# -- FXS: handset side ----------------------------------------------------------------------------


@dataclass(frozen=True)
class HandsetEvent:
    """Base of what the box tells a simulated phone (audio comes as fxs.Audio)."""


@dataclass(frozen=True)
class Ring(HandsetEvent):
    on: bool


@dataclass(frozen=True)
class CallerId(HandsetEvent):
    number: str
    name: str = ""


@dataclass(frozen=True)
class Tone(HandsetEvent):
    name: str  # one of fxs.TONES


def _handset_events(message: object) -> list[HandsetEvent]:
    if not isinstance(message, dict):
        raise ValueError(f"control must be a JSON object, not {message!r}")
    events: list[HandsetEvent] = []
    if "ring" in message:
        if not isinstance(message["ring"], bool):
            raise ValueError(f"ring must be true or false, not {message['ring']!r}")
        events.append(Ring(message["ring"]))
    if "cid" in message:
        cid = message["cid"]
        if not isinstance(cid, dict) or not isinstance(cid.get("number"), str) \
                or not isinstance(cid.get("name", ""), str):
            raise ValueError(f"cid must be {{\"number\": …, \"name\": …}}, not {cid!r}")
        events.append(CallerId(cid["number"], cid.get("name", "")))
    if "tone" in message:
        events.append(Tone(check_tone(message["tone"])))
    if not events:
        raise ValueError(f"no ring, cid or tone in {message!r}")
    return events


class SimHandsetLink(_SlotEnd):
    """A simulated phone's connection to a SimFxsPort (the handset side of CONTRACTS §4)."""

    def __init__(self, url: str | os.PathLike[str]) -> None:
        self._open_slot(_port_path(url))
        self._events: deque[HandsetEvent | Audio] = deque()
        self.reopen()

    @property
    def connected(self) -> bool:
        return self._slot.connected

    def reopen(self) -> None:
        """Connect (again); SpanError with the reason if the box's port is not there."""
        if self._closed:
            raise SpanError(f"handset link to {self.path} is closed")
        if not self._slot.connected:
            try:
                self._slot.connect()
            except OSError as exc:
                raise SpanError(f"connecting handset to FXS port at {self.path}: "
                                f"{exc.strerror or exc}") from exc

    def read_event(self) -> HandsetEvent | Audio | None:
        """Ring / CallerId / Tone / Audio or None; SpanError once when the box goes away."""
        while not self._events and not self._closed:
            try:
                data = self._slot.recv(4096)
            except PeerClosed as exc:
                raise SpanError(f"handset link to FXS port at {self.path}: connection {exc}") from None
            if data is None:
                break
            try:
                parsed = _split_datagram(data)
                self._events.extend([parsed] if isinstance(parsed, Audio) else _handset_events(parsed))
            except ValueError as exc:
                self.dropped += 1
                log.warning("handset %s: bad datagram %r dropped: %s", self.path, data[:80], exc)
        return self._events.popleft() if self._events else None

    def hook_off(self) -> None:
        self._send(_json_control({"hook": "off"}))

    def hook_on(self) -> None:
        self._send(_json_control({"hook": "on"}))

    def flash(self) -> None:
        self._send(_json_control({"flash": True}))

    def dtmf(self, digits: str) -> None:
        self._send(_json_control({"dtmf": check_digits(digits)}))

    def __enter__(self) -> SimHandsetLink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _send(self, datagram: bytes) -> None:
        if not self._slot.connected:
            raise SpanError(f"handset link to FXS port at {self.path} is not connected")
        try:
            if not self._slot.send(datagram):
                self.dropped += 1
        except PeerClosed as exc:
            raise SpanError(f"handset link to FXS port at {self.path}: sending {exc}") from None
