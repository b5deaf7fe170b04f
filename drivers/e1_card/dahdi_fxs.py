"""`DahdiFxsPort`: an analog FXS channel on a DAHDI card (``dahdi://chan/N``).

**Never run against a real card** (see drivers/e1_card/dahdi.py); tested against the fake
kernel in ``tests/drivers/e1_card/fake_dahdi.py``. An FXS module has FXO signalling
(``fxoks=N``): RINGOFFHOOK → HookOff, ONHOOK → HookOn, WINKFLASH → Flash, DTMFUP and
PULSEDIGIT → Digit; ring() is DAHDI_HOOK RING/RINGOFF (the kernel rings in the tone zone's
cadence, 1 s on / 4 s off for ``cn``); tone() is DAHDI_SENDTONE.

The kernel sends no caller ID, so the port does: send_cid() prepares the FSK burst
(appliance/media/caller_id.py) and, once the first ring ends (DAHDI_EVENT_RINGEROFF), waits
500 ms and writes it block by block, one block per block read, so the line clocks it.
Answering, ring(False) or a second ring that begins before it is through cancels it.
"""

from __future__ import annotations

import errno
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Final

from appliance.clock import now_local
from appliance.media.caller_id import CallerIdError, caller_id_alaw
from drivers.e1_card import dahdi_ioctl as kernel
from drivers.e1_card.dahdi import _context, _fit, log
from drivers.e1_card.dahdi_ioctl import ChannelFd, DeviceIO
from drivers.e1_card.errors import SpanError
from drivers.e1_card.fxs import (
    DTMF_DIGITS,
    FRAME_BYTES,
    Audio,
    Digit,
    Flash,
    FxsEvent,
    FxsPort,
    HookOff,
    HookOn,
    check_audio,
    check_tone,
    parse_fxs_url,
)
from drivers.e1_card.g711 import ALAW_IDLE

__all__ = ["DahdiFxsPort"]

_FXO_SIGNALLING: Final = (kernel.DAHDI_SIG_FXOKS, kernel.DAHDI_SIG_FXOLS, kernel.DAHDI_SIG_FXOGS)
_EVENT_FLAGS: Final = 0xFFFF0000  # digit events carry the ASCII digit in the low bits
_TONES: Final = {
    "dial": kernel.DAHDI_TONE_DIALTONE,
    "busy": kernel.DAHDI_TONE_BUSY,
    "ringback": kernel.DAHDI_TONE_RINGTONE,
    "congestion": kernel.DAHDI_TONE_CONGESTION,
    "none": kernel.DAHDI_TONE_STOP,
}
CID_DELAY_BLOCKS: Final = 25  # 500 ms of silence after the first ring (GR-30-CORE: at least 500 ms)
CID_PREFILL_BLOCKS: Final = 2  # queued at once, so a late tick never leaves a gap in the FSK


