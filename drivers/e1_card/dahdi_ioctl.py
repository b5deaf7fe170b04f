"""The DAHDI kernel interface: ioctl request codes, struct layouts, constants, and the
`DeviceIO` seam through which every system call of the DAHDI backend goes.

Everything here follows dahdi-linux's ``include/dahdi/user.h`` (the userspace ABI, which
has been stable since DAHDI 2.x). Request codes are computed from the struct sizes with
the Linux ``_IOC`` formula, never typed in as numbers, so a struct that grows or shrinks
changes the code the same way the C headers would.

The encoding is the asm-generic one (``dir << 30 | size << 16 | type << 8 | nr``, 14
size bits, write = 1, read = 2), used by x86, ARM, arm64 and RISC-V; PowerPC, MIPS,
SPARC and Alpha encode differently and are not supported (the box is x86-64 or ARM).

No card exists in the development environment: this module is exercised against the
fake device layer in ``tests/drivers/e1_card/fake_dahdi.py``, which decodes the same
bytes with its own independent layouts.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
from collections import deque
from typing import Final, TypeVar

# --- ioctl encoding (linux/ioctl.h, asm-generic) ------------------------------------

_IOC_NONE: Final = 0
_IOC_WRITE: Final = 1
_IOC_READ: Final = 2
_IOC_NRSHIFT: Final = 0
_IOC_TYPESHIFT: Final = 8
_IOC_SIZESHIFT: Final = 16
_IOC_DIRSHIFT: Final = 30
_IOC_SIZEMASK: Final = (1 << 14) - 1

DAHDI_CODE: Final = 0xDA

_INT_SIZE: Final = ctypes.sizeof(ctypes.c_int)


def _ioc(direction: int, nr: int, size: int) -> int:
    if not 0 <= size <= _IOC_SIZEMASK:
        raise ValueError(f"ioctl argument of {size} bytes does not fit the size field")
    return (
        (direction << _IOC_DIRSHIFT)
        | (size << _IOC_SIZESHIFT)
        | (DAHDI_CODE << _IOC_TYPESHIFT)
        | (nr << _IOC_NRSHIFT)
    )


def _io(nr: int) -> int:
    return _ioc(_IOC_NONE, nr, 0)


def _ior(nr: int, size: int) -> int:
    return _ioc(_IOC_READ, nr, size)


def _iow(nr: int, size: int) -> int:
    return _ioc(_IOC_WRITE, nr, size)


def _iowr(nr: int, size: int) -> int:
    return _ioc(_IOC_READ | _IOC_WRITE, nr, size)


def ioc_size(request: int) -> int:
    """The argument size a request code announces (what the kernel copies in/out)."""
    return (request >> _IOC_SIZESHIFT) & _IOC_SIZEMASK


# --- struct layouts (user.h) ---------------------------------------------------------


class DahdiParams(ctypes.Structure):
    """``struct dahdi_params`` (DAHDI_GET_PARAMS / DAHDI_SET_PARAMS)."""

    _fields_ = [
        ("channo", ctypes.c_int),
        ("spanno", ctypes.c_int),
        ("chanpos", ctypes.c_int),
        ("sigtype", ctypes.c_int),
        ("sigcap", ctypes.c_int),
        ("rxisoffhook", ctypes.c_int),
        ("rxbits", ctypes.c_int),
        ("txbits", ctypes.c_int),
        ("txhooksig", ctypes.c_int),
        ("rxhooksig", ctypes.c_int),
        ("curlaw", ctypes.c_int),
        ("idlebits", ctypes.c_int),
        ("name", ctypes.c_char * 40),
        ("prewinktime", ctypes.c_int),
        ("preflashtime", ctypes.c_int),
        ("winktime", ctypes.c_int),
        ("flashtime", ctypes.c_int),
        ("starttime", ctypes.c_int),
        ("rxwinktime", ctypes.c_int),
        ("rxflashtime", ctypes.c_int),
        ("debouncetime", ctypes.c_int),
        ("pulsebreaktime", ctypes.c_int),
        ("pulsemaketime", ctypes.c_int),
        ("pulseaftertime", ctypes.c_int),
        ("chan_alarms", ctypes.c_uint32),
    ]


class DahdiSpanInfo(ctypes.Structure):
    """``struct dahdi_spaninfo`` (DAHDI_SPANSTAT); declared ``__attribute__((packed))``."""

    _pack_ = 1
    _fields_ = [
        ("spanno", ctypes.c_int),
        ("name", ctypes.c_char * 20),
        ("desc", ctypes.c_char * 40),
        ("alarms", ctypes.c_int),
        ("txlevel", ctypes.c_int),
        ("rxlevel", ctypes.c_int),
        ("bpvcount", ctypes.c_int),
        ("crc4count", ctypes.c_int),
        ("ebitcount", ctypes.c_int),
        ("fascount", ctypes.c_int),
        ("fecount", ctypes.c_uint32),
        ("cvcount", ctypes.c_uint32),
        ("becount", ctypes.c_uint32),
        ("prbs", ctypes.c_uint32),
        ("errsec", ctypes.c_uint32),
        ("irqmisses", ctypes.c_int),
        ("syncsrc", ctypes.c_int),
        ("numchans", ctypes.c_int),
        ("totalchans", ctypes.c_int),
        ("totalspans", ctypes.c_int),
        ("lbo", ctypes.c_int),
        ("lineconfig", ctypes.c_int),
        ("lboname", ctypes.c_char * 40),
        ("location", ctypes.c_char * 40),
        ("manufacturer", ctypes.c_char * 40),
        ("devicetype", ctypes.c_char * 40),
        ("irq", ctypes.c_int),
        ("linecompat", ctypes.c_int),
        ("spantype", ctypes.c_char * 6),
    ]


class DahdiBufferInfo(ctypes.Structure):
    """``struct dahdi_bufferinfo`` (DAHDI_GET_BUFINFO / DAHDI_SET_BUFINFO)."""

    _fields_ = [
        ("txbufpolicy", ctypes.c_int),
        ("rxbufpolicy", ctypes.c_int),
        ("numbufs", ctypes.c_int),
        ("bufsize", ctypes.c_int),
        ("readbufs", ctypes.c_int),
        ("writebufs", ctypes.c_int),
    ]


# --- request codes -------------------------------------------------------------------

DAHDI_GET_BLOCKSIZE: Final = _ior(1, _INT_SIZE)
DAHDI_SET_BLOCKSIZE: Final = _iow(1, _INT_SIZE)
DAHDI_FLUSH: Final = _iow(3, _INT_SIZE)
DAHDI_SYNC: Final = _io(4)
DAHDI_GET_PARAMS: Final = _iowr(5, ctypes.sizeof(DahdiParams))
DAHDI_SET_PARAMS: Final = _iow(5, ctypes.sizeof(DahdiParams))
DAHDI_HOOK: Final = _iow(7, _INT_SIZE)
DAHDI_GETEVENT: Final = _ior(8, _INT_SIZE)
DAHDI_IOMUX: Final = _iowr(9, _INT_SIZE)
DAHDI_SPANSTAT: Final = _iowr(10, ctypes.sizeof(DahdiSpanInfo))
DAHDI_SENDTONE: Final = _iow(21, _INT_SIZE)
DAHDI_SETTONEZONE: Final = _iow(22, _INT_SIZE)
DAHDI_GET_BUFINFO: Final = _ior(27, ctypes.sizeof(DahdiBufferInfo))
DAHDI_SET_BUFINFO: Final = _iow(27, ctypes.sizeof(DahdiBufferInfo))
DAHDI_CHANNO: Final = _ior(34, _INT_SIZE)
DAHDI_SPECIFY: Final = _iow(38, _INT_SIZE)
DAHDI_SETLAW: Final = _iow(39, _INT_SIZE)
DAHDI_TONEDETECT: Final = _iow(91, _INT_SIZE)

# --- constants -----------------------------------------------------------------------

ELAST: Final = 500  # read()/write() fail with this errno while an event is queued

CHANNEL_DEVICE: Final = "/dev/dahdi/channel"  # opened, then bound with DAHDI_SPECIFY
CTL_DEVICE: Final = "/dev/dahdi/ctl"  # span/channel queries by number

DAHDI_MAX_CHANNELS: Final = 1024
DAHDI_MAX_BLOCKSIZE: Final = 8192
DAHDI_MAX_NUM_BUFS: Final = 32

# Signalling types (dahdi_params.sigtype).
_SIG_FXO: Final = 1 << 12
_SIG_FXS: Final = 1 << 13
DAHDI_SIG_NONE: Final = 0
DAHDI_SIG_FXSKS: Final = (1 << 2) | _SIG_FXS
DAHDI_SIG_FXOLS: Final = (1 << 3) | _SIG_FXO
DAHDI_SIG_FXOGS: Final = (1 << 4) | _SIG_FXO
DAHDI_SIG_FXOKS: Final = (1 << 5) | _SIG_FXO
DAHDI_SIG_CLEAR: Final = 1 << 7
DAHDI_SIG_HDLCRAW: Final = (1 << 8) | DAHDI_SIG_CLEAR
DAHDI_SIG_HDLCFCS: Final = (1 << 9) | DAHDI_SIG_HDLCRAW
DAHDI_SIG_HARDHDLC: Final = (1 << 19) | DAHDI_SIG_CLEAR

# Span alarm bits (dahdi_spaninfo.alarms).
DAHDI_ALARM_NONE: Final = 0
DAHDI_ALARM_RECOVER: Final = 1 << 0
DAHDI_ALARM_LOOPBACK: Final = 1 << 1
DAHDI_ALARM_YELLOW: Final = 1 << 2
DAHDI_ALARM_RED: Final = 1 << 3
DAHDI_ALARM_BLUE: Final = 1 << 4
DAHDI_ALARM_NOTOPEN: Final = 1 << 5
DAHDI_ALARM_LOS: Final = 1 << 8  # "verbose" bits some drivers add to RED
DAHDI_ALARM_LFA: Final = 1 << 9
DAHDI_ALARM_LMFA: Final = 1 << 10

# Events (DAHDI_GETEVENT).
DAHDI_EVENT_NONE: Final = 0
DAHDI_EVENT_ONHOOK: Final = 1
DAHDI_EVENT_RINGOFFHOOK: Final = 2
DAHDI_EVENT_WINKFLASH: Final = 3
DAHDI_EVENT_ALARM: Final = 4
DAHDI_EVENT_NOALARM: Final = 5
DAHDI_EVENT_ABORT: Final = 6
DAHDI_EVENT_OVERRUN: Final = 7
DAHDI_EVENT_BADFCS: Final = 8
DAHDI_EVENT_DIALCOMPLETE: Final = 9
DAHDI_EVENT_RINGERON: Final = 10
DAHDI_EVENT_RINGEROFF: Final = 11
DAHDI_EVENT_HOOKCOMPLETE: Final = 12
DAHDI_EVENT_REMOVED: Final = 20
DAHDI_EVENT_PULSEDIGIT: Final = 1 << 16  # OR'd with the digit's ASCII code
DAHDI_EVENT_DTMFDOWN: Final = 1 << 17
DAHDI_EVENT_DTMFUP: Final = 1 << 18

# DAHDI_HOOK arguments.
DAHDI_ONHOOK: Final = 0
DAHDI_OFFHOOK: Final = 1
DAHDI_WINK: Final = 2
DAHDI_FLASH: Final = 3
DAHDI_START: Final = 4
DAHDI_RING: Final = 5
DAHDI_RINGOFF: Final = 6

# DAHDI_SENDTONE arguments (played from the channel's tone zone).
DAHDI_TONE_STOP: Final = -1
DAHDI_TONE_DIALTONE: Final = 0
DAHDI_TONE_BUSY: Final = 1
DAHDI_TONE_RINGTONE: Final = 2
DAHDI_TONE_CONGESTION: Final = 3

DAHDI_TONEDETECT_ON: Final = 1 << 0
DAHDI_TONEDETECT_MUTE: Final = 1 << 1  # mute the received audio while a tone is detected

DAHDI_LAW_ALAW: Final = 2
DAHDI_POLICY_IMMEDIATE: Final = 0


# --- the seam ------------------------------------------------------------------------


class DeviceIO:
    """The system calls of the DAHDI backend, nothing else.

    The backend never calls ``os`` or ``fcntl`` directly, so tests substitute an object
    with these methods that simulates the kernel. ``ioctl`` always gets a mutable
    buffer (every DAHDI ioctl takes a pointer) and the kernel's answer is written back
    into it. ``dup2`` lets a reopened channel keep its old descriptor number.
    """

    def open(self, path: str, flags: int) -> int:
        return os.open(path, flags)

    def close(self, fd: int) -> None:
        os.close(fd)

    def read(self, fd: int, size: int) -> bytes:
        return os.read(fd, size)

    def write(self, fd: int, data: bytes) -> int:
        return os.write(fd, data)

    def ioctl(self, fd: int, request: int, buf: bytearray) -> int:
        return fcntl.ioctl(fd, request, buf, True)

    def dup2(self, fd: int, fd2: int) -> None:
        os.dup2(fd, fd2, inheritable=False)  # like os.open's descriptors (PEP 446)


# --- typed wrappers ------------------------------------------------------------------

_S = TypeVar("_S", bound=ctypes.Structure)


def ioctl_int(io: DeviceIO, fd: int, request: int, value: int = 0) -> int:
    """An ioctl whose argument is a pointer to one ``int``; returns the int afterwards."""
    buf = bytearray(ctypes.c_int(value))
    io.ioctl(fd, request, buf)
    return ctypes.c_int.from_buffer(buf).value


def ioctl_struct(io: DeviceIO, fd: int, request: int, arg: _S) -> _S:
    """An ioctl on a struct; returns a new struct holding what the kernel wrote back."""
    if ctypes.sizeof(arg) != ioc_size(request):
        # A mismatch would let the kernel read or write past the buffer.
        size = ctypes.sizeof(arg)
        raise ValueError(f"{type(arg).__name__} is {size} bytes, the request wants {ioc_size(request)}")
    buf = bytearray(arg)
    io.ioctl(fd, request, buf)
    return type(arg).from_buffer_copy(buf)


# Bounds the ELAST/GETEVENT loop; the kernel queues at most 64 events per channel.
_MAX_EVENTS: Final = 64


class ChannelFd:
    """One non-blocking /dev/dahdi/channel descriptor bound to CHANNO (DAHDI_SPECIFY).

    DAHDI's event protocol lives here: while an event is queued on the channel, read()
    and write() fail with errno ELAST; DAHDI_GETEVENT takes one event off the queue. The
    events taken land in ``events`` (oldest first) for the owner to act on *before* the
    data returned with them. OSErrors other than EAGAIN/ELAST propagate unwrapped; the
    owner adds the context.
    """

    def __init__(self, io: DeviceIO, channo: int) -> None:
        self.io = io
        self.channo = channo
        self.events: deque[int] = deque()
        fd = io.open(CHANNEL_DEVICE, os.O_RDWR | os.O_NONBLOCK)
        try:
            ioctl_int(io, fd, DAHDI_SPECIFY, channo)
        except BaseException:
            io.close(fd)
            raise
        self.fd = fd

    def ioctl_int(self, request: int, value: int = 0) -> int:
        return ioctl_int(self.io, self.fd, request, value)

    def ioctl_struct(self, request: int, arg: _S) -> _S:
        return ioctl_struct(self.io, self.fd, request, arg)

    def params(self) -> DahdiParams:
        return self.ioctl_struct(DAHDI_GET_PARAMS, DahdiParams(channo=self.channo))

    def take_event(self) -> int:
        event = self.ioctl_int(DAHDI_GETEVENT)
        if event != DAHDI_EVENT_NONE:
            self.events.append(event)
        return event

    def read(self, size: int) -> bytes | None:
        """One block (audio) or one frame with its FCS (HDLC); None when nothing is ready."""
        for _ in range(_MAX_EVENTS + 1):
            try:
                return self.io.read(self.fd, size)
            except BlockingIOError:
                return None
            except OSError as exc:
                if exc.errno != ELAST:
                    raise
                self.take_event()
        return None

    def write(self, data: bytes) -> bool:
        """Queue DATA for sending; False when the channel's buffers are full (EAGAIN)."""
        for _ in range(_MAX_EVENTS + 1):
            try:
                self.io.write(self.fd, data)
                return True
            except BlockingIOError:
                return False
            except OSError as exc:
                if exc.errno != ELAST:
                    raise
                self.take_event()
        return False

    def take_over(self, fresh: ChannelFd) -> None:
        """Make our descriptor number refer to FRESH's channel, so registered fds stay valid."""
        self.io.dup2(fresh.fd, self.fd)
        self.io.close(fresh.fd)
        fresh.fd = -1
        self.events = fresh.events

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            try:
                self.io.close(fd)
            except OSError as exc:
                if exc.errno != errno.EBADF:
                    raise
