"""DAHDI backends: `DahdiSpan` (an E1 PRI span, ``dahdi://N``) and `DahdiFxsPort` (an
analog FXS channel, ``dahdi://chan/N``).

**Never run against a real card.** No DAHDI hardware exists where this was written. The
code follows dahdi-linux's ``include/dahdi/user.h`` and ``dahdi-base.c`` and the way
chan_dahdi / libpri drive a span; it is tested only against the fake kernel in
``tests/drivers/e1_card/fake_dahdi.py``. Check the first box with a card by hand
(dahdi_scan, a call each way) before it carries a hotline.

Span URL: ``dahdi://N`` or ``dahdi://span/N``, optional query ``dchan=C`` (the D-channel's
DAHDI channel number, as in /etc/dahdi/system.conf; without it the span's channels are
scanned with DAHDI_GET_PARAMS on /dev/dahdi/ctl for the one in HDLC-FCS or hardware-HDLC
signalling, normally the first channel + 15) and ``bchannels=L`` (timeslots opened for
media: ``1-15,17-31``, the default, or ``none``; timeslots not opened are idle, 0xD5).

Opening, as chan_dahdi does. D-channel: open /dev/dahdi/channel non-blocking,
DAHDI_SPECIFY, DAHDI_GET_PARAMS (HDLC signalling, span N; timeslot 1 is channel
``channo - chanpos + 1``), DAHDI_SPANSTAT, DAHDI_SET_BUFINFO (immediate policies, 32
buffers of 1,024 bytes: the buffer size is the block size, no DAHDI_SET_BLOCKSIZE).
B-channels: one fd each, DAHDI_SPECIFY, DAHDI_GET_PARAMS (a clear channel),
DAHDI_SET_BLOCKSIZE 160 (20 ms), DAHDI_SETLAW A-law. D-channel read() gives a frame and
its 2 FCS bytes (stripped here); write() takes the frame and 2 placeholder bytes that
DAHDI overwrites with the FCS.

Events: a read or write failing with errno ELAST means an event is queued; DAHDI_GETEVENT
takes it. D-channel: ALARM/NOALARM → DAHDI_SPANSTAT again; ABORT, OVERRUN, BADFCS →
counted (the frame is lost, Q.921 recovers it); REMOVED → down. B-channel events (copies
of the alarm events) are taken and dropped.

Alarms (``dahdi_spaninfo.alarms`` → `SpanAlarms`): the LOS detail bit → los; LFA or LMFA
→ lof; RED without a detail bit → los (the driver does not say which); YELLOW → rai;
BLUE → ais; NOTOPEN (span not started by dahdi_cfg) → los. RECOVER and LOOPBACK set no
flag but keep ``state`` at "alarm". ``dahdi_alarms`` has the raw bits.

Media: a span's channels tick together (160 bytes per 20 ms), so the first opened
B-channel's fd is ``media_fileno`` and read_media() reads the others after it.

Going down: a D-channel error other than EAGAIN/ELAST, or DAHDI_EVENT_REMOVED, makes the
span "down". Its descriptors stay open (their numbers are not reused) until reopen()
opens everything again and dup2()s the new descriptors onto the old numbers, so filenos
stay stable as span.py promises. Media errors raise SpanError but leave the state alone.

FXS (`DahdiFxsPort`): an FXS module has FXO signalling (``fxoks=N``). RINGOFFHOOK →
HookOff, ONHOOK → HookOn, WINKFLASH → Flash, DTMFUP and PULSEDIGIT → Digit (DTMF events
only where the card has a detector: DAHDI_TONEDETECT is tried, with mute; otherwise
digits stay in-band for the media layer). ring() is DAHDI_HOOK DAHDI_RING/DAHDI_RINGOFF;
the card trips the ringer itself on off-hook. tone() is DAHDI_SENDTONE from the tone zone
(load ``cn`` in system.conf); while a tone plays write_audio() drops frames, as any write
cancels a kernel tone. The kernel sends no caller ID: the port writes it as FSK after
the first ring (dahdi_fxs.py, appliance/media/caller_id.py).
"""
from __future__ import annotations

import errno
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

