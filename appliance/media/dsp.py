"""Per-tick signal processing on arrays: levels in dBm0, gain, mixing, silence, comfort noise.

Everything takes a tick of linear 16-bit audio as an array whose last axis is time —
``(160,)`` for one channel, ``(channels, 160)`` for the box — and works on all rows at
once. Results that go back on the line are int16 and saturate (clip) rather than wrap:
a wrapped sum is a full-scale click in the caller's ear.

Levels: 0 dBm0 is the G.711 reference level. For A-law, the line's coding, a sine at
0 dBm0 has its peak 3.14 dB below the overload point (G.711 §3: the theoretical maximum
load is +3.14 dBm0), and the overload point, 4,096 in 13-bit units, is 32,768 on our
16-bit scale. So a 0 dBm0 sine has peak ≈ 22,778 and RMS ≈ 16,106; each dB is 20·log10.
The same reference is used for µ-law audio (its own overload is +3.17 dBm0; the 0.03 dB
difference is below what any test here can see).
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt

from appliance.media import FRAME_SAMPLES, MediaError

OVERLOAD_16BIT: Final = 32768.0  # the A-law overload point on the 16-bit scale
OVERLOAD_DBM0: Final = 3.14
DBM0_PEAK: Final = OVERLOAD_16BIT * 10 ** (-OVERLOAD_DBM0 / 20)  # ≈ 22,778
DBM0_RMS: Final = DBM0_PEAK / math.sqrt(2)  # ≈ 16,106

# A hangover computed from float `now`s may fall a few ULPs short of a whole number of
# ticks (0.02 × 15 ≠ 0.3); this much early is still "on time".
_TIME_SLACK: Final = 1e-6


def dbm0_to_peak(level_dbm0: float) -> float:
    """Peak (16-bit scale) of a sine at LEVEL_DBM0."""
    return DBM0_PEAK * 10 ** (level_dbm0 / 20)


def dbm0_to_rms(level_dbm0: float) -> float:
    """RMS (16-bit scale) of any signal at LEVEL_DBM0."""
    return DBM0_RMS * 10 ** (level_dbm0 / 20)


def saturate(samples: npt.ArrayLike) -> np.ndarray:
    """SAMPLES rounded to the nearest integer and clipped to int16."""
    array = np.asarray(samples)
    if np.issubdtype(array.dtype, np.floating):
        array = np.rint(array)
    return np.clip(array, -32768, 32767).astype(np.int16)


def _as_frames(frames: npt.ArrayLike, what: str) -> np.ndarray:
    array = np.asarray(frames)
    if array.ndim == 0:
        raise MediaError(f"{what}: need an array of samples (time on the last axis), got a scalar")
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise MediaError(f"{what}: samples must be numbers, not {array.dtype}")
    return array


def _gain_factors(gains_db: npt.ArrayLike, frames: np.ndarray, what: str) -> np.ndarray:
    """Linear factors of GAINS_DB shaped to broadcast over FRAMES.

    GAINS_DB is a scalar or has the shape of the leading axes of FRAMES (one gain per
    source, or per source and channel); time is never one of them.
    """
    gains = np.asarray(gains_db, dtype=np.float64)
    leading = frames.shape[:gains.ndim]
    if gains.ndim >= frames.ndim or gains.shape != leading:
        raise MediaError(f"{what}: gains of shape {gains.shape} do not match frames of shape "
                         f"{frames.shape} (one gain per row, or one for all)")
    factors = (10 ** (gains / 20)).astype(np.float32)
    return factors.reshape(gains.shape + (1,) * (frames.ndim - gains.ndim))


def apply_gain(frames: npt.ArrayLike, gain_db: npt.ArrayLike) -> np.ndarray:
    """FRAMES scaled by GAIN_DB (a scalar, or one per row), saturated to int16."""
    array = _as_frames(frames, "apply_gain")
    factors = _gain_factors(gain_db, array, "apply_gain")
    return saturate(array.astype(np.float32) * factors)


def mix(frames: npt.ArrayLike, gains_db: npt.ArrayLike | None = None) -> np.ndarray:
    """Sum of FRAMES over the first axis, each source at its gain, saturated to int16.

    ``(n, 160)`` → ``(160,)``: n sources into one channel; ``(k, channels, 160)`` →
    ``(channels, 160)``: k sources into each channel of a tick at once. GAINS_DB is None
    (all 0 dB: an exact integer sum), a scalar, or one per source (shape ``(k,)``) or per
    source and channel (``(k, channels)``).
    """
    array = _as_frames(frames, "mix")
    if array.ndim < 2:
        raise MediaError(f"mix: need sources on the first axis, got shape {array.shape}")
    if gains_db is None and np.issubdtype(array.dtype, np.integer):
        return saturate(array.sum(axis=0, dtype=np.int64))
    if gains_db is None:
        return saturate(array.sum(axis=0, dtype=np.float64))
    factors = _gain_factors(gains_db, array, "mix")
    return saturate((array.astype(np.float32) * factors).sum(axis=0))


def rms_dbm0(frames: npt.ArrayLike) -> np.ndarray:
    """RMS level in dBm0 of each row of FRAMES (time on the last axis); −inf for silence.

    A 1-D frame gives a 0-d result (a NumPy float), ``(n, 160)`` gives ``(n,)``.
    """
    array = _as_frames(frames, "rms_dbm0")
    if array.shape[-1] == 0:
        raise MediaError("rms_dbm0: frames have no samples")
    samples = array.astype(np.float64)
    mean_square = np.einsum("...i,...i->...", samples, samples) / array.shape[-1]
    with np.errstate(divide="ignore"):
        return 10 * np.log10(mean_square / DBM0_RMS**2)


def comfort_noise(level_dbm0: float, rng: np.random.Generator,
                  shape: int | tuple[int, ...] = FRAME_SAMPLES) -> np.ndarray:
    """White Gaussian noise with RMS at LEVEL_DBM0, int16 of SHAPE (one frame by default).

    What a caller hears instead of dead digital silence (hold, a muted agent, gaps between
    prompts), so they do not think the line dropped. Typical levels −70 … −50 dBm0.
    """
    if not -100.0 <= level_dbm0 <= 0.0:
        raise MediaError(f"comfort noise level {level_dbm0} dBm0 outside −100 … 0 dBm0")
    noise = rng.standard_normal(shape, dtype=np.float32) * np.float32(dbm0_to_rms(level_dbm0))
    return saturate(noise)


class SilenceBank:
    """Silence detection for N channels at once (sans-I/O): speaking = level ≥ threshold.

    A frame at or above THRESHOLD_DBM0 is speech; after the last such frame a channel
    still counts as speaking for HANGOVER_MS, so the pauses between words do not cut a
    talker into pieces. ``feed(frames, now)`` takes one tick ``(n, 160)`` and the time of
    that tick (seconds, from the caller's clock) and returns ``bool[n]``.
    """

    def __init__(self, channels: int, threshold_dbm0: float = -45.0, hangover_ms: float = 300.0) -> None:
        if channels < 1:
            raise MediaError(f"silence detector: need at least one channel, got {channels}")
        if hangover_ms < 0:
            raise MediaError(f"silence detector: hangover {hangover_ms} ms is negative")
        self.threshold_dbm0 = float(threshold_dbm0)
        self.hangover_s = hangover_ms / 1000.0
        self._last_speech = np.full(channels, -np.inf)  # time of the last loud frame
        self._speaking = np.zeros(channels, dtype=bool)
        self._levels = np.full(channels, -np.inf)
        self._now: float | None = None

    @property
    def channels(self) -> int:
        return len(self._speaking)

    @property
    def speaking(self) -> np.ndarray:
        """What the last feed() returned (a copy)."""
        return self._speaking.copy()

    @property
    def levels_dbm0(self) -> np.ndarray:
        """The level of each channel's last frame (a copy)."""
        return self._levels.copy()

    def feed(self, frames: npt.ArrayLike, now: float) -> np.ndarray:
        """Speaking (bool per channel) after the tick FRAMES of shape (channels, samples) at NOW."""
        array = _as_frames(frames, "silence detector")
        if array.ndim != 2 or array.shape[0] != self.channels:
            raise MediaError(f"silence detector: frames of shape {array.shape}, "
                             f"need ({self.channels}, samples)")
        if self._now is not None and now < self._now:
            raise MediaError(f"silence detector: time went backwards ({now} after {self._now})")
        self._now = now
        self._levels = rms_dbm0(array)
        loud = self._levels >= self.threshold_dbm0
        self._last_speech[loud] = now
        self._speaking = (now - self._last_speech) < self.hangover_s - _TIME_SLACK
        self._speaking |= loud  # a loud frame is speech even with no hangover at all
        return self._speaking.copy()

    def reset(self, channel: int) -> None:
        """Forget CHANNEL's history (a new call on it)."""
        self._last_speech[channel] = -np.inf
        self._speaking[channel] = False
        self._levels[channel] = -np.inf


class SilenceDetector:
    """Silence detection for one channel: ``feed(frame, now) -> speaking`` (see SilenceBank)."""

    def __init__(self, threshold_dbm0: float = -45.0, hangover_ms: float = 300.0) -> None:
        self._bank = SilenceBank(1, threshold_dbm0, hangover_ms)

    @property
    def speaking(self) -> bool:
        return bool(self._bank.speaking[0])

    @property
    def level_dbm0(self) -> float:
        """Level of the last frame fed."""
        return float(self._bank.levels_dbm0[0])

    def feed(self, frame: npt.ArrayLike, now: float) -> bool:
        """Speaking after FRAME (1-D samples) at NOW (seconds)."""
        array = _as_frames(frame, "silence detector")
        if array.ndim != 1:
            raise MediaError(f"silence detector: one frame is 1-D, got shape {array.shape}")
        return bool(self._bank.feed(array[np.newaxis, :], now)[0])

    def reset(self) -> None:
        self._bank.reset(0)
