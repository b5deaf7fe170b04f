"""The signal processing behind the DTMF receiver: which digit, if any, one 20 ms window holds.

Pure functions on arrays of windows (any number: every channel of a tick at once); the
state over time (start, end, pauses) is in `appliance.media.dtmf`. What each check is
for and how its default was chosen is in that module's docstring.

Every window (160 samples) is measured with fixed DFT columns, so one matrix product
serves all channels:

* four 5 ms segment sums per DTMF tone and per checked harmonic — summed, the
  160-sample Goertzel power that picks the strongest tone of each group; de-rotated by
  the measured offset and summed, the power a Goertzel tuned to the tone's actual
  frequency would see, weighing every sample alike (so a tone filling only part of the
  window counts only for that part);
* two Hann-tapered 15 ms sub-windows 5 ms apart per tone: the phase advance between them
  measures the tone's offset from nominal (unambiguous to ±100 Hz), and their power,
  corrected for that offset, its level (low sidelobes: a strong tone in the other group
  does not move a weak one's level, which matters for twist).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from appliance.media import SAMPLE_RATE
from appliance.media.dsp import DBM0_PEAK

LOW_GROUP_HZ: Final = (697.0, 770.0, 852.0, 941.0)
HIGH_GROUP_HZ: Final = (1209.0, 1336.0, 1477.0, 1633.0)
KEYPAD: Final = ("123A", "456B", "789C", "*0#D")  # rows: low group; columns: high group
DIGITS: Final = "".join(KEYPAD)  # index = 4 * row + column

ZERO_DBM0_PEAK: Final = DBM0_PEAK  # 0 dBm0 sine peak, the media engine's reference (dsp.py)
_ZERO_DBM0_POWER: Final = ZERO_DBM0_PEAK**2 / 2  # mean square of that sine

WINDOW: Final = 160  # 20 ms analysis window; a new one every 10 ms
_SEGMENT: Final = 40  # 5 ms
_SEGMENTS: Final = WINDOW // _SEGMENT
_SUBWINDOW: Final = 120  # Hann sub-windows at samples 0-119 and 40-159
_LAG: Final = WINDOW - _SUBWINDOW  # 5 ms between them: |Δf| < 100 Hz is unambiguous
_TONES_HZ: Final = np.array(LOW_GROUP_HZ + HIGH_GROUP_HZ)
# Harmonic checked per tone: the 3rd for the low group (its 2nd lies 58-83 Hz from a
# high-group tone), the 2nd for the high group.
_HARMONIC: Final = np.array([3.0] * 4 + [2.0] * 4)
_PROBE_CLEARANCE_HZ: Final = 120.0  # a comb probe this close to a tone is not informative


class DtmfError(ValueError):
    """Bad use of the DTMF API: wrong frame shape, time going backwards, an unknown digit."""


@dataclass(frozen=True)
class DtmfLimits:
    """Receiver thresholds per window; the defaults meet the figures in appliance.media.dtmf.

    Twist is the level of the high-group tone minus that of the low-group tone, in dB.
    """

    max_deviation: float = 0.025  # |measured/nominal − 1| of each tone
    min_level_dbm0: float = -39.0  # each tone
    max_high_above_low_db: float = 5.0
    max_low_above_high_db: float = 9.0
    min_tone_energy_fraction: float = 0.85  # both tones' energy / the window's
    max_harmonic_db: float = -16.0  # each tone's checked harmonic re the tone
    max_half_window_db: float = 3.0  # energy of the window's halves
    max_comb_db: float = -16.0  # energy at the voice-comb probes re both tones

    def __post_init__(self) -> None:
        if not 0.0 < self.max_deviation < 0.05:
            raise DtmfError(f"max_deviation {self.max_deviation}: must be between 0 and 0.05 "
                            "(beyond that neighbouring DTMF frequencies meet)")
        if not 0.0 < self.min_tone_energy_fraction <= 1.0:
            raise DtmfError(f"min_tone_energy_fraction {self.min_tone_energy_fraction}: must be in (0, 1]")
        for name in ("max_high_above_low_db", "max_low_above_high_db", "max_half_window_db"):
            if getattr(self, name) < 0:
                raise DtmfError(f"{name} {getattr(self, name)}: must not be negative")


@dataclass(frozen=True)
class WindowAnalysis:
    """What was measured in each window (arrays over the windows), for tests and tuning."""

    digit: np.ndarray  # index into DIGITS, -1 where the window holds no digit
    low_hz: np.ndarray  # measured frequency of the strongest low-group tone
    high_hz: np.ndarray  # … and of the strongest high-group tone
    low_dbm0: np.ndarray
    high_dbm0: np.ndarray
    tone_fraction: np.ndarray  # energy of the two tones / energy of the window
    low_harmonic_db: np.ndarray  # the low tone's 3rd harmonic re the tone
    high_harmonic_db: np.ndarray  # the high tone's 2nd harmonic re the tone
    half_window_db: np.ndarray  # |energy of the first half − of the second|
    comb_db: np.ndarray  # voice-comb probes re the tones (NaN: not probed, another check failed)


def _bases() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fixed DFT columns: per 5 ms segment, each segment's phase, the Hann sub-windows.

    Segment sums use time from the segment's own start; the factor exp(-j·ω·40·m) puts
    segment m back on the window's time axis, which the sub-windows use directly.
    """
    freqs = np.concatenate([_TONES_HZ, _TONES_HZ * _HARMONIC])  # 8 tones, then 8 harmonics
    omega = 2 * np.pi * freqs / SAMPLE_RATE
    n = np.arange(_SEGMENT)[:, None]
    segment = np.concatenate([np.cos(omega * n), -np.sin(omega * n)], axis=1)  # (40, 32)
    segment_phase = np.exp(-1j * omega[None, :] * _SEGMENT * np.arange(_SEGMENTS)[:, None])  # (4, 16)
    t = np.arange(WINDOW)[:, None]
    sub = np.zeros((WINDOW, 32))
    for i, first in enumerate((0, _LAG)):
        taper = np.zeros((WINDOW, 1))
        taper[first:first + _SUBWINDOW, 0] = _SUBWINDOW_TAPER
        sub[:, 16 * i:16 * i + 8] = taper * np.cos(omega[:8] * t)
        sub[:, 16 * i + 8:16 * i + 16] = -taper * np.sin(omega[:8] * t)
    return segment, segment_phase, sub


