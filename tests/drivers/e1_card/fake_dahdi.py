"""A fake DAHDI kernel: the device layer the DAHDI backend is tested against.

There is no E1 card or FXS module in the development environment, so these tests never
touch /dev/dahdi. `FakeDahdi` has the methods of `drivers.e1_card.dahdi_ioctl.DeviceIO`
(open, close, read, write, ioctl, dup2) and answers them the way dahdi-base.c does:

- ioctl request codes and struct layouts are defined here **independently** of the
  driver (its own ``_IOC`` arithmetic, `struct` format strings instead of ctypes), so a
  wrong request number or struct size in the driver fails with ENOTTY or EFAULT;
- DAHDI_SPECIFY binds a /dev/dahdi/channel fd to a channel (ENXIO unknown, EBUSY
  already open); DAHDI_GET_PARAMS answers for the bound channel, or for ``channo`` on
  an unbound fd (/dev/dahdi/ctl); DAHDI_SPANSTAT for ``spanno``, 0 = the fd's span;
- HDLC-FCS channels deliver each frame followed by its 2 FCS bytes, drop frames with a
  bad FCS and queue DAHDI_EVENT_BADFCS instead; on write the last 2 bytes are replaced
  by the FCS computed over the rest (what goes on the line is kept in ``line_tx``);
- while an event is queued, read() and write() fail with errno ELAST (500) until
  DAHDI_GETEVENT takes it; an empty non-blocking channel fails with EAGAIN;
- a write on an audio channel cancels a tone started with DAHDI_SENDTONE.

Test support only: import it as ``from fake_dahdi import FakeDahdi`` (pytest puts the
test file's directory on sys.path).
"""

from __future__ import annotations

import errno
import os
import struct
from collections import deque
from dataclasses import dataclass, field

from drivers.e1_card.dahdi_ioctl import DeviceIO  # the seam's method names only, no layouts

# --- the ABI, written out again from user.h (not imported from the driver) ----------

_W, _R = 1, 2


def ioc(direction: int, nr: int, size: int) -> int:
    return direction << 30 | size << 16 | 0xDA << 8 | nr


INT = struct.Struct("=i")
PARAMS = struct.Struct("=12i40s11iI")  # struct dahdi_params
SPANINFO = struct.Struct("=i20s40s7i5I7i40s40s40s40s2i6s")  # struct dahdi_spaninfo, packed
BUFINFO = struct.Struct("=6i")  # struct dahdi_bufferinfo

REQUESTS: dict[int, str] = {
    ioc(_R, 1, INT.size): "GET_BLOCKSIZE",
    ioc(_W, 1, INT.size): "SET_BLOCKSIZE",
    ioc(_R | _W, 5, PARAMS.size): "GET_PARAMS",
    ioc(_W, 7, INT.size): "HOOK",
    ioc(_R, 8, INT.size): "GETEVENT",
    ioc(_R | _W, 10, SPANINFO.size): "SPANSTAT",
    ioc(_W, 21, INT.size): "SENDTONE",
    ioc(_R, 27, BUFINFO.size): "GET_BUFINFO",
    ioc(_W, 27, BUFINFO.size): "SET_BUFINFO",
    ioc(_W, 38, INT.size): "SPECIFY",
    ioc(_W, 39, INT.size): "SETLAW",
    ioc(_W, 91, INT.size): "TONEDETECT",
}

SIG_CLEAR = 0x80
SIG_HDLCFCS = 0x380
SIG_HARDHDLC = 0x80080
SIG_FXOKS = 0x1020
SIG_FXSKS = 0x2004

ALARM_YELLOW, ALARM_RED, ALARM_BLUE, ALARM_NOTOPEN = 1 << 2, 1 << 3, 1 << 4, 1 << 5
ALARM_LOS, ALARM_LFA = 1 << 8, 1 << 9

EV_ONHOOK, EV_RINGOFFHOOK, EV_WINKFLASH, EV_ALARM, EV_NOALARM = 1, 2, 3, 4, 5
EV_ABORT, EV_OVERRUN, EV_BADFCS, EV_RINGERON, EV_RINGEROFF = 6, 7, 8, 10, 11
EV_PULSEDIGIT, EV_DTMFDOWN, EV_DTMFUP = 1 << 16, 1 << 17, 1 << 18

HOOK_ONHOOK, HOOK_RING, HOOK_RINGOFF = 0, 5, 6

ELAST = 500
CHANNEL_DEV, CTL_DEV = "/dev/dahdi/channel", "/dev/dahdi/ctl"


