"""Simulated E1 span over AF_UNIX SOCK_SEQPACKET sockets (CONTRACTS §3).

The telco side (:class:`SimSpanServer`, or libpri) owns DIR and listens on
``DIR/dchan`` — one LAPD frame + 2 FCS bytes per datagram (we send ``00 00`` and ignore
what arrives) — and ``DIR/media`` — 5,120-byte frame buffers, clocked by the network
every 20 ms and answered one for one by the box. The box side (:class:`SimSpan`)
connects and, through ``reopen()``, reconnects.

Alarms, an extension that leaves §3 untouched: the server also listens on ``DIR/ctl``;
each datagram there is UTF-8 JSON ``{"alarms": ["ais", …]}`` — the full set the box now
sees, resent whenever it changes and to every box that connects. The box connects
``ctl`` and ``media`` only if present, so a libpri network side works without them.
While the server signals los/lof/ais the line is cut: it neither sends nor takes
D-channel frames or media. Losing the ``dchan`` connection is LOS: the box's span is
"down" with ``alarms.los`` set, and the read or write that found out raises SpanError.

Every object hands out epoll fds for asyncio's ``add_reader`` that stay the same across
reconnects (the box's ctl socket shares the D-channel's, so an alarm change wakes the
D-channel reader; the server's listeners share them too, so a connecting box does).
A full send buffer drops the datagram (counted in ``dropped``): LAPD retransmits.

The FXS simulator lives in :mod:`drivers.e1_card.sim_fxs`; its classes are re-exported
here.
"""

from __future__ import annotations

import json
import logging
import os
import select
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from drivers.e1_card.errors import SpanError
from drivers.e1_card.seqpacket import PeerClosed, Slot
from drivers.e1_card.sim_fxs import CallerId, HandsetEvent, Ring, SimFxsPort, SimHandsetLink, Tone
from drivers.e1_card.span import (
    LOS,
    MEDIA_FRAME_BYTES,
    NO_ALARMS,
    Span,
    SpanAlarms,
    parse_span_url,
    span_state,
)

__all__ = [
    "CallerId",
    "HandsetEvent",
    "Ring",
    "SimFxsPort",
    "SimHandsetLink",
    "SimSpan",
    "SimSpanServer",
    "Tone",
    "decode_ctl_alarms",
    "encode_ctl_alarms",
]

log = logging.getLogger("anxin.pri.sim")

FCS_FILL: Final = b"\x00\x00"
MAX_FRAME: Final = 1024  # far above N201 + header: anything bigger is a bug, not a frame


def _sim_dir(url_or_dir: str | os.PathLike[str]) -> tuple[str, Path]:
    """(url, directory) from "sim:///DIR" or a plain path."""
    text = os.fspath(url_or_dir)
    if text.startswith("sim://"):
        return text, Path(parse_span_url(text)[1])
    directory = Path(text).absolute()
    return f"sim://{directory}", directory


def encode_ctl_alarms(alarms: SpanAlarms) -> bytes:
    """One DIR/ctl datagram: the full alarm set the box now sees."""
    return json.dumps({"alarms": list(alarms.names)}).encode()


def decode_ctl_alarms(data: bytes) -> SpanAlarms:
    """The alarms in one DIR/ctl datagram; ValueError (incl. bad JSON/UTF-8) if it is not one."""
    message = json.loads(data.decode("utf-8"))
    if not isinstance(message, dict) or "alarms" not in message:
        raise ValueError(f"expected {{\"alarms\": [...]}}, got {message!r}")
    return SpanAlarms.from_names(message["alarms"])


