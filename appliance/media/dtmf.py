"""DTMF (ITU-T Q.23 push-button signals): a receiver for every channel of a tick, and a generator.

Sans-I/O: ``DtmfBank(n).feed(frames, now)`` takes one 20 ms frame (160 samples of 8 kHz
linear PCM, int16) per channel and returns the digits that *started* in it, each once.
``DtmfDetector`` is the same for one channel (pbxd uses a bank: one call per tick for
all channels costs about what one channel costs). ``dtmf_tone`` makes the audio.

Receiver characteristics (Q.24 leaves the figures to national standards; these follow
the issue and the common Q.24 / Bellcore / ETSI ES 201 235-3 values)
------------------------------------------------------------------------------------
Every 10 ms a 20 ms window is judged (`appliance.media.dtmf_analysis`). It holds a digit
when the strongest tone of each group passes all of these (`DtmfLimits`):

=========================  ===============================  ===============================
check                      threshold                        requirement it serves
=========================  ===============================  ===============================
frequency, each tone       within 2.5 % of nominal          accept ±1.5 %, reject ±3.5 %
level, each tone           ≥ −39 dBm0                       accept −36 … 0 dBm0 (two tones
                                                            at 0 dBm0 clip; still accepted),
                                                            reject ≤ −42 dBm0
twist (high − low group)   −9 … +5 dB                       accept −8 … +4 dB (low group up
                                                            to 8 dB stronger, high up to 4)
both tones / all energy    ≥ 0.85                           talk-off; noise to 15 dB SNR;
                                                            the tone must fill the window
harmonics                  2nd of the high tone, 3rd of     talk-off: voices and notes have
                           the low tone ≤ −16 dB re tone    harmonics, DTMF tones do not
voice-comb probes          ≤ −16 dB re the tones            talk-off: two strong harmonics
                                                            of one voice come with others
stationarity               window halves within 3 dB        talk-off
=========================  ===============================  ===============================

Levels are dBm0 in the G.711 A-law convention of ``drivers/e1_card/g711.py``: a 0 dBm0
sine peaks 3.14 dB below the 16-bit full scale 32768.

Timing: a digit starts when 2 consecutive windows hold it and ends after 4 that do not.
Because a window holds a digit only when the tone fills about 85 % of it, this gives:

* a tone of 40 ms or more is always detected (in fact from 34 ms), one shorter than
  24 ms never (Q.24-style: reject below 23 ms, accept from 40 ms);
* a pause of 40 ms (in fact from 27 ms) between two tones — even of the same digit — is
  always recognised; an interruption of 10 ms (in fact up to 16 ms) is bridged, so a
  long or briefly broken tone is reported once;
* a digit is reported 30-40 ms after its tone began, at its start, once; a new digit
  straight after another (no pause) is reported when the first is over.

Measured on generated audio (tests/appliance/media): no talk-off in minutes of espeak-ng
Mandarin and English speech and of synthesised music; digits decoded at 15 dB SNR
(white noise over 0-4 kHz against both tones), through A-law, and as multimon-ng does.
"""

from __future__ import annotations

import math

import numpy as np

from appliance.media import FRAME_SAMPLES, SAMPLE_RATE
from appliance.media.dtmf_analysis import (
    DIGITS,
    HIGH_GROUP_HZ,
    KEYPAD,
    LOW_GROUP_HZ,
    ZERO_DBM0_PEAK,
    DtmfError,
    DtmfLimits,
    WindowAnalysis,
    analyse_windows,
)

__all__ = [
    "DIGITS", "FRAME_SAMPLES", "HIGH_GROUP_HZ", "KEYPAD", "LOW_GROUP_HZ", "SAMPLE_RATE",
    "ZERO_DBM0_PEAK", "DtmfBank", "DtmfDetector", "DtmfError", "DtmfLimits", "WindowAnalysis",
    "detect_digits", "digit_frequencies", "dtmf_tone",
]