class DahdiFxsPort(FxsPort):
    """An analog FXS channel (``fxoks=N`` in system.conf); opened at construction."""

    def __init__(self, url: str, *, io: DeviceIO | None = None,
                 now: Callable[[], datetime] = now_local) -> None:
        scheme, number = parse_fxs_url(url)  # argument checks before any I/O
        if scheme != "dahdi":
            raise ValueError(f"DahdiFxsPort needs a dahdi://chan/N URL, not {url!r}")
        super().__init__(url)
        self._io = io or DeviceIO()
        self._channo = int(number)
        self._queue: deque[FxsEvent] = deque()
        self._ringing = False
        self._tone = "none"
        self._pending_cid: tuple[str, str] | None = None
        self._now = now  # the date and time the caller ID shows: the centre's (Beijing) time
        self._cid_burst = b""  # A-law, whole blocks
        self._cid_sent: int | None = None  # bytes of the burst written; None until it starts
        self._cid_wait = 0  # blocks of silence still to wait before the burst
        self._hardware_dtmf = False
        self._closed = False
        what = f"opening FXS channel {self._channo}"
        with _context(what):
            chan = ChannelFd(self._io, self._channo)
            try:
                params = chan.params()
                if params.sigtype not in _FXO_SIGNALLING:
                    raise SpanError(f"{what}: signalling {params.sigtype:#x} is not FXO; an FXS port needs "
                                    f"'fxoks={self._channo}' in /etc/dahdi/system.conf")
                chan.ioctl_int(kernel.DAHDI_SET_BLOCKSIZE, FRAME_BYTES)
                chan.ioctl_int(kernel.DAHDI_SETLAW, kernel.DAHDI_LAW_ALAW)
                self._hardware_dtmf = self._enable_dtmf_events(chan)
            except BaseException:
                chan.close()
                raise
        self._chan = chan
        self._off_hook = bool(params.rxisoffhook)

    @staticmethod
    def _enable_dtmf_events(chan: ChannelFd) -> bool:
        """Hardware DTMF detection where the card has it (muting the tone in the audio)."""
        try:
            chan.ioctl_int(kernel.DAHDI_TONEDETECT, kernel.DAHDI_TONEDETECT_ON | kernel.DAHDI_TONEDETECT_MUTE)
        except OSError:  # ENOTTY/EINVAL: no detector; the media layer decodes in-band
            return False
        return True

    # -- read-only properties -------------------------------------------------------------

    @property
    def channo(self) -> int:
        return self._channo

    @property
    def off_hook(self) -> bool:
        return self._off_hook

    @property
    def ringing(self) -> bool:
        return self._ringing

    @property
    def hardware_dtmf(self) -> bool:
        """True when digits arrive as Digit events; otherwise only in the audio."""
        return self._hardware_dtmf

    @property
    def current_tone(self) -> str:
        return self._tone

    @property
    def pending_cid(self) -> tuple[str, str] | None:
        """(number, name) of the caller ID not yet sent in full, or None."""
        return self._pending_cid

    @property
    def sending_cid(self) -> bool:
        """True from the end of the first ring until the caller ID burst is written."""
        return self._cid_sent is not None

    # -- the interface ---------------------------------------------------------------------

    def fileno(self) -> int:
        if self._closed:
            raise SpanError(f"FXS channel {self._channo} is closed")
        return self._chan.fd

    def read_event(self) -> FxsEvent | None:
        if not self._queue and not self._closed:
            with _context(f"reading FXS channel {self._channo}"):
                data = self._chan.read(FRAME_BYTES)
            self._take_events()  # events come before the audio read after them
            if data is not None:
                self._queue.append(Audio(_fit(data)))
                self._send_cid_block()  # one block's time has passed on the line
        return self._queue.popleft() if self._queue else None

    def _take_events(self) -> None:
        events = self._chan.events
        while events:
            event = events.popleft()
            flags, digit = event & _EVENT_FLAGS, chr(event & 0xFFFF)
            if event == kernel.DAHDI_EVENT_RINGOFFHOOK:
                self._off_hook, self._ringing = True, False  # the card stops ringing on answer
                self._cancel_cid("the phone was answered")
                self._queue.append(HookOff())
            elif event == kernel.DAHDI_EVENT_RINGEROFF:
                if self._ringing and self._cid_burst and self._cid_sent is None:
                    self._cid_sent, self._cid_wait = 0, CID_DELAY_BLOCKS  # the first ring is over
            elif event == kernel.DAHDI_EVENT_RINGERON:
                if self._cid_sent is not None:
                    self._cancel_cid("the next ring began before it was through")
            elif event == kernel.DAHDI_EVENT_ONHOOK:
                self._off_hook = False
                self._queue.append(HookOn())
            elif event == kernel.DAHDI_EVENT_WINKFLASH:
                self._queue.append(Flash())
            elif flags in (kernel.DAHDI_EVENT_DTMFUP, kernel.DAHDI_EVENT_PULSEDIGIT) and digit in DTMF_DIGITS:
                self._queue.append(Digit(digit))
            elif event == kernel.DAHDI_EVENT_REMOVED:
                raise SpanError(f"FXS channel {self._channo}: the device was removed")
            # DTMFDOWN, HOOKCOMPLETE and alarms need no action here.

    def _hook(self, value: int, what: str) -> None:
        if self._closed:
            raise SpanError(f"{what} FXS channel {self._channo}: the port is closed")
        with _context(f"{what} FXS channel {self._channo}"):
            self._chan.ioctl_int(kernel.DAHDI_HOOK, value)

    def ring(self, on: bool) -> None:
        if on:
            self._hook(kernel.DAHDI_RING, "ringing")
            self._ringing = True
        elif self._ringing:  # RINGOFF only while ringing: never disturb an answered line
            self._hook(kernel.DAHDI_RINGOFF, "stopping the ringing on")
            self._ringing = False
            self._cancel_cid(None)

    def send_cid(self, number: str, name: str = "") -> None:
        if not isinstance(number, str) or not isinstance(name, str):
            raise ValueError(f"caller ID number and name are strings, not {number!r}, {name!r}")
        when = self._now()
        try:
            burst = caller_id_alaw(number, name, when=when)
        except CallerIdError as exc:  # e.g. a number with letters: the phone still rings
            log.warning("FXS channel %d: %s; the caller ID says 'unavailable'", self._channo, exc)
            burst = caller_id_alaw("", name, when=when)
        self._cid_burst = burst.ljust(-(-len(burst) // FRAME_BYTES) * FRAME_BYTES, bytes([ALAW_IDLE]))
        self._cid_sent = None
        self._pending_cid = (number, name)

    def _send_cid_block(self) -> None:
        if self._cid_sent is None:
            return
        if self._cid_wait:
            self._cid_wait -= 1
            if self._cid_wait:
                return
        for _ in range(CID_PREFILL_BLOCKS if self._cid_sent == 0 else 1):
            block = self._cid_burst[self._cid_sent:self._cid_sent + FRAME_BYTES]
            with _context(f"sending caller ID on FXS channel {self._channo}"):
                if not self._chan.write(block):
                    return  # buffers full: the same block again at the next tick
            self._cid_sent += FRAME_BYTES
            if self._cid_sent >= len(self._cid_burst):
                log.debug("FXS channel %d: caller ID %s sent", self._channo, self._pending_cid)
                self._cid_burst, self._cid_sent, self._pending_cid = b"", None, None
                return

    def _cancel_cid(self, why: str | None) -> None:
        if why and self._cid_sent is not None:
            log.warning("FXS channel %d: caller ID cancelled: %s", self._channo, why)
        self._cid_burst, self._cid_sent, self._pending_cid = b"", None, None

    def tone(self, name: str) -> None:
        check_tone(name)
        what = f"playing tone {name!r} on FXS channel {self._channo}"
        if self._closed:
            raise SpanError(f"{what}: the port is closed")
        try:
            with _context(what):
                self._chan.ioctl_int(kernel.DAHDI_SENDTONE, _TONES[name])
        except SpanError as exc:
            if isinstance(exc.__cause__, OSError) and exc.__cause__.errno == errno.ENODATA:
                raise SpanError(f"{exc} (no tone zone: add 'loadzone = cn' and 'defaultzone = cn' "
                                "to /etc/dahdi/system.conf)") from exc.__cause__
            raise
        self._tone = name

    def write_audio(self, frame: bytes) -> None:
        frame = check_audio(frame)
        if self._closed:
            raise SpanError(f"writing FXS channel {self._channo}: the port is closed")
        if self._tone != "none" or self._cid_sent is not None:  # never cut a tone or the caller ID
            return
        with _context(f"writing FXS channel {self._channo}"):
            sent = self._chan.write(frame)
        self._take_events()
        if not sent:  # the card's buffers are full: this 20 ms is lost
            log.debug("FXS channel %d: audio frame dropped", self._channo)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._chan.close()  # closing hangs the line up (and stops any ringing)