def _hann_gain_table() -> tuple[np.ndarray, np.ndarray]:
    """|Σ h[n]·e^{jΔω·n}| / Σ h[n] of a Hann sub-window, for offsets of −120 … +120 Hz."""
    offsets_hz = np.linspace(-120.0, 120.0, 2401)
    omega = 2 * np.pi * offsets_hz / SAMPLE_RATE
    response = np.exp(1j * omega[:, None] * np.arange(_SUBWINDOW)) @ _SUBWINDOW_TAPER
    return offsets_hz, np.abs(response) / _SUBWINDOW_TAPER.sum()


_SUBWINDOW_TAPER: Final = np.hanning(_SUBWINDOW + 2)[1:-1]
_PROBE_TAPER: Final = np.hanning(WINDOW + 2)[1:-1]
_SEGMENT_BASIS, _SEGMENT_PHASE, _SUBWINDOW_BASIS = _bases()
_HANN_OFFSETS_HZ, _HANN_GAIN = _hann_gain_table()


def _segment_gain(delta_omega: np.ndarray) -> np.ndarray:
    """|Σ_{i<40} e^{jΔω·i}| / 40: what a 5 ms segment sum keeps of a tone Δω (rad/sample) off."""
    half = delta_omega / 2
    small = np.abs(half) < 1e-9
    ratio = np.sin(_SEGMENT * half) / (_SEGMENT * np.where(small, 1.0, np.sin(half)))
    return np.where(small, 1.0, np.abs(ratio))


def _tracked_power(segments: np.ndarray, delta_omega: np.ndarray) -> np.ndarray:
    """Mean-square power of a tone Δω off nominal from its segment sums (…, 4) on the window axis."""
    derotate = np.exp(-1j * delta_omega[..., None] * _SEGMENT * np.arange(_SEGMENTS))
    amplitude = np.abs(np.sum(segments * derotate, axis=-1)) / (WINDOW * _segment_gain(delta_omega))
    return 2 * amplitude**2  # a real sine of complex amplitude a has mean square 2·a²