_START_WINDOWS = 2  # consecutive windows holding a digit before it is reported
_END_WINDOWS = 4  # consecutive windows without it before it is over
_HALF = FRAME_SAMPLES // 2
_MAX_TICK_GAP_S = 0.030  # ticks further apart than this lost frames: their audio does not join


def digit_frequencies(digit: str) -> tuple[float, float]:
    """(low-group Hz, high-group Hz) of DIGIT (0-9, *, #, A-D; a-d too)."""
    index = DIGITS.find(digit.upper()) if len(digit) == 1 else -1
    if index < 0:
        raise DtmfError(f"{digit!r} is not a DTMF digit (0-9, *, #, A-D)")
    return LOW_GROUP_HZ[index // 4], HIGH_GROUP_HZ[index % 4]


class DtmfBank:
    """DTMF receivers for CHANNELS channels, fed one 20 ms frame of each per tick."""

    def __init__(self, channels: int, limits: DtmfLimits | None = None) -> None:
        if channels < 1:
            raise DtmfError(f"a DTMF bank needs at least one channel, not {channels}")
        self._n = channels
        self.limits = limits or DtmfLimits()
        self._last_now: float | None = None
        # The second half of every channel's last frame: this tick's first window starts there.
        self._prev_half = np.zeros((channels, _HALF))
        self._have_prev = False
        self._active = np.full(channels, -1, dtype=np.int8)  # the digit held (reported)
        self._misses = np.zeros(channels, dtype=np.int16)  # windows without it since
        self._candidate = np.full(channels, -1, dtype=np.int8)  # what the last window held
        self._run = np.zeros(channels, dtype=np.int16)  # … in how many windows in a row
        self.last_analysis: WindowAnalysis | None = None  # of the last feed, for diagnosis

    @property
    def channels(self) -> int:
        return self._n

    def held(self, channel: int) -> str | None:
        """The digit CHANNEL is sending now (reported, not yet over), or None."""
        index = int(self._active[channel])
        return DIGITS[index] if index >= 0 else None

    def reset(self, channel: int) -> None:
        """Forget CHANNEL's past (a new call on it): a tone still on is reported anew."""
        self._prev_half[channel] = 0
        self._active[channel] = -1
        self._misses[channel] = 0
        self._candidate[channel] = -1
        self._run[channel] = 0

    def feed(self, frames: np.ndarray, now: float) -> list[tuple[int, str]]:
        """This tick's FRAMES (int16 (channels, 160)) at NOW (s) → [(channel, digit)] that started."""
        frames = np.asarray(frames)
        if frames.shape != (self._n, FRAME_SAMPLES):
            raise DtmfError(f"frames of shape {frames.shape}: this bank takes ({self._n}, "
                            f"{FRAME_SAMPLES}), one 20 ms frame per channel")
        if self._last_now is not None:
            if now < self._last_now:
                raise DtmfError(f"now went backwards: {now} after {self._last_now}")
            if now - self._last_now > _MAX_TICK_GAP_S:
                self._have_prev = False  # no window across the hole; digit states carry on
        self._last_now = now

        x = frames.astype(np.float64)
        windows = x
        if self._have_prev:  # first [last half, this first half], then this frame
            windows = np.concatenate([np.concatenate([self._prev_half, x[:, :_HALF]], axis=1), x])
        self._prev_half = x[:, _HALF:]
        self._have_prev = True
        analysis = analyse_windows(windows, self.limits)
        self.last_analysis = analysis

        started = np.zeros(self._n, dtype=bool)
        for digit in analysis.digit.reshape(-1, self._n):  # the windows in time order
            started |= self._step(digit)
        return [(int(channel), DIGITS[self._active[channel]]) for channel in np.flatnonzero(started)]

    def _step(self, digit: np.ndarray) -> np.ndarray:
        """Advance every channel by one window that holds DIGIT (-1: none); True where one starts."""
        active = self._active >= 0
        # Both counters stop at their threshold: a quiet channel runs for weeks.
        missed = np.minimum(self._misses + 1, _END_WINDOWS)
        self._misses = np.where(active & (digit == self._active), 0, missed).astype(np.int16)
        self._active[active & (self._misses >= _END_WINDOWS)] = -1

        again = (digit >= 0) & (digit == self._candidate)
        run = np.where(again, np.minimum(self._run + 1, _START_WINDOWS), (digit >= 0).astype(np.int16))
        self._run = run.astype(np.int16)
        self._candidate = digit.astype(np.int8)
        start = (self._active < 0) & (self._candidate >= 0) & (self._run >= _START_WINDOWS)
        self._active[start] = self._candidate[start]
        self._misses[start] = 0
        return start


class DtmfDetector:
    """A DTMF receiver for one channel: ``feed(frame, now)`` → the digits that started in it."""

    def __init__(self, limits: DtmfLimits | None = None) -> None:
        self._bank = DtmfBank(1, limits)

    @property
    def held(self) -> str | None:
        """The digit being sent now (reported, not yet over), or None."""
        return self._bank.held(0)

    def reset(self) -> None:
        self._bank.reset(0)

    def feed(self, frame: np.ndarray, now: float) -> list[str]:
        """FRAME: int16[160] of 8 kHz audio at NOW (s) → the digits (at most one) that started."""
        frame = np.asarray(frame)
        if frame.shape != (FRAME_SAMPLES,):
            raise DtmfError(f"a frame of shape {frame.shape}: need ({FRAME_SAMPLES},), 20 ms")
        return [digit for _, digit in self._bank.feed(frame[None, :], now)]


def detect_digits(samples: np.ndarray, limits: DtmfLimits | None = None) -> str:
    """Every digit in SAMPLES (8 kHz int16, any length), in order: for files and tests."""
    samples = np.asarray(samples).ravel()
    # Silence after the end lets a tone that runs to the last sample be judged too.
    padded = np.zeros(-(-len(samples) // FRAME_SAMPLES) * FRAME_SAMPLES + 2 * FRAME_SAMPLES, np.int16)
    padded[:len(samples)] = samples
    detector = DtmfDetector(limits)
    found = []
    for tick, frame in enumerate(padded.reshape(-1, FRAME_SAMPLES)):
        found += detector.feed(frame, tick * FRAME_SAMPLES / SAMPLE_RATE)
    return "".join(found)


def dtmf_tone(digits: str, on_ms: float = 80, off_ms: float = 80, level_dbm0: float = -7.0, *,
              twist_db: float = 0.0, deviation: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """8 kHz int16 audio of DIGITS, each ON_MS of its two tones and then OFF_MS of silence.

    LEVEL_DBM0 is the low-group tone's level; the high-group tone is TWIST_DB above it
    (below if negative). DEVIATION is each group's relative frequency error (low, high),
    e.g. (0.015, -0.015). Two tones at 0 dBm0 each overload 16 bits (and A-law): clipped.
    """
    if on_ms <= 0 or off_ms < 0:
        raise DtmfError(f"on_ms {on_ms}, off_ms {off_ms}: a tone must last and a pause be ≥ 0")
    freqs = [digit_frequencies(d) for d in digits]  # all digits checked before any work
    t = np.arange(round(on_ms * SAMPLE_RATE / 1000)) / SAMPLE_RATE
    pause = np.zeros(round(off_ms * SAMPLE_RATE / 1000))
    low_amp = ZERO_DBM0_PEAK * 10 ** (level_dbm0 / 20)
    high_amp = low_amp * 10 ** (twist_db / 20)
    pieces = [np.zeros(0)]
    for low_hz, high_hz in freqs:
        pieces.append(low_amp * np.sin(2 * math.pi * low_hz * (1 + deviation[0]) * t)
                      + high_amp * np.sin(2 * math.pi * high_hz * (1 + deviation[1]) * t))
        pieces.append(pause)
    return np.clip(np.round(np.concatenate(pieces)), -32768, 32767).astype(np.int16)