class _SimEnd(Span):
    """What both ends of the simulated line share: the epolls, the slots and reading media."""

    def __init__(self, url: str, name: str) -> None:
        super().__init__(url, name)
        self._dwatch, self._mwatch = select.epoll(), select.epoll()
        self._slots: list[Slot] = []  # every connection, D-channel first
        self._closed = False
        self.dropped = 0

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for slot in self._slots:
            slot.close()
        self._dwatch.close()
        self._mwatch.close()

    def _drop_slots(self) -> None:
        # Everything goes with the D-channel: the next connection starts afresh.
        for slot in self._slots:
            slot.drop()

    def _recv_media(self, media: Slot) -> bytes | None:
        """A whole frame buffer or None; a lost media connection only logs (signalling goes on)."""
        while True:
            try:
                data = media.recv(MEDIA_FRAME_BYTES + 1)
            except PeerClosed as exc:
                log.info("span %s: media connection %s", self.name, exc)
                return None
            if data is None:
                return None
            if len(data) == MEDIA_FRAME_BYTES:
                return data
            self.dropped += 1
            log.warning("span %s: %d-byte media datagram dropped", self.name, len(data))

    def _check_open(self) -> None:
        if self._closed:
            raise SpanError(f"span {self.name} is closed")


# -- the span, box side ---------------------------------------------------------------------------


class SimSpan(_SimEnd):
    """The box's end of a simulated E1 (connects to DIR/dchan, and DIR/media, DIR/ctl if there)."""

    def __init__(self, url: str | os.PathLike[str], *, name: str = "") -> None:
        url_text, directory = _sim_dir(url)
        super().__init__(url_text, name)
        self.directory = directory
        # ctl shares the D-channel's fd so alarm changes wake the shell's D-channel reader.
        self._dchan = Slot(directory / "dchan", "D-channel", self._dwatch)
        self._ctl = Slot(directory / "ctl", "alarm control", self._dwatch)
        self._media = Slot(directory / "media", "media", self._mwatch)
        self._slots = [self._dchan, self._ctl, self._media]
        self._alarms = NO_ALARMS
        self._down_reason = "not connected yet"
        try:
            self.reopen()
        except SpanError as exc:  # the telco may come later: "down" until reopen() succeeds
            log.info("%s", exc)

    def reopen(self) -> None:
        self._check_open()
        if not self._dchan.connected:
            try:
                self._dchan.connect()
            except OSError as exc:
                self._down_reason = (f"connecting span {self.name} D-channel at {self._dchan.path}: "
                                     f"{exc.strerror or exc}")
                raise SpanError(self._down_reason) from exc
            self._alarms = NO_ALARMS
            log.info("span %s: connected to %s", self.name, self.directory)
        for optional in (self._media, self._ctl):
            if not optional.connected:
                try:
                    optional.connect()
                except OSError as exc:
                    log.debug("span %s: no %s at %s: %s", self.name, optional.label, optional.path, exc)

    def dchannel_fileno(self) -> int:
        self._check_open()
        return self._dwatch.fileno()

    def read_dchannel(self) -> bytes | None:
        self._check_open()
        self._drain_ctl()
        while True:
            try:
                data = self._dchan.recv(MAX_FRAME + len(FCS_FILL))
            except PeerClosed as exc:
                reason = f"span {self.name} D-channel at {self._dchan.path}: connection {exc}"
                raise self._lost(reason) from None
            if data is None:
                return None
            if len(data) > len(FCS_FILL):
                return data[:-len(FCS_FILL)]
            self.dropped += 1
            if data:
                log.warning("span %s: %d-byte D-channel datagram dropped (no frame before the FCS)",
                            self.name, len(data))

    def write_dchannel(self, frame: bytes) -> None:
        self._check_open()
        if not 0 < len(frame) <= MAX_FRAME:
            raise ValueError(f"a LAPD frame is 1-{MAX_FRAME} bytes, not {len(frame)}")
        if not self._dchan.connected:
            raise SpanError(f"span {self.name} is down: {self._down_reason}")
        try:
            sent = self._dchan.send(bytes(frame) + FCS_FILL)
        except PeerClosed as exc:
            raise self._lost(f"span {self.name} D-channel at {self._dchan.path}: sending {exc}") from None
        if not sent:
            self.dropped += 1
            log.warning("span %s: D-channel send buffer full, frame dropped", self.name)

    def media_fileno(self) -> int | None:
        self._check_open()
        return self._mwatch.fileno()

    def read_media(self) -> bytes | None:
        """A frame buffer or None; a lost media connection only logs (signalling goes on)."""
        self._check_open()
        return self._recv_media(self._media)

    def write_media(self, buf: bytes) -> None:
        self._check_open()
        if len(buf) != MEDIA_FRAME_BYTES:
            raise ValueError(f"a media frame is {MEDIA_FRAME_BYTES} bytes, not {len(buf)}")
        try:
            if not self._media.send(bytes(buf)) and self._media.connected:
                self.dropped += 1
        except PeerClosed as exc:
            log.info("span %s: media connection %s", self.name, exc)

    @property
    def media_connected(self) -> bool:
        return self._media.connected

    @property
    def alarms(self) -> SpanAlarms:
        if self._closed or not self._dchan.connected:
            return LOS
        self._drain_ctl()
        return self._alarms

    @property
    def state(self) -> str:
        return span_state(not self._closed and self._dchan.connected, self.alarms)

    def close(self) -> None:
        super().close()
        self._down_reason = "closed"

    def _lost(self, reason: str) -> SpanError:
        self._drop_slots()
        self._alarms = NO_ALARMS
        self._down_reason = reason
        log.info("%s", reason)
        return SpanError(reason)

    def _drain_ctl(self) -> None:
        while True:
            try:
                data = self._ctl.recv(4096)
            except PeerClosed:
                self._alarms = NO_ALARMS
                return
            if data is None:
                return
            try:
                self._alarms = decode_ctl_alarms(data)
            except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
                log.warning("span %s: bad alarm datagram %r dropped: %s", self.name, data[:80], exc)