from drivers.e1_card import dahdi_ioctl as kernel
from drivers.e1_card.dahdi_ioctl import (
    ChannelFd,
    DahdiBufferInfo,
    DahdiParams,
    DahdiSpanInfo,
    DeviceIO,
    ioctl_struct,
)
from drivers.e1_card.errors import SpanError
from drivers.e1_card.roles import B_TIMESLOTS
from drivers.e1_card.span import ALAW_IDLE, MEDIA_FRAME_BYTES, SLOT_BYTES, MediaFrame, Span, SpanAlarms

__all__ = ["DahdiFxsPort", "DahdiSpan", "DahdiSpanConfig", "parse_dahdi_span_url", "span_alarms"]

log = logging.getLogger(__name__)

E1_CHANNELS: Final = 31  # DAHDI numbers an E1's timeslots 1-31 as chanpos 1-31
_FCS_BYTES: Final = 2
_DCHAN_NUMBUFS: Final = 32  # what chan_dahdi asks for
_DCHAN_BUFSIZE: Final = 1024
_HDLC_SIGNALLING: Final = (kernel.DAHDI_SIG_HDLCFCS, kernel.DAHDI_SIG_HARDHDLC)
_MAX_BURST: Final = 64  # bounds the loops that skip runt frames
COUNTERS: Final = (
    "bad_fcs", "aborts", "overruns", "runts", "tx_dropped", "media_rx_missed", "media_tx_dropped",
)


@contextmanager
def _context(what: str) -> Iterator[None]:
    """OSError → SpanError("WHAT: [Errno n] reason: 'path'")."""
    try:
        yield
    except OSError as exc:
        raise SpanError(f"{what}: {exc}") from exc


# -- URLs and alarms -------------------------------------------------------------------------


@dataclass(frozen=True)
class DahdiSpanConfig:
    """What a ``dahdi://`` span URL asks for."""

    spanno: int
    dchan: int | None = None  # None: find it by scanning the span's channels
    timeslots: tuple[int, ...] = B_TIMESLOTS


def _parse_timeslots(spec: str, url: str) -> tuple[int, ...]:
    if spec in ("", "none"):
        return ()
    chosen: set[int] = set()
    for part in spec.split(","):
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise ValueError(f"bchannels must be like 1-15,17-31 or none, not {spec!r} in {url!r}")
        chosen.update(range(int(low), int(high or low) + 1))
    bad = sorted(chosen - set(B_TIMESLOTS))
    if bad:
        raise ValueError(f"bchannels {bad} are not E1 B-channel timeslots (1-15, 17-31) in {url!r}")
    return tuple(sorted(chosen))


def parse_dahdi_span_url(url: str) -> DahdiSpanConfig:
    """``dahdi://N[?dchan=C&bchannels=L]`` (or ``dahdi://span/N``); ValueError on anything else."""
    if not isinstance(url, str) or not url.startswith("dahdi://"):
        raise ValueError(f"a DAHDI span URL is dahdi://N, not {url!r}")
    where, _, query = url[len("dahdi://"):].partition("?")
    number = where.removeprefix("span/")
    if not number.isdigit() or int(number) < 1:
        raise ValueError(f"dahdi span URL is dahdi://N with N >= 1, not {url!r}")
    options: dict[str, str] = {}
    for item in filter(None, query.split("&")):
        key, _, value = item.partition("=")
        if key not in ("dchan", "bchannels"):
            raise ValueError(f"unknown option {key!r} in {url!r} (known: dchan, bchannels)")
        options[key] = value
    dchan = options.get("dchan")
    if dchan is not None and (not dchan.isdigit() or not 1 <= int(dchan) <= kernel.DAHDI_MAX_CHANNELS):
        raise ValueError(f"dchan must be a DAHDI channel number, not {dchan!r} in {url!r}")
    timeslots = _parse_timeslots(options["bchannels"], url) if "bchannels" in options else B_TIMESLOTS
    return DahdiSpanConfig(int(number), int(dchan) if dchan else None, timeslots)


def span_alarms(bits: int) -> SpanAlarms:
    """DAHDI's alarm bits as the E1 alarms they mean (mapping in the module docstring)."""
    detail = bits & (kernel.DAHDI_ALARM_LOS | kernel.DAHDI_ALARM_LFA | kernel.DAHDI_ALARM_LMFA)
    red_unexplained = bool(bits & kernel.DAHDI_ALARM_RED) and not detail
    return SpanAlarms(
        los=bool(bits & (kernel.DAHDI_ALARM_LOS | kernel.DAHDI_ALARM_NOTOPEN)) or red_unexplained,
        lof=bool(bits & (kernel.DAHDI_ALARM_LFA | kernel.DAHDI_ALARM_LMFA)),
        ais=bool(bits & kernel.DAHDI_ALARM_BLUE),
        rai=bool(bits & kernel.DAHDI_ALARM_YELLOW),
    )