def fcs16(data: bytes) -> bytes:
    """The HDLC frame check sequence (CRC-16/X.25, RFC 1662), low byte first."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    crc ^= 0xFFFF
    return bytes([crc & 0xFF, crc >> 8])


def _err(code: int, what: str = "") -> OSError:
    text = os.strerror(code)
    return OSError(code, f"{text} ({what})" if what else text)


# --- the simulated system -------------------------------------------------------------


@dataclass
class FakeSpan:
    spanno: int
    name: str
    basechan: int
    totalchans: int
    alarms: int = 0


@dataclass
class FakeChannel:
    channo: int
    spanno: int
    chanpos: int
    sigtype: int
    name: str
    rx: deque[bytes] = field(default_factory=deque)  # what read() will return, in order
    events: deque[int] = field(default_factory=deque)
    written: list[bytes] = field(default_factory=list)  # exactly what write() got
    line_tx: list[bytes] = field(default_factory=list)  # HDLC: frame + real FCS on the line
    hooks: list[int] = field(default_factory=list)  # DAHDI_HOOK arguments, in order
    tones: list[int] = field(default_factory=list)  # DAHDI_SENDTONE arguments
    open_fd: int | None = None
    blocksize: int = 1024
    bufinfo: tuple[int, ...] | None = None
    law: int = 0
    tone: int | None = None
    ringing: bool = False
    offhook: bool = False
    zone_loaded: bool = True
    tonedetect_supported: bool = False
    tonedetect: int = 0
    tx_full: bool = False

    @property
    def hdlc(self) -> bool:
        return self.sigtype in (SIG_HDLCFCS, SIG_HARDHDLC)


@dataclass
class _Fd:
    path: str
    flags: int
    chan: FakeChannel | None = None
    gone: bool = False  # the card went away under this open file


class FakeDahdi(DeviceIO):
    """A DAHDI system with E1 and analog spans; `present=False` has no /dev/dahdi."""

    def __init__(self, *, present: bool = True) -> None:
        self.present = present
        self.spans: dict[int, FakeSpan] = {}
        self.channels: dict[int, FakeChannel] = {}
        self.ioctls: list[tuple[int | None, str]] = []  # (bound channel, request name)
        self._fds: dict[int, _Fd] = {}
        self._next_fd = 100

    # --- building the system ---------------------------------------------------------

    def add_e1_span(
        self, spanno: int, *, basechan: int | None = None, dchan_sig: int = SIG_HDLCFCS
    ) -> FakeSpan:
        """A 31-channel E1 PRI span: chanpos 16 is the D-channel, the rest clear."""
        base = self._next_channo() if basechan is None else basechan
        span = FakeSpan(spanno, f"TE1/0/{spanno}", base, 31)
        self.spans[spanno] = span
        for pos in range(1, 32):
            sig = dchan_sig if pos == 16 else SIG_CLEAR
            self._add_channel(FakeChannel(base + pos - 1, spanno, pos, sig, f"TE1/0/{spanno}/{pos}"))
        return span

    def add_analog_span(self, spanno: int, ports: int, *, sigtype: int = SIG_FXOKS) -> FakeSpan:
        """An analog card span (FXS modules signal with FXO signalling: fxoks)."""
        base = self._next_channo()
        span = FakeSpan(spanno, f"WCTDM/{spanno}", base, ports)
        self.spans[spanno] = span
        for pos in range(1, ports + 1):
            self._add_channel(FakeChannel(base + pos - 1, spanno, pos, sigtype, f"WCTDM/{spanno}/{pos - 1}"))
        return span

    def _next_channo(self) -> int:
        return max(self.channels, default=0) + 1

    def _add_channel(self, chan: FakeChannel) -> None:
        self.channels[chan.channo] = chan

    # --- what the test does on the far side of the card ----------------------------------

    def line_frame(self, channo: int, frame: bytes, *, good_fcs: bool = True) -> None:
        """A frame arrives on an HDLC channel; a bad FCS makes the kernel drop it."""
        chan = self.channels[channo]
        if good_fcs:
            chan.rx.append(frame + fcs16(frame))
        else:
            chan.events.append(EV_BADFCS)

    def line_event(self, channo: int, event: int) -> None:
        self.channels[channo].events.append(event)

    def set_alarms(self, spanno: int, alarms: int) -> None:
        """The span's alarm state changes: every open channel of it gets an event."""
        span = self.spans[spanno]
        span.alarms = alarms
        for chan in self.channels.values():
            if chan.spanno == spanno and chan.open_fd is not None:
                chan.events.append(EV_ALARM if alarms else EV_NOALARM)

    def feed_audio(self, channo: int, block: bytes) -> None:
        self.channels[channo].rx.append(block)

    def hook(self, channo: int, action: str) -> None:
        """The phone on an FXS port: "off", "on" or "flash"."""
        chan = self.channels[channo]
        if action == "off":
            chan.offhook, chan.ringing = True, False  # the card trips the ringer itself
            chan.events.append(EV_RINGOFFHOOK)
        elif action == "on":
            chan.offhook = False
            chan.events.append(EV_ONHOOK)
        elif action == "flash":
            chan.events.append(EV_WINKFLASH)
        else:
            raise ValueError(action)

    def dtmf(self, channo: int, digit: str) -> None:
        """A key press; only reported as events when tone detection was enabled."""
        chan = self.channels[channo]
        if chan.tonedetect:
            chan.events.extend([EV_DTMFDOWN | ord(digit), EV_DTMFUP | ord(digit)])

    def unplug(self, spanno: int) -> None:
        """Surprise removal: the span's open files lose their channel (ENODEV from now on)."""
        for entry in self._fds.values():
            if entry.chan is not None and entry.chan.spanno == spanno:
                entry.chan.open_fd = None
                entry.chan, entry.gone = None, True

    def channel(self, channo: int) -> FakeChannel:
        return self.channels[channo]

    def open_fds(self) -> list[int]:
        return sorted(self._fds)

    # --- the system calls (DeviceIO) -------------------------------------------------

    def open(self, path: str, flags: int) -> int:
        if not self.present or path not in (CHANNEL_DEV, CTL_DEV):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        fd = self._next_fd
        self._next_fd += 1
        self._fds[fd] = _Fd(path, flags)
        return fd

    def close(self, fd: int) -> None:
        entry = self._fds.pop(fd, None)
        if entry is None:
            raise _err(errno.EBADF)
        if entry.chan is not None and not any(e is entry for e in self._fds.values()):
            entry.chan.open_fd = None  # the last descriptor of the file is gone
            entry.chan.ringing = False  # closing hangs the line up

    def dup2(self, fd: int, fd2: int) -> None:
        entry = self._entry(fd)
        if fd2 in self._fds and fd2 != fd:
            self.close(fd2)
        self._fds[fd2] = entry
        if entry.chan is not None:
            entry.chan.open_fd = fd2

    def read(self, fd: int, size: int) -> bytes:
        entry = self._entry(fd)
        chan = entry.chan
        if chan is None:
            raise _err(errno.EINVAL, "read on an unspecified fd")
        if chan.events:
            raise _err(ELAST)
        if not chan.rx:
            if entry.flags & os.O_NONBLOCK:
                raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))
            raise AssertionError(f"blocking read on channel {chan.channo} with nothing queued would hang")
        return chan.rx.popleft()[:size]

    def write(self, fd: int, data: bytes) -> int:
        chan = self._entry(fd).chan
        if chan is None:
            raise _err(errno.EINVAL, "write on an unspecified fd")
        chan.tone = None  # any write stops a kernel tone (dahdi_chan_write)
        if chan.events:
            raise _err(ELAST)
        if chan.tx_full:
            raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))
        amount = min(len(data), chan.blocksize)
        data = bytes(data[:amount])
        chan.written.append(data)
        if chan.hdlc:
            body = data[:-2]
            chan.line_tx.append(body + fcs16(body))
        return amount

    def ioctl(self, fd: int, request: int, buf: bytearray) -> int:
        entry = self._entry(fd)
        if not isinstance(buf, bytearray):
            raise TypeError("DAHDI ioctls take a pointer: pass a mutable buffer")
        name = REQUESTS.get(request)
        try:
            if name is None:
                raise _err(errno.ENOTTY, f"unknown request {request:#x}")
            size = (request >> 16) & 0x3FFF
            if len(buf) != size:
                raise _err(errno.EFAULT, f"{len(buf)}-byte buffer for a {size}-byte {name}")
            getattr(self, f"_ioctl_{name.lower()}")(entry, buf)
        finally:  # logged with the channel the fd is bound to afterwards (SPECIFY's own)
            self.ioctls.append((entry.chan.channo if entry.chan else None, name or hex(request)))
        return 0

    def _entry(self, fd: int) -> _Fd:
        entry = self._fds.get(fd)
        if entry is None:
            raise _err(errno.EBADF)
        if entry.gone:
            raise _err(errno.ENODEV)
        return entry

    @staticmethod
    def _bound(entry: _Fd) -> FakeChannel:
        if entry.chan is None:
            raise _err(errno.EINVAL, "no channel specified on this fd")
        return entry.chan

    # --- ioctl handlers ------------------------------------------------------------------

    def _ioctl_specify(self, entry: _Fd, buf: bytearray) -> None:
        (channo,) = INT.unpack(buf)
        if entry.path != CHANNEL_DEV or entry.chan is not None:
            raise _err(errno.EINVAL)
        chan = self.channels.get(channo)
        if chan is None:
            raise _err(errno.ENXIO)
        if chan.open_fd is not None:
            raise _err(errno.EBUSY)
        # Opening a channel resets it (initialize_channel): no stale events or data.
        chan.open_fd = next(fd for fd, e in self._fds.items() if e is entry)
        chan.events.clear()
        chan.rx.clear()
        chan.blocksize, chan.law, chan.tone, chan.tonedetect = 1024, 0, None, 0
        entry.chan = chan

    def _ioctl_get_params(self, entry: _Fd, buf: bytearray) -> None:
        fields = list(PARAMS.unpack(buf))
        chan = entry.chan or self.channels.get(fields[0] & ~0x40000000)
        if chan is None:
            raise _err(errno.EINVAL)
        law = chan.law or 2  # E1 spans default to A-law
        PARAMS.pack_into(
            buf, 0,
            chan.channo, chan.spanno, chan.chanpos, chan.sigtype, chan.sigtype,
            int(chan.offhook), -1, -1, -1, -1, law, 0, chan.name.encode(),
            50, 50, 150, 750, 1500, 250, 1250, 16, 50, 50, 50, self.spans[chan.spanno].alarms,
        )  # fmt: skip

    def _ioctl_spanstat(self, entry: _Fd, buf: bytearray) -> None:
        (spanno,) = struct.unpack_from("=i", buf)
        if spanno == 0:
            spanno = self._bound(entry).spanno
        span = self.spans.get(spanno)
        if span is None:
            raise _err(errno.EINVAL)
        SPANINFO.pack_into(
            buf, 0,
            span.spanno, span.name.encode(), b"Fake E1 card", span.alarms, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, span.totalchans, span.totalchans, len(self.spans), 0, 0,
            b"0 db (CSU)/0-133 feet (DSX-1)", b"PCI Bus 00 Slot 01", b"Fake", b"Fake E1", 0, 0, b"E1",
        )  # fmt: skip

    def _ioctl_set_blocksize(self, entry: _Fd, buf: bytearray) -> None:
        chan = self._bound(entry)
        (size,) = INT.unpack(buf)
        if not 16 <= size <= 8192:
            raise _err(errno.EINVAL)
        chan.blocksize = size

    def _ioctl_get_blocksize(self, entry: _Fd, buf: bytearray) -> None:
        INT.pack_into(buf, 0, self._bound(entry).blocksize)

    def _ioctl_set_bufinfo(self, entry: _Fd, buf: bytearray) -> None:
        chan = self._bound(entry)
        txpolicy, rxpolicy, numbufs, bufsize, _, _ = BUFINFO.unpack(buf)
        policies_ok = txpolicy in (0, 1, 2) and rxpolicy in (0, 1, 2)
        if not (16 <= bufsize <= 8192 and 2 <= numbufs <= 32 and policies_ok):
            raise _err(errno.EINVAL)
        chan.bufinfo = (txpolicy, rxpolicy, numbufs, bufsize)
        chan.blocksize = bufsize

    def _ioctl_get_bufinfo(self, entry: _Fd, buf: bytearray) -> None:
        chan = self._bound(entry)
        BUFINFO.pack_into(buf, 0, *(chan.bufinfo or (0, 0, 2, chan.blocksize)), len(chan.rx), 0)

    def _ioctl_getevent(self, entry: _Fd, buf: bytearray) -> None:
        chan = self._bound(entry)
        INT.pack_into(buf, 0, chan.events.popleft() if chan.events else 0)

    def _ioctl_hook(self, entry: _Fd, buf: bytearray) -> None:
        chan = self._bound(entry)
        (value,) = INT.unpack(buf)
        if chan.sigtype & SIG_CLEAR or not 0 <= value <= 6:
            raise _err(errno.EINVAL)
        chan.hooks.append(value)
        if value == HOOK_RING:
            chan.ringing = True
        elif value in (HOOK_RINGOFF, HOOK_ONHOOK):
            chan.ringing = False

    def _ioctl_setlaw(self, entry: _Fd, buf: bytearray) -> None:
        chan = self._bound(entry)
        (law,) = INT.unpack(buf)
        if law not in (0, 1, 2):
            raise _err(errno.EINVAL)
        chan.law = law

    def _ioctl_sendtone(self, entry: _Fd, buf: bytearray) -> None:
        chan = self._bound(entry)
        (tone,) = INT.unpack(buf)
        if not chan.zone_loaded:
            raise _err(errno.ENODATA)
        if not -1 <= tone < 16:
            raise _err(errno.EINVAL)
        chan.tones.append(tone)
        chan.tone = None if tone == -1 else tone

    def _ioctl_tonedetect(self, entry: _Fd, buf: bytearray) -> None:
        chan = self._bound(entry)
        if not chan.tonedetect_supported:
            raise _err(errno.ENOTTY)
        (chan.tonedetect,) = INT.unpack(buf)