# -- the span, network (telco) side ------------------------------------------------------------


class SimSpanServer(_SimEnd):
    """The telco's end: owns DIR, listens, serves one box at a time, clocks the media.

    As a Span it can sit under a network-role PriSpan; ``send_media`` is its 20 ms tick,
    ``send_alarms`` what the box will see on its receive side. Its own ``alarms`` is LOS
    while no box is connected.
    """

    def __init__(self, directory: str | os.PathLike[str], *, name: str = "", media: bool = True,
                 ctl: bool = True) -> None:
        url, path = _sim_dir(directory)
        super().__init__(url, name)
        self.directory = path
        self._dchan = Slot(path / "dchan", "D-channel", self._dwatch)
        self._ctl = Slot(path / "ctl", "alarm control", self._dwatch) if ctl else None
        self._media = Slot(path / "media", "media", self._mwatch) if media else None
        self._slots = [s for s in (self._dchan, self._ctl, self._media) if s is not None]
        self._sent = NO_ALARMS
        try:
            path.mkdir(parents=True, exist_ok=True)
            for slot in self._slots:
                slot.listen()
        except OSError as exc:
            self.close()
            raise SpanError(f"listening for span {self.name} at {path}: {exc.strerror or exc}") from exc
        log.info("span %s: waiting for a box at %s", self.name, path)

    @property
    def connected(self) -> bool:
        self._accept()
        return self._dchan.connected

    @property
    def media_connected(self) -> bool:
        self._accept()
        return self._media is not None and self._media.connected

    def reopen(self) -> None:
        """Take a waiting box, if any; SpanError while none is connected."""
        self._check_open()
        if not self.connected:
            raise SpanError(f"span {self.name}: no box connected at {self._dchan.path}")

    def dchannel_fileno(self) -> int:
        self._check_open()
        return self._dwatch.fileno()  # includes the listeners: a connecting box wakes the reader

    def read_dchannel(self) -> bytes | None:
        self._check_open()
        self._accept()
        while True:
            try:
                data = self._dchan.recv(MAX_FRAME + len(FCS_FILL))
            except PeerClosed as exc:
                reason = f"span {self.name} D-channel at {self._dchan.path}: box connection {exc}"
                self._drop_slots()
                log.info("%s", reason)
                raise SpanError(reason) from None
            if data is None:
                return None
            if len(data) <= len(FCS_FILL):
                self.dropped += 1
                log.warning("span %s: %d-byte D-channel datagram dropped", self.name, len(data))
            elif not self._sent.signal_lost:  # with the line cut, the box's frames are lost
                return data[:-len(FCS_FILL)]

    def write_dchannel(self, frame: bytes) -> None:
        self._check_open()
        if not 0 < len(frame) <= MAX_FRAME:
            raise ValueError(f"a LAPD frame is 1-{MAX_FRAME} bytes, not {len(frame)}")
        if not self.connected:
            raise SpanError(f"span {self.name}: no box connected at {self._dchan.path}")
        if self._sent.signal_lost:
            return
        try:
            if not self._dchan.send(bytes(frame) + FCS_FILL):
                self.dropped += 1
        except PeerClosed as exc:
            self._drop_slots()
            raise SpanError(f"span {self.name} D-channel at {self._dchan.path}: sending {exc}") from None

    def media_fileno(self) -> int | None:
        self._check_open()
        return None if self._media is None else self._mwatch.fileno()

    def send_media(self, buf: bytes) -> bool:
        """The line's 20 ms tick: one frame buffer to the box; False if it went nowhere."""
        self._check_open()
        if len(buf) != MEDIA_FRAME_BYTES:
            raise ValueError(f"a media frame is {MEDIA_FRAME_BYTES} bytes, not {len(buf)}")
        if self._media is None or self._sent.signal_lost:
            return False
        self._media.accept()
        try:
            sent = self._media.send(bytes(buf))
        except PeerClosed as exc:
            log.info("span %s: media connection %s", self.name, exc)
            return False
        if not sent and self._media.connected:
            self.dropped += 1
        return sent

    def write_media(self, buf: bytes) -> None:
        """Not sent: the network clocks the line with send_media().

        A generic shell answers each frame it reads through write_media(); on this side
        that would echo every answer of the box back to it and flood the line.
        """
        if len(buf) != MEDIA_FRAME_BYTES:
            raise ValueError(f"a media frame is {MEDIA_FRAME_BYTES} bytes, not {len(buf)}")

    def read_media(self) -> bytes | None:
        """The box's answer to a tick (a 5,120-byte buffer), or None."""
        self._check_open()
        if self._media is None:
            return None
        self._media.accept()
        return self._recv_media(self._media)

    def send_alarms(self, alarms: SpanAlarms | Iterable[str]) -> None:
        """Signal layer-1 alarms to the box (SpanAlarms() or [] clears them)."""
        self._check_open()
        self._sent = alarms if isinstance(alarms, SpanAlarms) else SpanAlarms.from_names(alarms)
        log.info("span %s: signalling alarms %s to the box", self.name, self._sent)
        self._send_ctl()

    @property
    def sent_alarms(self) -> SpanAlarms:
        return self._sent

    @property
    def alarms(self) -> SpanAlarms:
        return NO_ALARMS if not self._closed and self.connected else LOS

    @property
    def state(self) -> str:
        return span_state(not self._closed and self.connected, self.alarms)

    def _accept(self) -> None:
        if self._closed:
            return
        if self._dchan.accept():
            log.info("span %s: box connected", self.name)
        if self._ctl is not None:
            if self._ctl.accept():
                self._send_ctl()  # a (re)connecting box learns the current alarms
            try:
                while self._ctl.recv(4096) is not None:
                    pass  # the box has nothing to say here; drained so the fd goes quiet
            except PeerClosed:
                pass
        if self._media is not None:
            self._media.accept()

    def _send_ctl(self) -> None:
        if self._ctl is None:
            return
        try:
            self._ctl.send(encode_ctl_alarms(self._sent))
        except PeerClosed:
            pass
