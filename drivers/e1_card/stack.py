"""`PriSpan`: the asyncio shell that runs Q.921 + Q.931 over one span backend.

Thin on purpose: it moves bytes between the backend and the cores, feeds them the loop
clock, keeps layer 2 up (a PRI's data link is permanent: whenever it is released or fails
the shell establishes it again), taps the D-channel into a pcap when asked, applies the
span's number translation at the edge, and hands every call event to the application
on one queue. Call and link decisions all live in the cores.

Media: a line-clocked span (CONTRACTS §3) delivers one 32-timeslot frame buffer every
20 ms; the shell answers each with one of the same layout built from the per-timeslot
transmit queues (idle 0xD5 where nothing is queued) and offers what it received to the
media taps. So the line, not a local timer, clocks the box's audio.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from drivers.e1_card.errors import LocalProtocolError, SpanError
from drivers.e1_card.g711 import ALAW_IDLE, FRAME_SAMPLES
from drivers.e1_card.lapd.events import DataIndication, Established, LinkEvent, MdlError, Released
from drivers.e1_card.lapd.link import DataLink
from drivers.e1_card.numbering import NumberPlan
from drivers.e1_card.pcap import LapdPcapWriter
from drivers.e1_card.q931 import events as q931_events
from drivers.e1_card.q931.interface import Q931
from drivers.e1_card.q931.numbers import ton_from_name, ton_name
from drivers.e1_card.roles import B_TIMESLOTS, Role, check_role
from drivers.e1_card.span import MediaFrame, Span

log = logging.getLogger("anxin.pri")

RECONNECT_DELAY = 1.0   # between attempts to reach a span that went away
MAX_TX_FRAMES = 50      # 1 s of audio queued per timeslot at most: the rest is dropped


@dataclass(frozen=True)
class LinkStateChanged:
    """Layer 2 came up or went down (span name, up, why) — for logs, health and the bus."""

    span: str
    up: bool
    reason: str = ""


MediaTap = Callable[[bytes], None]  # called with each received 5,120-byte frame buffer


class PriSpan:
    """One E1 PRI span: backend + data link + Q.931, driven by the running loop."""

    def __init__(self, span: Span, role: Role, *, name: str | None = None,
                 numbering: NumberPlan | None = None, capture: Path | None = None,
                 q931_options: dict[str, Any] | None = None,
                 lapd_options: dict[str, Any] | None = None,
                 reconnect_delay: float = RECONNECT_DELAY) -> None:
        self.span = span
        self.role: Role = check_role(role)
        self.name = name or span.name or span.url
        self.numbering = numbering or NumberPlan()
        self.events: asyncio.Queue[object] = asyncio.Queue()
        self._lapd_options = lapd_options or {}
        self.reconnect_delay = reconnect_delay
        self.link = DataLink(self.role, **self._lapd_options)
        self.q931 = Q931(self.role, **(q931_options or {}))
        self._capture: LapdPcapWriter | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._readers: list[int] = []
        self._closed = False
        self._link_up = False
        self._reconnecting: asyncio.Task[None] | None = None
        self._tx: dict[int, deque[bytes]] = {ts: deque() for ts in B_TIMESLOTS}
        self.media_taps: list[MediaTap] = []
        self.frames_in = self.frames_out = 0
        self.bytes_in = self.bytes_out = 0  # D-channel, without FCS
        if capture is not None:
            self.start_capture(capture)

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Watch the backend and bring layer 2 up (SABME); returns at once."""
        self._loop = asyncio.get_running_loop()
        self._watch()
        self._now_do(lambda now: self.link.establish(now))

    async def close(self) -> None:
        self._closed = True
        if self._reconnecting:
            self._reconnecting.cancel()
        self._unwatch()
        if self._timer:
            self._timer.cancel()
        self.stop_capture()
        self.span.close()

    @property
    def link_up(self) -> bool:
        return self._link_up

    async def wait_link_up(self, timeout: float = 10.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not self._link_up:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"span {self.name}: layer 2 not up within {timeout} s")
            await asyncio.sleep(0.01)

    # -- capture (a technician's signalling trace) ----------------------------------------

    def start_capture(self, path: Path) -> None:
        self.stop_capture()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._capture = LapdPcapWriter(path)
        log.info("span %s: D-channel capture to %s", self.name, path)

    def stop_capture(self) -> None:
        if self._capture is not None:
            self._capture.close()
            self._capture = None

    @property
    def capturing(self) -> Path | None:
        return None if self._capture is None else self._capture.path

    # -- call control (delegated to Q.931, then flushed) ----------------------------------

    def setup(self, called: str, calling: str | None = None, **options: Any) -> int:
        """Place a call (Q931.setup options); the span's "out" rules rewrite both numbers."""
        called, ton = self.numbering.translate("out", "called", called,
                                               ton_name(options.get("called_ton", 0)))
        options["called_ton"] = ton_from_name(ton)
        if calling is not None:
            calling, ton = self.numbering.translate("out", "calling", calling,
                                                    ton_name(options.get("calling_ton", 0)))
            options["calling_ton"] = ton_from_name(ton)
        return self._now_do(lambda now: self.q931.setup(called, calling, now=now, **options))

    def proceeding(self, call_id: int) -> None:
        self._now_do(lambda now: self.q931.proceeding(call_id, now))

    def alerting(self, call_id: int, inband: bool = False) -> None:
        self._now_do(lambda now: self.q931.alerting(call_id, now, inband=inband))

    def progress(self, call_id: int) -> None:
        self._now_do(lambda now: self.q931.progress(call_id, now))

    def answer(self, call_id: int) -> None:
        self._now_do(lambda now: self.q931.answer(call_id, now))

    def information(self, call_id: int, digits: str) -> None:
        self._now_do(lambda now: self.q931.information(call_id, digits, now))

    def hangup(self, call_id: int, cause: int = 16) -> None:
        self._now_do(lambda now: self.q931.hangup(call_id, cause, now=now))

    def restart(self, timeslots: tuple[int, ...] | None = None) -> None:
        self._now_do(lambda now: self.q931.restart(timeslots, now))

    def drop_link(self) -> None:
        """Release layer 2 (DISC) as a line fault would; the shell brings it back."""
        self._now_do(lambda now: self.link.release(now))

    # -- media ----------------------------------------------------------------------------

    def play(self, timeslot: int, alaw: bytes) -> None:
        """Queue A-law audio for TIMESLOT, sent 160 bytes per line tick."""
        queue = self._tx_queue(timeslot)
        for offset in range(0, len(alaw), FRAME_SAMPLES):
            chunk = alaw[offset:offset + FRAME_SAMPLES]
            if len(queue) >= MAX_TX_FRAMES:
                queue.popleft()  # a slow producer loses old audio, never the clock
            queue.append(chunk.ljust(FRAME_SAMPLES, bytes([ALAW_IDLE])))

    def clear_audio(self, timeslot: int) -> None:
        self._tx_queue(timeslot).clear()

    def _tx_queue(self, timeslot: int) -> deque[bytes]:
        try:
            return self._tx[timeslot]
        except KeyError:
            raise ValueError(f"timeslot {timeslot} is not a B-channel (1-15, 17-31)") from None

    def _answer_media(self) -> bytes:
        out = MediaFrame()
        for ts, queue in self._tx.items():
            if queue:
                out[ts] = queue.popleft()
        return bytes(out)

    # -- the pump ---------------------------------------------------------------------------

    def _now_do(self, action: Callable[[float], Any]) -> Any:
        now = self._clock()
        result = action(now)
        self._pump(now)
        return result

    def _clock(self) -> float:
        return (self._loop or asyncio.get_running_loop()).time()

    def _pump(self, now: float) -> None:
        """Move everything the cores produced until both are quiet, then re-arm the timer."""
        while True:
            busy = False
            for message in self.q931.messages_to_send():
                busy = True
                try:
                    self.link.send_data(message, now)
                except LocalProtocolError as exc:  # a core bug must not stop the other calls
                    log.error("span %s: message not sent: %s", self.name, exc)
            for frame in self.link.frames_to_send():
                busy = True
                self._send_frame(frame)
            while (event := self.link.next_event()) is not None:
                busy = True
                self._on_link_event(event, now)
            while (event := self.q931.next_event()) is not None:
                busy = True
                self.events.put_nowait(self._translate_in(event))
            if not busy:
                break
        self._arm_timer()

    def _on_link_event(self, event: LinkEvent, now: float) -> None:
        if isinstance(event, DataIndication):
            self.q931.receive(event.payload, now)
        elif isinstance(event, Established):
            self._set_link(True, "re-established" if event.reestablished else "established")
            self.q931.link_established(now, reestablished=event.reestablished)
        elif isinstance(event, Released):
            self._set_link(False, "released")
            self.q931.link_released(now)
            if not self._closed:
                # PRI keeps layer 2 up: ask again (T200/N200 pace the retries).
                self.link.establish(now)
        elif isinstance(event, MdlError):
            log.warning("span %s: Q.921 error %s: %s", self.name, event.code, event.text)

    def _set_link(self, up: bool, reason: str) -> None:
        if up != self._link_up:
            self._link_up = up
            log.info("span %s: D-channel %s (%s)", self.name, "up" if up else "down", reason)
            self.events.put_nowait(LinkStateChanged(self.name, up, reason))

    def _translate_in(self, event: object) -> object:
        if isinstance(event, q931_events.IncomingCall):
            calling, calling_ton = event.calling, event.calling_ton
            if calling:
                calling, calling_ton = self.numbering.translate("in", "calling", calling, calling_ton)
            called, called_ton = self.numbering.translate("in", "called", event.called or "",
                                                          event.called_ton)
            return replace(event, calling=calling, called=called, calling_ton=calling_ton,
                           called_ton=called_ton)
        return event

    def _arm_timer(self) -> None:
        if self._timer:
            self._timer.cancel()
            self._timer = None
        deadlines = [t for t in (self.link.get_timer(), self.q931.get_timer()) if t is not None]
        if deadlines and not self._closed:
            self._timer = (self._loop or asyncio.get_running_loop()).call_at(min(deadlines), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        now = self._clock()
        try:
            self.link.handle_timer(now)
            self.q931.handle_timer(now)
            self._pump(now)
        finally:
            self._arm_timer()  # whatever happened, the timers keep running

    # -- backend I/O ----------------------------------------------------------------------

    def _send_frame(self, frame: bytes) -> None:
        try:
            self.span.write_dchannel(frame)
        except SpanError as exc:
            self._lost(str(exc))
            return
        # Only what went out on the line is in the trace.
        if self._capture is not None:
            self._capture.write(frame, sent=True, role=self.role)
        self.frames_out += 1
        self.bytes_out += len(frame)

    def _on_dchannel(self) -> None:
        now = self._clock()
        try:
            while (frame := self.span.read_dchannel()) is not None:
                self.frames_in += 1
                self.bytes_in += len(frame)
                if self._capture is not None:
                    self._capture.write(frame, sent=False, role=self.role)
                self.link.receive_frame(frame, now)
        except SpanError as exc:
            self._lost(str(exc))
            return
        self._pump(now)

    def _on_media(self) -> None:
        try:
            while (frame := self.span.read_media()) is not None:
                for tap in self.media_taps:
                    try:
                        tap(frame)
                    except Exception:  # a faulty tap loses its audio, never the line's clock
                        log.exception("span %s: media tap %r failed", self.name, tap)
                self.span.write_media(self._answer_media())
        except SpanError as exc:
            log.info("span %s: media: %s", self.name, exc)

    def _watch(self) -> None:
        loop = self._loop or asyncio.get_running_loop()
        fd = self.span.dchannel_fileno()
        loop.add_reader(fd, self._on_dchannel)
        self._readers = [fd]
        media = self.span.media_fileno()
        if media is not None:
            loop.add_reader(media, self._on_media)
            self._readers.append(media)

    def _unwatch(self) -> None:
        loop = self._loop or asyncio.get_running_loop()
        for fd in self._readers:
            loop.remove_reader(fd)
        self._readers = []

    def _lost(self, why: str) -> None:
        """The backend went away (sim peer gone, device error): layer 2 is down with it."""
        if self._closed or self._reconnecting:
            return
        log.warning("span %s: %s", self.name, why)
        self._unwatch()
        now = self._clock()
        self.link = DataLink(self.role, **self._lapd_options)
        self._set_link(False, why)
        self.q931.link_released(now)
        self._pump(now)
        self._reconnecting = asyncio.ensure_future(self._reconnect())

    async def _reconnect(self) -> None:
        while not self._closed:
            await asyncio.sleep(self.reconnect_delay)
            try:
                self.span.reopen()
            except SpanError as exc:
                log.debug("span %s: still away: %s", self.name, exc)
                continue
            self._reconnecting = None
            self._watch()
            self._now_do(lambda now: self.link.establish(now))
            return