def _comb_db(windows: np.ndarray, low_hz: np.ndarray, high_hz: np.ndarray) -> np.ndarray:
    """Energy where a harmonic comb would put more harmonics, re the two tones, in dB.

    Two strong harmonics a·f0 and b·f0 of a voice or an instrument come with others at
    their spacing d = (b − a)·f0 — at fl − d, (fl + fh)/2 (b − a even), fh + d and at d
    itself — whereas DTMF tones are alone. A probe within 120 Hz of a tone (d ≈ fl for
    some digits) or outside 200-3800 Hz is left out; the Hann window keeps the tones'
    own leakage far below the threshold. The probes are summed (a sum varies less in
    noise than a maximum, which matters at 15 dB SNR).
    """
    spacing = high_hz - low_hz
    probes = np.abs(np.stack([spacing, low_hz - spacing, (low_hz + high_hz) / 2, high_hz + spacing], axis=1))
    useful = ((np.abs(probes - low_hz[:, None]) >= _PROBE_CLEARANCE_HZ)
              & (np.abs(probes - high_hz[:, None]) >= _PROBE_CLEARANCE_HZ)
              & (probes >= 200) & (probes <= 3800))
    freqs = np.concatenate([probes, low_hz[:, None], high_hz[:, None]], axis=1)  # (C, 6)
    # A DFT at frequencies that differ per window: with time n = 16·a + b, e^{-jθn} is
    # e^{-jθ·16a}·e^{-jθb}, 26 complex exponentials per frequency instead of 160.
    theta = -2j * np.pi * freqs / SAMPLE_RATE
    fine = np.exp(theta[:, :, None] * np.arange(16))
    coarse = np.exp(theta[:, :, None] * 16 * np.arange(WINDOW // 16))
    tapered = (windows * _PROBE_TAPER).reshape(-1, WINDOW // 16, 16)
    power = np.abs(np.einsum("cab,cfb,cfa->cf", tapered, fine, coarse, optimize=True)) ** 2
    comb = np.where(useful, power[:, :4], 0.0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 10 * np.log10(comb / power[:, 4:].sum(axis=1))


def analyse_windows(windows: np.ndarray, limits: DtmfLimits) -> WindowAnalysis:
    """Judge each 20 ms window of WINDOWS (float (W, 160), 8 kHz linear): which digit it holds."""
    count = windows.shape[0]
    rows = np.arange(count)[:, None]
    cs = windows.reshape(count, _SEGMENTS, _SEGMENT) @ _SEGMENT_BASIS
    bins = (cs[:, :, :16] + 1j * cs[:, :, 16:]) * _SEGMENT_PHASE[None]  # (W, 4, 16)
    goertzel = np.abs(bins[:, :, :8].sum(axis=1)) ** 2
    low = np.argmax(goertzel[:, :4], axis=1)
    high = 4 + np.argmax(goertzel[:, 4:], axis=1)
    picked = np.stack([low, high], axis=1)  # (W, 2): the strongest tone of each group

    sub = windows @ _SUBWINDOW_BASIS
    first = (sub[:, 0:8] + 1j * sub[:, 8:16])[rows, picked]
    second = (sub[:, 16:24] + 1j * sub[:, 24:32])[rows, picked]
    delta_omega = np.angle(second * np.conj(first)) / _LAG  # rad/sample
    offset_hz = delta_omega * SAMPLE_RATE / (2 * np.pi)
    nominal = _TONES_HZ[picked]
    measured_hz = nominal + offset_hz
    deviation = np.abs(offset_hz / nominal)
    hann_gain = np.interp(offset_hz, _HANN_OFFSETS_HZ, _HANN_GAIN)
    level_power = (np.abs(first) ** 2 + np.abs(second) ** 2) / (_SUBWINDOW_TAPER.sum() * hann_gain) ** 2

    tone_power = _tracked_power(bins[rows, :, picked], delta_omega)
    harmonic_power = _tracked_power(bins[rows, :, 8 + picked], _HARMONIC[picked] * delta_omega)
    mean_square = np.var(windows, axis=1)  # without DC
    halves = np.sum(windows.reshape(count, 2, WINDOW // 2) ** 2, axis=2)

    with np.errstate(divide="ignore", invalid="ignore"):
        level = 10 * np.log10(level_power / _ZERO_DBM0_POWER)
        twist = level[:, 1] - level[:, 0]
        fraction = np.where(mean_square > 0, tone_power.sum(axis=1) / mean_square, 0.0)
        harmonic_db = 10 * np.log10(harmonic_power / tone_power)
        half_db = np.abs(10 * np.log10(halves[:, 0] / halves[:, 1]))
        holds = (
            np.all(deviation <= limits.max_deviation, axis=1)
            & np.all(level >= limits.min_level_dbm0, axis=1)
            & (twist <= limits.max_high_above_low_db)
            & (twist >= -limits.max_low_above_high_db)
            & (fraction >= limits.min_tone_energy_fraction)
            & np.all(harmonic_db <= limits.max_harmonic_db, axis=1)
            & (half_db <= limits.max_half_window_db)
        )
    comb = np.full(count, np.nan)
    probed = np.flatnonzero(holds)  # outside DTMF very few windows get this far
    if len(probed):
        comb[probed] = _comb_db(windows[probed], measured_hz[probed, 0], measured_hz[probed, 1])
        holds[probed] &= comb[probed] <= limits.max_comb_db
    return WindowAnalysis(
        digit=np.where(holds, 4 * low + (high - 4), -1), low_hz=measured_hz[:, 0],
        high_hz=measured_hz[:, 1], low_dbm0=level[:, 0], high_dbm0=level[:, 1],
        tone_fraction=fraction, low_harmonic_db=harmonic_db[:, 0],
        high_harmonic_db=harmonic_db[:, 1], half_window_db=half_db, comb_db=comb)
