"""Contact ID in-band over a voice call (SIA DC-05): the centre's receiver and the phone's sender.

An elder's one-button emergency phone (一键通) dials the centre; once the call is
answered, and before anyone speaks, the two ends run the DC-05 exchange on the voice
channel itself, as an alarm receiver's line card (or Asterisk's AlarmReceiver) does::

    box (InbandReceiver)                          phone (InbandSender)
    0.5 s silence, 1400 Hz, pause, 2300 Hz  --->  handshake heard
                                            <---  16 DTMF digits (one message)
    checksum good: 1400 Hz kissoff          --->  kissoff heard: next message, or done
    checksum bad: nothing                         no kissoff in 1.25 s: send it again
    no more digits: Finished                      (the voice path opens)

Both are sans-I/O: 20 ms frames of 8 kHz 16-bit linear audio (160 samples, what the
line carries once A-law is decoded), time passed in as ``now`` (seconds). A frame fed
or returned at ``now`` covers [now, now + 20 ms). Per line tick the shell calls
``feed(received_frame, now)`` and then sends ``next_frame(now)`` on the timeslot,
then drains ``events()``.

Digits on the wire
------------------
A message is 16 Contact ID digits ``ACCT MT Q XYZ GG CCC S`` (contact_id.py), each of
value 1-15; the digit worth 10 is written '0'. DC-05 sends value v on the DTMF key of
the same value: 1-9 and 0 (10) on their own keys, B (11) on '*', C (12) on '#',
D (13) on 'A', E (14) on 'B', F (15) on 'C'. The key 'D' carries nothing (hex 'A' is
not used on the wire). ``contact_id_to_keys`` / ``keys_to_contact_id`` convert.

Figures chosen (DC-05 where it gives one; Asterisk's AlarmReceiver where it does not)
-------------------------------------------------------------------------------------
Receiver (the box):

=====================  =========  ==========================================================
what                   default    why
=====================  =========  ==========================================================
answer_delay_ms        500        DC-05: the handshake comes at least 0.5 s after answer
handshake_ms           100        each burst and the pause: 1400 Hz, silence, 2300 Hz
                                  (DC-05 100 ms ±5 %, frequencies ±3 %; ours are exact)
first_digit_timeout    2.0 s      after the handshake (the phone starts 250-300 ms after
                                  its end) and after a rejected message (the phone repeats
                                  1.25 s after its message ended, ≈ 1.3 s after we decided);
                                  Asterisk's fdtimeout is the same 2 s
handshake_attempts     2          no digit at all after the handshake: send it once more,
                                  then give up and open the voice path (a caller who is not
                                  an alarm phone waits ≈ 5 s, not forever)
interdigit_timeout     0.25 s     digits start every 100-120 ms (50-60 ms on, 50-60 off);
                                  the DTMF receiver reports each 30-40 ms into its tone, so
                                  reports come 80-140 ms apart. 0.25 s bridges one lost
                                  digit (≈ 0.23 s), so a damaged message is one rejection
message_timeout        2.2 s      first digit to the 16th: 15 periods at DC-05's slowest
                                  (120 ms) are 1.8 s, +20 % for slow phones and jitter.
                                  (DC-05's 1.25 s is not this: it is how long the *phone*
                                  waits for the kissoff. A 16-digit message cannot arrive
                                  in 1.25 s: at DC-05's fastest it spans 1.5 s.)
kissoff_delay_ms       200        after the 16th digit is reported, before the kissoff:
                                  that digit's tone and pause end first (Asterisk: 200 ms);
                                  the kissoff starts ≈ 0.2 s into the phone's 1.25 s wait
kissoff_ms             900        1400 Hz (Asterisk: 900 ms; DC-05 asks ≥ 750 ms, the phone
                                  needs ≥ 400 ms of it)
next_message_timeout   1.0 s      after a kissoff ends: the phone's next message starts
                                  250-300 ms later; silence for 1 s means it has no more
max_messages           8          then Finished at once after the kissoff (voice path opens)
max_failures           4          consecutive rejected messages, then Finished: a phone
                                  tries each message 4 times; a line that fails that often
                                  is better used for voice
level_dbm0             −10        each tone
=====================  =========  ==========================================================

A message whose event code is 606 ("listen-in to follow") ends the exchange right after
its kissoff (reason ``audio_follows``), as Asterisk's AlarmReceiver does: voice follows.

Sender (the phone):

* handshake: a burst of 1400 Hz lasting 60-200 ms, then one of 2300 Hz lasting 60-200 ms
  that starts within 300 ms of the first one's end; frequencies ±5 % (DC-05: transmitters
  accept ±5 % for old receivers). Lenient on time because the analysis works in 10 ms
  blocks and a line can drop a block;
* tone detection: per 10 ms block, Hann window, energy within [0.95 f − 200 Hz,
  1.05 f + 200 Hz] (the window's main lobe around DC-05's ±5 %) ≥ 70 % of the block's
  energy (a ratio, so independent of gain), that energy's centroid within ±6 % of f, and
  the block at least −40 dBm0. White noise puts 13.5 % of its power in that band, so
  tones are heard down to ≈ 6 dB SNR; gaps of up to 20 ms inside a tone are bridged;
* each message 270 ms after the handshake's or the kissoff's end (DC-05: 250-300 ms);
  DTMF 55 ms on / 55 ms off (DC-05: 50-60 each), −7 dBm0 per tone;
* after the message's last tone, up to 1.25 s for a kissoff to start (DC-05); one that
  started in time is timed to its end; ≥ 400 ms of 1400 Hz is a kissoff (DC-05);
* no kissoff: the message again at once, ``attempts=4`` transmissions in all (the first
  and three repeats; ``attempts=5`` gives four repeats), then GaveUp and the next message;
* no handshake within 10 s of answer: GaveUp for every message.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Final

import numpy as np

from appliance.media import FRAME_SAMPLES, SAMPLE_RATE
from appliance.media.dsp import dbm0_to_peak, dbm0_to_rms
from appliance.media.dtmf import DtmfDetector, DtmfLimits, dtmf_tone
from drivers.alarm_phone.contact_id import (
    ContactIdError,
    ContactIdMessage,
    checksum_digit,
    decode_dtmf,
    encode_dtmf,
)

__all__ = [
    "CONTACT_ID_TO_DTMF",
    "DTMF_TO_CONTACT_ID",
    "FINISH_REASONS",
    "HANDSHAKE_HZ",
    "KISSOFF_HZ",
    "MESSAGE_DIGITS",
    "REJECT_REASONS",
    "Finished",
    "GaveUp",
    "HandshakeHeard",
    "InbandError",
    "InbandEvent",
    "InbandReceiver",
    "InbandSender",
    "KissoffHeard",
    "MessageReceived",
    "MessageRejected",
    "contact_id_to_keys",
    "keys_to_contact_id",
]

HANDSHAKE_HZ: Final = (1400.0, 2300.0)
KISSOFF_HZ: Final = 1400.0
MESSAGE_DIGITS: Final = 16

CONTACT_ID_TO_DTMF: Final[dict[str, str]] = {
    **{d: d for d in "0123456789"}, "B": "*", "C": "#", "D": "A", "E": "B", "F": "C"}
DTMF_TO_CONTACT_ID: Final[dict[str, str]] = {key: digit for digit, key in CONTACT_ID_TO_DTMF.items()}

FINISH_REASONS: Final[dict[str, str]] = {
    "complete": "报警报文接收完毕 (the phone sent no more messages after a kissoff)",
    "audio_follows": "报警电话请求通话 (event 606: listen-in / voice follows)",
    "max_messages": "报文数已达上限 (message limit of the call reached)",
    "too_many_failures": "报文连续校验失败 (too many rejected messages in a row)",
    "no_handshake_reply": "对方未响应握手信号 (no digits after the handshake)",
    "phone_stopped": "报警电话未重发报文 (the phone stopped after a rejected message)",
}
REJECT_REASONS: Final[dict[str, str]] = {
    "checksum": "校验和错误 (checksum error)",
    "length": "报文位数不足 (fewer than 16 digits)",
    "invalid_digit": "无效按键 (DTMF key D carries no Contact ID digit)",
    "format": "报文格式错误 (not a Contact ID message)",
}


class InbandError(ValueError):
    """Bad use of the in-band API: a frame of the wrong shape, a bad message, a bad figure."""


def contact_id_to_keys(digits: str) -> str:
    """The DTMF keys that carry Contact ID DIGITS (0-9, B-F; spaces ignored)."""
    try:
        return "".join(CONTACT_ID_TO_DTMF[c] for c in "".join(digits.split()).upper())
    except KeyError as exc:
        raise InbandError(f"{exc.args[0]!r} in {digits!r} is not a Contact ID digit on the wire "
                          "(0-9, B-F)") from None


def keys_to_contact_id(keys: str) -> str:
    """The Contact ID digits that the DTMF KEYS carry (0-9, *, #, A-C)."""
    try:
        return "".join(DTMF_TO_CONTACT_ID[k] for k in keys.upper())
    except KeyError as exc:
        raise InbandError(f"DTMF key {exc.args[0]!r} in {keys!r} carries no Contact ID digit") from None


# -- events -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InbandEvent:
    """Base of what the receiver and the sender report."""


@dataclass(frozen=True)
class MessageReceived(InbandEvent):
    """A message with a good checksum: the box sends its kissoff."""

    digits: str  # the 16 Contact ID digits (0-9, B-F), as decode_dtmf() takes them
    message: ContactIdMessage
    at: float
    keys: str = ""  # the DTMF keys heard
    repeat: bool = False  # the same digits as the message accepted before it on this call


@dataclass(frozen=True)
class MessageRejected(InbandEvent):
    """Digits that are not a good message: no kissoff, so the phone sends it again."""

    digits: str  # Contact ID digits heard, '?' for a key that carries none
    reason: str  # a key of REJECT_REASONS
    at: float
    keys: str = ""
    detail: str = ""

    @property
    def label(self) -> str:
        return REJECT_REASONS.get(self.reason, self.reason)


@dataclass(frozen=True)
class Finished(InbandEvent):
    """The exchange is over: the voice path may open."""

    reason: str  # a key of FINISH_REASONS
    messages: tuple[ContactIdMessage, ...]
    at: float

    @property
    def label(self) -> str:
        return FINISH_REASONS.get(self.reason, self.reason)


@dataclass(frozen=True)
class HandshakeHeard(InbandEvent):
    """The phone heard the receiver's handshake; its first message follows."""

    at: float


@dataclass(frozen=True)
class KissoffHeard(InbandEvent):
    """The phone heard the kissoff for message MESSAGE_INDEX (0-based) on attempt ATTEMPT (1-based)."""

    message_index: int
    digits: str
    attempt: int
    at: float


@dataclass(frozen=True)
class GaveUp(InbandEvent):
    """The phone gave up on a message: REASON is 'no_kissoff' (after ATTEMPTS) or 'no_handshake'."""

    message_index: int
    digits: str
    attempts: int
    reason: str
    at: float


# -- shared helpers -------------------------------------------------------------------------------


def _check_frame(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.shape != (FRAME_SAMPLES,):
        raise InbandError(f"a frame of shape {frame.shape}: need ({FRAME_SAMPLES},), 20 ms of 8 kHz")
    return frame


def _samples(ms: float) -> int:
    return round(ms * SAMPLE_RATE / 1000)


def _sine(frequency: float, ms: float, level_dbm0: float) -> np.ndarray:
    t = np.arange(_samples(ms)) / SAMPLE_RATE
    return np.round(dbm0_to_peak(level_dbm0) * np.sin(2 * math.pi * frequency * t)).astype(np.int16)


class _Output:
    """Audio queued for the line, handed out 160 samples a tick (durations are sample-exact)."""

    def __init__(self) -> None:
        self._queue = np.zeros(0, dtype=np.int16)

    @property
    def busy(self) -> bool:
        return len(self._queue) > 0

    def add(self, *pieces: np.ndarray) -> None:
        self._queue = np.concatenate([self._queue, *pieces]).astype(np.int16)

    def clear(self) -> None:
        self._queue = np.zeros(0, dtype=np.int16)

    def take(self) -> tuple[np.ndarray, int | None]:
        """The next frame, and where in it the queued audio ended (None: it goes on, or there was none)."""
        frame = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        n = min(FRAME_SAMPLES, len(self._queue))
        frame[:n] = self._queue[:n]
        had = len(self._queue) > 0
        self._queue = self._queue[n:]
        return frame, (n if had and not len(self._queue) else None)


# -- the receiver (the box) -----------------------------------------------------------------------


class _Rx(Enum):
    GREETING = "greeting"  # the handshake is on its way out
    LISTENING = "listening"  # waiting for a message's first digit
    COLLECTING = "collecting"  # a message is coming in
    ACKNOWLEDGING = "acknowledging"  # the kissoff is on its way out
    FINISHED = "finished"


class InbandReceiver:
    """The centre's side of DC-05 on one call: handshake, digits in, kissoff, Finished.

    Create it when the call is answered (NOW). Per tick: ``feed(frame, now)`` with what
    the phone sent, then send ``next_frame(now)``; read ``events()``. ``get_timer()`` /
    ``on_timer(now)`` serve a shell that wants to wake for a timeout between ticks (every
    call to feed / next_frame checks them too). Figures: the module docstring.
    """

    def __init__(self, now: float, *, answer_delay_ms: float = 500, handshake_ms: float = 100,
                 handshake_attempts: int = 2, kissoff_delay_ms: float = 200, kissoff_ms: float = 900,
                 first_digit_timeout: float = 2.0, interdigit_timeout: float = 0.25,
                 message_timeout: float = 2.2, next_message_timeout: float = 1.0,
                 max_messages: int = 8, max_failures: int = 4, level_dbm0: float = -10.0,
                 dtmf_limits: DtmfLimits | None = None) -> None:
        for name, value in (("answer_delay_ms", answer_delay_ms), ("kissoff_delay_ms", kissoff_delay_ms)):
            if value < 0:
                raise InbandError(f"{name} {value}: must not be negative")
        for name, value in (("handshake_ms", handshake_ms), ("kissoff_ms", kissoff_ms),
                            ("first_digit_timeout", first_digit_timeout),
                            ("interdigit_timeout", interdigit_timeout), ("message_timeout", message_timeout),
                            ("next_message_timeout", next_message_timeout)):
            if not value > 0:
                raise InbandError(f"{name} {value}: must be positive")
        for name, count in (("handshake_attempts", handshake_attempts), ("max_messages", max_messages),
                            ("max_failures", max_failures)):
            if count < 1:
                raise InbandError(f"{name} {count}: must be at least 1")
        self.first_digit_timeout = first_digit_timeout
        self.interdigit_timeout = interdigit_timeout
        self.message_timeout = message_timeout
        self.next_message_timeout = next_message_timeout
        self.handshake_attempts = handshake_attempts
        self.max_messages = max_messages
        self.max_failures = max_failures
        gap = np.zeros(_samples(handshake_ms), dtype=np.int16)
        self._handshake = np.concatenate([_sine(HANDSHAKE_HZ[0], handshake_ms, level_dbm0), gap,
                                          _sine(HANDSHAKE_HZ[1], handshake_ms, level_dbm0)])
        self._kissoff = np.concatenate([np.zeros(_samples(kissoff_delay_ms), dtype=np.int16),
                                        _sine(KISSOFF_HZ, kissoff_ms, level_dbm0)])
        self._detector = DtmfDetector(dtmf_limits)
        self._out = _Output()
        self._events: list[InbandEvent] = []
        self._messages: list[ContactIdMessage] = []
        self._last_digits: str | None = None
        self._failures = 0  # rejected messages since the last good one
        self._handshakes = 1
        self._heard_anything = False
        self._keys = ""
        self._first_at = self._last_at = now
        self._deadline: float | None = None  # LISTENING: when to stop waiting
        self._listen_after = "handshake"  # what LISTENING waits after: handshake, kissoff, rejected
        self._finish_after_audio: str | None = None
        self._phase = _Rx.GREETING
        self._out.add(np.zeros(_samples(answer_delay_ms), dtype=np.int16), self._handshake)

    # -- the API --------------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self._phase is _Rx.FINISHED

    @property
    def phase(self) -> str:
        """greeting, listening, collecting, acknowledging or finished (for logs and tests)."""
        return self._phase.value

    @property
    def messages(self) -> tuple[ContactIdMessage, ...]:
        """The messages accepted so far, in order."""
        return tuple(self._messages)

    def events(self) -> list[InbandEvent]:
        """What happened since the last call (oldest first)."""
        events, self._events = self._events, []
        return events

    def feed(self, frame: np.ndarray, now: float) -> None:
        """FRAME (int16[160]) is what the phone sent in [NOW, NOW + 20 ms)."""
        frame = _check_frame(frame)
        self._advance(now)
        if self._phase is _Rx.FINISHED:
            return
        for key in self._detector.feed(frame, now):
            self._on_key(key, now)

    def next_frame(self, now: float) -> np.ndarray:
        """The audio (int16[160]) the box sends in [NOW, NOW + 20 ms)."""
        self._advance(now)
        frame, ended = self._out.take()
        if ended is not None:
            self._on_audio_done(now + ended / SAMPLE_RATE)
        return frame

    def get_timer(self) -> float | None:
        """When on_timer() should next be called, or None (only ticks move it on now)."""
        if self._phase is _Rx.LISTENING:
            return self._deadline
        if self._phase is _Rx.COLLECTING:
            return min(self._last_at + self.interdigit_timeout, self._first_at + self.message_timeout)
        return None

    def on_timer(self, now: float) -> None:
        self._advance(now)

    # -- inside ---------------------------------------------------------------------------------

    def _advance(self, now: float) -> None:
        if self._phase is _Rx.LISTENING and self._deadline is not None and now >= self._deadline:
            self._listen_timed_out(now)
        elif self._phase is _Rx.COLLECTING and (now - self._last_at > self.interdigit_timeout
                                                or now - self._first_at > self.message_timeout):
            slow = now - self._first_at > self.message_timeout
            self._reject(self._keys, "length", now,
                         f"{len(self._keys)} digits, then {'too slow' if slow else 'silence'}")

    def _on_key(self, key: str, now: float) -> None:
        self._heard_anything = True
        if self._finish_after_audio is not None:
            return  # the exchange is ending: digits now are the voice path's business
        if self._phase is not _Rx.COLLECTING:
            self._phase = _Rx.COLLECTING
            self._keys = ""
            self._first_at = now
        self._keys += key
        self._last_at = now
        if len(self._keys) == MESSAGE_DIGITS:
            self._judge(self._keys, now)

    def _judge(self, keys: str, now: float) -> None:
        digits = "".join(DTMF_TO_CONTACT_ID.get(k, "?") for k in keys)
        if "?" in digits:
            self._reject(keys, "invalid_digit", now, f"key {keys[digits.index('?')]!r}")
            return
        expected = checksum_digit(digits[:15])
        if expected != digits[15]:
            self._reject(keys, "checksum", now, f"checksum {digits[15]!r}, expected {expected!r}")
            return
        try:
            message = decode_dtmf(digits)
        except ContactIdError as exc:
            self._reject(keys, "format", now, str(exc))
            return
        self._failures = 0
        self._messages.append(message)
        self._events.append(MessageReceived(digits, message, now, keys, repeat=digits == self._last_digits))
        self._last_digits = digits
        self._out.add(self._kissoff)
        self._phase = _Rx.ACKNOWLEDGING
        if message.event_code == "606":
            self._finish_after_audio = "audio_follows"
        elif len(self._messages) >= self.max_messages:
            self._finish_after_audio = "max_messages"

    def _reject(self, keys: str, reason: str, now: float, detail: str) -> None:
        digits = "".join(DTMF_TO_CONTACT_ID.get(k, "?") for k in keys)
        self._events.append(MessageRejected(digits, reason, now, keys, detail))
        self._failures += 1
        if self._failures >= self.max_failures:
            self._finish("too_many_failures", now)
            return
        self._listen("rejected", now + self.first_digit_timeout)

    def _listen(self, after: str, deadline: float) -> None:
        self._phase = _Rx.LISTENING
        self._listen_after = after
        self._deadline = deadline

    def _listen_timed_out(self, now: float) -> None:
        if self._listen_after == "kissoff":
            self._finish("complete", now)
        elif self._listen_after == "rejected":
            self._finish("phone_stopped", now)
        elif not self._heard_anything and self._handshakes < self.handshake_attempts:
            self._handshakes += 1
            self._out.add(self._handshake)
            self._phase = _Rx.GREETING
        else:
            self._finish("no_handshake_reply", now)

    def _on_audio_done(self, end: float) -> None:
        if self._finish_after_audio is not None:
            self._finish(self._finish_after_audio, end)
        elif self._phase is _Rx.GREETING:
            self._listen("handshake", end + self.first_digit_timeout)
        elif self._phase is _Rx.ACKNOWLEDGING:
            self._listen("kissoff", end + self.next_message_timeout)

    def _finish(self, reason: str, now: float) -> None:
        if self._phase is _Rx.FINISHED:
            return
        self._phase = _Rx.FINISHED
        self._deadline = None
        self._out.clear()
        self._events.append(Finished(reason, tuple(self._messages), now))


# -- the sender (the phone) -----------------------------------------------------------------------

_BLOCK: Final = 80  # 10 ms analysis blocks: two per frame
_BLOCK_S: Final = _BLOCK / SAMPLE_RATE
_NFFT: Final = 256
_WINDOW: Final = np.hanning(_BLOCK)
_BIN_HZ: Final = np.fft.rfftfreq(_NFFT, 1 / SAMPLE_RATE)
_TOLERANCE: Final = 0.05  # DC-05: a transmitter accepts ±5 % on the handshake and kissoff
_SPREAD_HZ: Final = 200.0  # half the main lobe of an 80-sample Hann window
_MIN_FRACTION: Final = 0.70
_CENTROID_TOLERANCE: Final = 0.06  # ±5 % and room for the pull of noise towards the band's middle
_MIN_POWER: Final = dbm0_to_rms(-40.0) ** 2
_BRIDGE_S: Final = 0.020


def _band(frequency: float) -> np.ndarray:
    low, high = frequency * (1 - _TOLERANCE) - _SPREAD_HZ, frequency * (1 + _TOLERANCE) + _SPREAD_HZ
    return (_BIN_HZ >= low) & (_BIN_HZ <= high)


# Row 0: 1400 Hz (the kissoff's too), row 1: 2300 Hz; as 0/1 weights over the FFT bins.
_BANDS: Final = np.array([_band(f) for f in HANDSHAKE_HZ], dtype=np.float64)


def _tones_in(frame: np.ndarray) -> np.ndarray:
    """bool (2 blocks, 2 tones): which of 1400 / 2300 Hz each 10 ms block of FRAME holds."""
    x = frame.astype(np.float64).reshape(-1, _BLOCK)
    power = np.mean(x * x, axis=1)
    spectrum = np.abs(np.fft.rfft(x * _WINDOW, _NFFT, axis=1)) ** 2
    total = np.maximum(spectrum.sum(axis=1), 1e-9)[:, None]
    in_band = spectrum @ _BANDS.T
    # The band is wide (the window's main lobe); the centroid of its power says where the tone is.
    centroid = (spectrum * _BIN_HZ) @ _BANDS.T / np.maximum(in_band, 1e-9)
    on_frequency = np.abs(centroid / np.asarray(HANDSHAKE_HZ) - 1) <= _CENTROID_TOLERANCE
    return (in_band / total >= _MIN_FRACTION) & on_frequency & (power >= _MIN_POWER)[:, None]


class _Burst:
    """Start and end of the current burst of one tone, block by block, bridging short dropouts."""

    def __init__(self) -> None:
        self.start: float | None = None
        self.end = 0.0

    def reset(self) -> None:
        self.start = None

    @property
    def on(self) -> bool:
        return self.start is not None

    @property
    def length(self) -> float:
        return self.end - self.start if self.start is not None else 0.0

    def update(self, present: bool, t0: float, t1: float) -> tuple[float, float] | None:
        """One block [T0, T1): the (start, end) of a burst that is now over, else None."""
        if present:
            if self.start is None:
                self.start = t0
            self.end = t1
            return None
        if self.start is not None and t1 - self.end > _BRIDGE_S:
            burst = (self.start, self.end)
            self.start = None
            return burst
        return None


class _Tx(Enum):
    AWAIT_HANDSHAKE = "await_handshake"
    SCHEDULED = "scheduled"  # a message goes out at _start_at
    AWAIT_KISSOFF = "await_kissoff"
    KISSOFF = "kissoff"  # heard; waiting for it to end
    DONE = "done"


class InbandSender:
    """An emergency phone's side of DC-05: hears the handshake, sends MESSAGES, waits for kissoffs.

    MESSAGES are 16-digit Contact ID strings (0-9, B-F; spaces ignored; the checksum is
    sent as given, so a test can send a bad one) or ContactIdMessage objects. Create it
    when the call is answered (NOW). Per tick: ``feed(frame, now)`` with what the box
    sent, then send ``next_frame(now)``; read ``events()``. Figures: the module docstring.
    """

    def __init__(self, messages: Sequence[str | ContactIdMessage], now: float, *, on_ms: float = 55,
                 off_ms: float = 55, level_dbm0: float = -7.0, twist_db: float = 0.0,
                 start_delay_ms: float = 270, kissoff_wait: float = 1.25, kissoff_min_ms: float = 400,
                 attempts: int = 4, handshake_timeout: float = 10.0) -> None:
        if isinstance(messages, str | ContactIdMessage):
            messages = [messages]
        self.digits: tuple[str, ...] = tuple(_message_digits(m) for m in messages)
        if not self.digits:
            raise InbandError("an alarm phone needs at least one message to send")
        if attempts < 1:
            raise InbandError(f"attempts {attempts}: must be at least 1")
        if on_ms < 40 or off_ms < 30:
            # Below these a DTMF receiver may miss a digit or merge two (DC-05: 50-60 ms each).
            raise InbandError(f"DTMF {on_ms} ms on / {off_ms} ms off: need at least 40 / 30 ms")
        if min(kissoff_wait, kissoff_min_ms, handshake_timeout) <= 0 or start_delay_ms < 0:
            raise InbandError("wait times must be positive (the start delay not negative)")
        self.attempts = attempts
        self.kissoff_wait = kissoff_wait
        self.kissoff_min = kissoff_min_ms / 1000
        self.start_delay = start_delay_ms / 1000
        self._on, self._period = _samples(on_ms), _samples(on_ms) + _samples(off_ms)
        self._audio = [dtmf_tone(contact_id_to_keys(d), on_ms, off_ms, level_dbm0, twist_db=twist_db)
                       for d in self.digits]
        self._handshake_deadline = now + handshake_timeout
        self._out = _Output()
        self._events: list[InbandEvent] = []
        self._phase = _Tx.AWAIT_HANDSHAKE
        self._low, self._high = _Burst(), _Burst()
        self._low_end: float | None = None  # when the handshake's 1400 Hz burst ended
        self._index = 0  # the message being sent
        self._attempt = 0  # its transmissions so far
        self._start_at = 0.0
        self._deadline = 0.0  # AWAIT_KISSOFF: the 1.25 s since the last tone
        self._heard_at = 0.0
        self._pad = 0  # silence before the message in the output, samples
        self._emitted = 0  # samples of the current transmission handed out
        self._sending: tuple[int, int, int] | None = None
        self._sent = 0  # messages acknowledged by a kissoff
        self._failed = 0  # messages given up

    # -- the API --------------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        """Every message was acknowledged or given up: the line is the voice path's now."""
        return self._phase is _Tx.DONE

    @property
    def phase(self) -> str:
        """await_handshake, scheduled, await_kissoff, kissoff or done (for logs and tests)."""
        return self._phase.value

    @property
    def sent(self) -> int:
        """Messages acknowledged by a kissoff so far."""
        return self._sent

    @property
    def failed(self) -> int:
        """Messages given up so far (no kissoff after every attempt, or no handshake)."""
        return self._failed

    @property
    def sending(self) -> tuple[int, int, int] | None:
        """(message index, attempt, digit index) of the DTMF tone in the last frame handed out, if any."""
        return self._sending

    def events(self) -> list[InbandEvent]:
        events, self._events = self._events, []
        return events

    def feed(self, frame: np.ndarray, now: float) -> None:
        """FRAME (int16[160]) is what the box sent in [NOW, NOW + 20 ms)."""
        frame = _check_frame(frame)
        if self._phase is _Tx.DONE:
            return
        for block, (low, high) in enumerate(_tones_in(frame)):
            t0 = now + block * _BLOCK_S
            self._on_block(bool(low), bool(high), t0, t0 + _BLOCK_S)
        self._advance(now + FRAME_SAMPLES / SAMPLE_RATE)

    def next_frame(self, now: float) -> np.ndarray:
        """The audio (int16[160]) the phone sends in [NOW, NOW + 20 ms)."""
        self._advance(now)
        if self._phase is _Tx.SCHEDULED and self._start_at < now + FRAME_SAMPLES / SAMPLE_RATE:
            self._transmit(now)
        frame, _ = self._out.take()
        self._sending = self._digit_at(self._emitted) if self._phase is _Tx.AWAIT_KISSOFF else None
        self._emitted += FRAME_SAMPLES
        return frame

    # -- inside ---------------------------------------------------------------------------------

    def _on_block(self, low: bool, high: bool, t0: float, t1: float) -> None:
        if self._phase is _Tx.AWAIT_HANDSHAKE:
            low_burst = self._low.update(low, t0, t1)
            if low_burst is not None and 0.060 <= low_burst[1] - low_burst[0] <= 0.200:
                self._low_end = low_burst[1]
            high_burst = self._high.update(high, t0, t1)
            if (high_burst is not None and 0.060 <= high_burst[1] - high_burst[0] <= 0.200
                    and self._low_end is not None and 0 <= high_burst[0] - self._low_end <= 0.300):
                self._events.append(HandshakeHeard(t1))
                self._schedule(high_burst[1] + self.start_delay)
        elif self._phase is _Tx.AWAIT_KISSOFF:
            burst = self._low.update(low, t0, t1)
            if self._low.on and self._low.length >= self.kissoff_min:
                self._phase = _Tx.KISSOFF
                self._heard_at = t1
                self._sent += 1
                self._events.append(KissoffHeard(self._index, self.digits[self._index], self._attempt, t1))
            elif burst is not None and t1 >= self._deadline:
                self._no_kissoff(t1)  # a burst began in time but was too short to be a kissoff
        elif self._phase is _Tx.KISSOFF:
            burst = self._low.update(low, t0, t1)
            if burst is not None or t1 - self._heard_at > 3.0:  # a kissoff that never ends: go on
                self._next_message(burst[1] if burst is not None else t1)

    def _advance(self, now: float) -> None:
        if self._phase is _Tx.AWAIT_HANDSHAKE and now >= self._handshake_deadline:
            for index in range(self._index, len(self.digits)):
                self._events.append(GaveUp(index, self.digits[index], 0, "no_handshake", now))
                self._failed += 1
            self._phase = _Tx.DONE
        elif self._phase is _Tx.AWAIT_KISSOFF and now >= self._deadline and not self._low.on:
            self._no_kissoff(now)

    def _no_kissoff(self, now: float) -> None:
        if self._attempt >= self.attempts:
            digits = self.digits[self._index]
            self._events.append(GaveUp(self._index, digits, self._attempt, "no_kissoff", now))
            self._failed += 1
            self._next_message(now - self.start_delay)  # DC-05: the next one when the wait is over
        else:
            self._schedule(now)

    def _next_message(self, after: float) -> None:
        self._index += 1
        self._attempt = 0
        if self._index >= len(self.digits):
            self._phase = _Tx.DONE
        else:
            self._schedule(after + self.start_delay)

    def _schedule(self, at: float) -> None:
        self._phase = _Tx.SCHEDULED
        self._start_at = at

    def _transmit(self, now: float) -> None:
        # Silence up to the exact start time, so the 250-300 ms holds whatever the tick phase.
        self._pad = max(0, round((self._start_at - now) * SAMPLE_RATE))
        audio = self._audio[self._index]
        self._out.clear()
        self._out.add(np.zeros(self._pad, dtype=np.int16), audio)
        self._emitted = 0
        self._attempt += 1
        last_tone_end = self._pad + (MESSAGE_DIGITS - 1) * self._period + self._on
        self._deadline = now + last_tone_end / SAMPLE_RATE + self.kissoff_wait
        self._low.reset()
        self._phase = _Tx.AWAIT_KISSOFF

    def _digit_at(self, position: int) -> tuple[int, int, int] | None:
        """The digit whose tone overlaps the frame starting POSITION samples into the transmission
        (a frame meets at most one: every pause is longer than a frame)."""
        first, last = position - self._pad, position - self._pad + FRAME_SAMPLES - 1
        if last < 0:
            return None
        digit = last // self._period  # the last digit to start before the frame ends
        if digit >= MESSAGE_DIGITS or digit * self._period + self._on <= first:
            return None
        return (self._index, self._attempt, digit)


def _message_digits(message: str | ContactIdMessage) -> str:
    if isinstance(message, ContactIdMessage):
        return encode_dtmf(message)
    if not isinstance(message, str):
        raise InbandError(f"a message is a 16-digit string or a ContactIdMessage, "
                          f"not {type(message).__name__}")
    digits = "".join(message.split()).upper()
    if len(digits) != MESSAGE_DIGITS:
        raise InbandError(f"a Contact ID message is {MESSAGE_DIGITS} digits, got {len(digits)}: {message!r}")
    contact_id_to_keys(digits)  # every digit must have a key
    return digits