def _fit(block: bytes) -> bytes:
    """A block as exactly one timeslot's 160 bytes (short reads padded with idle)."""
    return block[:SLOT_BYTES].ljust(SLOT_BYTES, bytes([ALAW_IDLE]))


# -- the span --------------------------------------------------------------------------------


@dataclass
class _Opened:
    dchan: ChannelFd
    dchan_no: int
    basechan: int
    alarm_bits: int
    bchans: dict[int, ChannelFd]  # timeslot → fd, ascending


class DahdiSpan(Span):
    """An E1 PRI span on a DAHDI card; opened at construction (SpanError if it cannot)."""

    def __init__(self, url: str, *, name: str = "", io: DeviceIO | None = None) -> None:
        self._config = parse_dahdi_span_url(url)  # argument checks before any I/O
        super().__init__(url, name)
        self._io = io or DeviceIO()
        self._label = name or str(self._config.spanno)
        self._counters = dict.fromkeys(COUNTERS, 0)
        self._connected = False
        self._closed = False
        self._opened = self._open_all()
        self._connected = True

    # -- read-only properties -------------------------------------------------------------

    @property
    def spanno(self) -> int:
        return self._config.spanno

    @property
    def dchannel(self) -> int:
        """The D-channel's DAHDI channel number."""
        return self._opened.dchan_no

    @property
    def basechan(self) -> int:
        """The DAHDI channel number of timeslot 1."""
        return self._opened.basechan

    @property
    def timeslots(self) -> tuple[int, ...]:
        """The B-channel timeslots open for media."""
        return tuple(self._opened.bchans)

    @property
    def dahdi_alarms(self) -> int:
        """The raw ``dahdi_spaninfo.alarms`` bits as last read."""
        return self._opened.alarm_bits

    @property
    def counters(self) -> dict[str, int]:
        """Frames and blocks lost, by reason (see COUNTERS)."""
        return dict(self._counters)

    @property
    def alarms(self) -> SpanAlarms:
        if not self._connected:
            return SpanAlarms(los=True)
        return span_alarms(self._opened.alarm_bits)

    @property
    def state(self) -> str:
        if not self._connected:
            return "down"
        return "alarm" if self._opened.alarm_bits else "up"

    # -- opening --------------------------------------------------------------------------

    def _open_all(self) -> _Opened:
        opened: list[ChannelFd] = []
        try:
            return self._open_channels(opened)
        except BaseException:
            for chan in opened:
                chan.close()
            raise

    def _open_channels(self, opened: list[ChannelFd]) -> _Opened:
        spanno, label = self._config.spanno, self._label
        dchan_no = self._config.dchan or self._find_dchannel()
        what = f"opening span {label} D-channel"
        with _context(what):
            dchan = ChannelFd(self._io, dchan_no)
            opened.append(dchan)
            params = dchan.params()
            if params.sigtype not in _HDLC_SIGNALLING:
                raise SpanError(
                    f"{what}: channel {dchan_no} is not in HDLC-FCS mode (sigtype {params.sigtype:#x}); "
                    f"set 'dchan={dchan_no}' in /etc/dahdi/system.conf and run dahdi_cfg"
                )
            if params.spanno != spanno:
                raise SpanError(f"{what}: channel {dchan_no} is on span {params.spanno}, not span {spanno}")
            basechan = params.channo - params.chanpos + 1
            info = dchan.ioctl_struct(kernel.DAHDI_SPANSTAT, DahdiSpanInfo(spanno=spanno))
            if info.totalchans != E1_CHANNELS:
                raise SpanError(f"{what}: span {spanno} has {info.totalchans} channels, an E1 has 31")
            policy = kernel.DAHDI_POLICY_IMMEDIATE
            buffers = DahdiBufferInfo(txbufpolicy=policy, rxbufpolicy=policy, numbufs=_DCHAN_NUMBUFS,
                                      bufsize=_DCHAN_BUFSIZE)
            dchan.ioctl_struct(kernel.DAHDI_SET_BUFINFO, buffers)
        bchans: dict[int, ChannelFd] = {}
        for timeslot in self._config.timeslots:
            channo = basechan + timeslot - 1
            what = f"opening span {label} B-channel {timeslot} (DAHDI channel {channo})"
            with _context(what):
                chan = ChannelFd(self._io, channo)
                opened.append(chan)
                sigtype = chan.params().sigtype
                if sigtype != kernel.DAHDI_SIG_CLEAR:
                    raise SpanError(f"{what}: not a clear channel (sigtype {sigtype:#x}); it needs 'bchan='")
                chan.ioctl_int(kernel.DAHDI_SET_BLOCKSIZE, SLOT_BYTES)
                chan.ioctl_int(kernel.DAHDI_SETLAW, kernel.DAHDI_LAW_ALAW)
            bchans[timeslot] = chan
        log.info("span %s: D-channel %d, base channel %d, %d B-channels, alarms %s",
                 label, dchan_no, basechan, len(bchans), span_alarms(info.alarms))
        return _Opened(dchan, dchan_no, basechan, info.alarms, bchans)

    def _find_dchannel(self) -> int:
        """The span's channel in HDLC signalling, found with queries on /dev/dahdi/ctl."""
        spanno, label, io = self._config.spanno, self._label, self._io
        what = f"finding span {label} D-channel"
        with _context(what):
            ctl = io.open(kernel.CTL_DEVICE, os.O_RDWR)
            try:
                try:
                    info = ioctl_struct(io, ctl, kernel.DAHDI_SPANSTAT, DahdiSpanInfo(spanno=spanno))
                except OSError as exc:
                    if exc.errno != errno.EINVAL:
                        raise
                    raise SpanError(f"{what}: DAHDI has no span {spanno} (is the card's driver loaded? "
                                    "dahdi_scan lists the spans)") from exc
                if info.totalchans != E1_CHANNELS:
                    raise SpanError(f"{what}: span {spanno} has {info.totalchans} channels, an E1 has 31")
                return self._scan_for_dchannel(ctl, what)
            finally:
                io.close(ctl)

    def _scan_for_dchannel(self, ctl: int, what: str) -> int:
        spanno, seen = self._config.spanno, 0
        for channo in range(1, kernel.DAHDI_MAX_CHANNELS + 1):
            try:
                params = ioctl_struct(self._io, ctl, kernel.DAHDI_GET_PARAMS, DahdiParams(channo=channo))
            except OSError as exc:
                if exc.errno != errno.EINVAL:  # EINVAL: no such channel
                    raise
                params = None
            if params is None or params.spanno != spanno:
                if seen:  # a span's channels are numbered contiguously: we are past it
                    break
                continue
            seen += 1
            if params.sigtype in _HDLC_SIGNALLING:
                return params.channo
        raise SpanError(f"{what}: no channel of span {spanno} is in HDLC-FCS signalling "
                        "(add 'dchan=' for timeslot 16 to /etc/dahdi/system.conf and run dahdi_cfg)")

    def reopen(self) -> None:
        if self._closed:
            raise SpanError(f"span {self._label} is closed")
        if self._connected:
            return
        fresh = self._open_all()
        old = self._opened
        old.dchan.take_over(fresh.dchan)
        fresh.dchan = old.dchan
        for timeslot, chan in list(fresh.bchans.items()):
            if timeslot in old.bchans:
                old.bchans[timeslot].take_over(chan)
                fresh.bchans[timeslot] = old.bchans[timeslot]
        self._opened = fresh
        self._connected = True
        log.info("span %s: reopened", self._label)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._connected = False
        for chan in (self._opened.dchan, *self._opened.bchans.values()):
            chan.close()

    # -- D-channel --------------------------------------------------------------------------

    def dchannel_fileno(self) -> int:
        if self._closed:
            raise SpanError(f"span {self._label} is closed")
        return self._opened.dchan.fd

    @contextmanager
    def _dchannel_io(self, verb: str) -> Iterator[None]:
        """An OSError on the D-channel means the span is gone: down, and say so."""
        try:
            yield
        except OSError as exc:
            self._connected = False
            raise SpanError(f"{verb} span {self._label} D-channel: {exc}") from exc

    def read_dchannel(self) -> bytes | None:
        if not self._connected:
            return None
        for _ in range(_MAX_BURST):
            with self._dchannel_io("reading"):
                data = self._opened.dchan.read(_DCHAN_BUFSIZE)
                self._handle_dchannel_events()
            if data is None:
                return None
            if len(data) <= _FCS_BYTES:  # nothing but an FCS: not a frame
                self._counters["runts"] += 1
                continue
            return data[:-_FCS_BYTES]
        return None

    def write_dchannel(self, frame: bytes) -> None:
        if not 3 <= len(frame) <= _DCHAN_BUFSIZE - _FCS_BYTES:
            raise ValueError(f"a LAPD frame is 3 to {_DCHAN_BUFSIZE - _FCS_BYTES} bytes, not {len(frame)}")
        if not self._connected:
            raise SpanError(f"writing span {self._label} D-channel: the span is down")
        with self._dchannel_io("writing"):
            sent = self._opened.dchan.write(bytes(frame) + bytes(_FCS_BYTES))  # DAHDI fills in the FCS
            self._handle_dchannel_events()
        if not sent:  # all 32 buffers full: the line is not draining; T200 will resend
            self._counters["tx_dropped"] += 1

    def _handle_dchannel_events(self) -> None:
        events = self._opened.dchan.events
        while events:
            event = events.popleft()
            if event in (kernel.DAHDI_EVENT_ALARM, kernel.DAHDI_EVENT_NOALARM):
                self._refresh_alarms()
            elif event == kernel.DAHDI_EVENT_BADFCS:
                self._counters["bad_fcs"] += 1
            elif event == kernel.DAHDI_EVENT_ABORT:
                self._counters["aborts"] += 1
            elif event == kernel.DAHDI_EVENT_OVERRUN:
                self._counters["overruns"] += 1
            elif event == kernel.DAHDI_EVENT_REMOVED:
                self._connected = False
                raise SpanError(f"span {self._label} D-channel: the device was removed (card or driver gone)")
            else:
                log.debug("span %s: D-channel event %d ignored", self._label, event)

    def _refresh_alarms(self) -> None:
        opened = self._opened
        info = opened.dchan.ioctl_struct(kernel.DAHDI_SPANSTAT, DahdiSpanInfo(spanno=self._config.spanno))
        if info.alarms != opened.alarm_bits:
            log.warning("span %s: alarms %s (DAHDI bits %#x)",
                        self._label, span_alarms(info.alarms), info.alarms)
        opened.alarm_bits = info.alarms

    # -- media ------------------------------------------------------------------------------

    def media_fileno(self) -> int | None:
        bchans = self._opened.bchans
        return next(iter(bchans.values())).fd if bchans and not self._closed else None

    def _bchannel_read(self, timeslot: int, chan: ChannelFd) -> bytes | None:
        with _context(f"reading span {self._label} B-channel {timeslot}"):
            data = chan.read(SLOT_BYTES)
        self._drop_bchannel_events(timeslot, chan)
        return data

    def _drop_bchannel_events(self, timeslot: int, chan: ChannelFd) -> None:
        while chan.events:
            if chan.events.popleft() == kernel.DAHDI_EVENT_REMOVED:
                raise SpanError(f"span {self._label} B-channel {timeslot}: the device was removed")

    def read_media(self) -> bytes | None:
        if not self._connected or not self._opened.bchans:
            return None
        (clock_slot, clock), *others = self._opened.bchans.items()
        block = self._bchannel_read(clock_slot, clock)
        if block is None:
            return None
        frame = MediaFrame()
        frame[clock_slot] = _fit(block)
        for timeslot, chan in others:
            data = self._bchannel_read(timeslot, chan)
            if data is None:  # this channel's block is late: idle for this tick
                self._counters["media_rx_missed"] += 1
            else:
                frame[timeslot] = _fit(data)
        return bytes(frame)

    def write_media(self, buf: bytes) -> None:
        if len(buf) != MEDIA_FRAME_BYTES:
            raise ValueError(f"a media frame is {MEDIA_FRAME_BYTES} bytes, not {len(buf)}")
        if not self._connected:
            return
        for timeslot, chan in self._opened.bchans.items():
            with _context(f"writing span {self._label} B-channel {timeslot}"):
                sent = chan.write(bytes(buf[timeslot * SLOT_BYTES:(timeslot + 1) * SLOT_BYTES]))
            self._drop_bchannel_events(timeslot, chan)
            if not sent:
                self._counters["media_tx_dropped"] += 1


# The FXS port lives in its own module; imported last (it uses this module's helpers).
from drivers.e1_card.dahdi_fxs import DahdiFxsPort  # noqa: E402
