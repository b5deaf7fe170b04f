"""Call-progress tones to the Chinese standard, for every channel of a tick at once.

The Chinese tone plan (the national signalling-tone specification, cited in docs/media.md
as YD/T 1095; the figures agree with published Chinese descriptions of the exchange's
信号音 and with the China entry of common PBX tone tables) uses one frequency, 450 Hz
(±25 Hz), and tells the tones apart by their cadence:

============  ==========  =====================================================
name          中文         cadence (ms)
============  ==========  =====================================================
dial          拨号音       continuous
ringback      回铃音       1000 on, 4000 off
busy          忙音         350 on, 350 off
congestion    拥塞音       700 on, 700 off
call_waiting  呼叫等待音   400 on, 4000 off
vacant        空号音       3 × (100 on, 100 off), then 400 on, 400 off
howler        催挂音       950 Hz, continuous (the exchange raises it in steps;
                           pass a higher level to do the same)
============  ==========  =====================================================

Each tone component is sent at ``level_dbm0`` (−10 dBm0 by default). The oscillator of a
channel runs on while the cadence gates it, so the tone is phase-continuous across
frames and bursts, and on/off edges fall on exact sample counts (at 8 kHz every
cadence above is a whole number of samples).

``ToneBank(channels)`` keeps, per channel, the tone, its level, the position in the
cadence and the oscillator phase, and ``next_frames()`` renders a whole tick
``(channels, 160)`` with a handful of array operations whatever the mix of tones.
``ToneGenerator`` is the same for one channel. Both are sans-I/O: one call, one tick.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np

from appliance.media import FRAME_SAMPLES, SAMPLE_RATE, MediaError
from appliance.media.dsp import OVERLOAD_DBM0, comfort_noise, dbm0_to_peak

__all__ = ["CHINA_TONES", "DEFAULT_LEVEL_DBM0", "ToneBank", "ToneGenerator", "ToneSegment",
           "ToneSpec", "cadence", "comfort_noise"]

DEFAULT_LEVEL_DBM0: Final = -10.0
_SAMPLES_PER_MS: Final = SAMPLE_RATE // 1000


@dataclass(frozen=True)
class ToneSegment:
    """FREQUENCIES (Hz; empty = silence) for MS milliseconds."""

    frequencies: tuple[float, ...]
    ms: int

    def __post_init__(self) -> None:
        if not isinstance(self.ms, int) or self.ms <= 0:
            raise MediaError(f"tone segment length must be a positive whole number of ms, got {self.ms!r}")
        for frequency in self.frequencies:
            if not 0 < frequency < SAMPLE_RATE / 2:
                raise MediaError(f"tone frequency {frequency} Hz outside 0 … {SAMPLE_RATE // 2} Hz")

    @property
    def samples(self) -> int:
        return self.ms * _SAMPLES_PER_MS


@dataclass(frozen=True)
class ToneSpec:
    """A named tone: SEGMENTS played in order and repeated for as long as it plays."""

    name: str
    label: str  # what a person calls it (拨号音), for logs and the console
    segments: tuple[ToneSegment, ...]

    def __post_init__(self) -> None:
        if not self.segments:
            raise MediaError(f"tone {self.name!r} has no segments")
        if not any(segment.frequencies for segment in self.segments):
            raise MediaError(f"tone {self.name!r} is silence in every segment")

    @property
    def period_samples(self) -> int:
        """Length of one cadence cycle in samples."""
        return sum(segment.samples for segment in self.segments)

    @property
    def components(self) -> int:
        """Most frequencies sounding at once."""
        return max(len(segment.frequencies) for segment in self.segments)


def cadence(name: str, label: str, frequencies: tuple[float, ...], *on_off_ms: int) -> ToneSpec:
    """A tone of FREQUENCIES switched on, off, on, off … for ON_OFF_MS (one value: continuous)."""
    segments = tuple(ToneSegment(frequencies if i % 2 == 0 else (), ms) for i, ms in enumerate(on_off_ms))
    return ToneSpec(name, label, segments)


CHINA_TONES: Final[Mapping[str, ToneSpec]] = {spec.name: spec for spec in (
    cadence("dial", "拨号音", (450,), 1000),
    cadence("ringback", "回铃音", (450,), 1000, 4000),
    cadence("busy", "忙音", (450,), 350, 350),
    cadence("congestion", "拥塞音", (450,), 700, 700),
    cadence("call_waiting", "呼叫等待音", (450,), 400, 4000),
    cadence("vacant", "空号音", (450,), 100, 100, 100, 100, 100, 100, 400, 400),
    cadence("howler", "催挂音", (950,), 1000),
)}


class _ToneTables:
    """Every known tone laid end to end, so one gather serves all channels whatever they play.

    Sample i of the cadence cycle of tone t is row ``offset[t] + i``; ``segment[row]``
    (2 bytes a sample) names its segment, and per segment there is each component's
    phase increment (cycles per sample) and on/off gate. During a silent segment the
    increments of the last sounding one are kept: the oscillator runs on, gated.
    """

    def __init__(self) -> None:
        self.specs: list[ToneSpec] = []
        self.index: dict[ToneSpec, int] = {}
        self.components = 1
        self._rebuild()

    def add(self, spec: ToneSpec) -> int:
        if spec not in self.index:
            self.index[spec] = len(self.specs)
            self.specs.append(spec)
            self.components = max(self.components, spec.components)
            self._rebuild()
        return self.index[spec]

    @property
    def nbytes(self) -> int:
        return self.segment.nbytes + self.increment.nbytes + self.gate.nbytes

    def _rebuild(self) -> None:
        increments, gates, lengths, periods, steady, first_segment = [], [], [], [], [], []
        for spec in self.specs:
            sounding = [s.frequencies for s in spec.segments if s.frequencies]
            running = sounding[-1]  # a leading pause keeps the oscillator of the cycle's end
            first_segment.append(len(lengths))
            for segment in spec.segments:
                if segment.frequencies:
                    running = segment.frequencies
                increment = np.zeros(self.components)
                increment[:len(running)] = np.asarray(running, dtype=np.float64) / SAMPLE_RATE
                gate = np.zeros(self.components, dtype=np.float32)
                gate[:len(segment.frequencies)] = 1.0
                increments.append(increment)
                gates.append(gate)
                lengths.append(segment.samples)
            periods.append(spec.period_samples)
            steady.append(len(set(sounding)) == 1)
        if len(lengths) > np.iinfo(np.uint16).max:
            raise MediaError(f"too many tone segments ({len(lengths)})")
        self.segment = np.repeat(np.arange(len(lengths), dtype=np.uint16), lengths)
        self.increment = np.array(increments).reshape(len(lengths), self.components)
        self.gate = np.array(gates, dtype=np.float32).reshape(len(lengths), self.components)
        self.period = np.asarray(periods, dtype=np.int64)
        self.offset = np.concatenate([[0], np.cumsum(self.period)[:-1]]).astype(np.int64)
        self.shortest_period = min(periods, default=0)
        # Steady tones (one set of frequencies, only gated: all of the Chinese plan) need
        # no per-sample increments: their phase is a straight line through the tick.
        self.steady = np.asarray(steady, dtype=bool)
        self.steady_increment = self.increment[np.asarray(first_segment, dtype=np.int64)]


class ToneBank:
    """Tones for CHANNELS channels, rendered a tick at a time as ``(channels, samples)`` int16.

    Each channel plays at most one tone; a channel not playing gives silence (zeros). Tones
    are named from TONES (the Chinese plan by default) or given as a ToneSpec.
    """

    def __init__(self, channels: int, *, frame_samples: int = FRAME_SAMPLES,
                 tones: Mapping[str, ToneSpec] = CHINA_TONES) -> None:
        if channels < 1:
            raise MediaError(f"tone bank: need at least one channel, got {channels}")
        if frame_samples < 1:
            raise MediaError(f"tone bank: frame of {frame_samples} samples")
        self.frame_samples = frame_samples
        self.tones = dict(tones)
        self._tables = _ToneTables()
        for spec in self.tones.values():
            self._tables.add(spec)
        self._tone = np.full(channels, -1, dtype=np.int64)  # index into the tables, −1 = none
        self._position = np.zeros(channels, dtype=np.int64)  # sample within the cadence cycle
        self._phase = np.zeros((channels, self._tables.components))  # cycles, in [0, 1)
        self._peak = np.zeros(channels, dtype=np.float32)
        self._ramp = np.arange(frame_samples, dtype=np.int64)

    @property
    def channels(self) -> int:
        return len(self._tone)

    def _spec(self, tone: str | ToneSpec) -> ToneSpec:
        if isinstance(tone, ToneSpec):
            return tone
        try:
            return self.tones[tone]
        except KeyError:
            raise MediaError(f"no tone {tone!r} (known: {', '.join(sorted(self.tones))})") from None

    def _check_channel(self, channel: int) -> None:
        if not 0 <= channel < self.channels:
            raise MediaError(f"tone bank: no channel {channel} (0 … {self.channels - 1})")

    def play(self, channel: int, tone: str | ToneSpec, level_dbm0: float = DEFAULT_LEVEL_DBM0, *,
             restart: bool = False) -> None:
        """Play TONE on CHANNEL at LEVEL_DBM0 per component, from the start of its cadence.

        Asking again for the tone a channel already plays changes only the level: its
        cadence goes on (call control may indicate ringback twice) unless RESTART.
        """
        self._check_channel(channel)
        if not level_dbm0 <= OVERLOAD_DBM0:
            raise MediaError(f"tone level {level_dbm0} dBm0 above the overload point (+{OVERLOAD_DBM0} dBm0)")
        spec = self._spec(tone)
        components_before = self._tables.components
        index = self._tables.add(spec)
        if self._tables.components > components_before:  # a tone with more components
            grown = np.zeros((self.channels, self._tables.components))
            grown[:, :components_before] = self._phase
            self._phase = grown
        if restart or self._tone[channel] != index:
            self._tone[channel] = index
            self._position[channel] = 0
            self._phase[channel] = 0.0
        self._peak[channel] = dbm0_to_peak(level_dbm0)

    def stop(self, channel: int) -> None:
        """Silence CHANNEL."""
        self._check_channel(channel)
        self._tone[channel] = -1

    def stop_all(self) -> None:
        self._tone[:] = -1

    def playing(self, channel: int) -> str | None:
        """Name of the tone CHANNEL plays, or None."""
        self._check_channel(channel)
        index = self._tone[channel]
        return None if index < 0 else self._tables.specs[index].name

    @property
    def table_bytes(self) -> int:
        """Memory of the cadence tables (shared by all channels)."""
        return self._tables.nbytes

    def position(self, channel: int) -> int:
        """Samples into the current cadence cycle of CHANNEL."""
        self._check_channel(channel)
        return int(self._position[channel])

    def next_frames(self) -> np.ndarray:
        """One tick for every channel: int16 ``(channels, frame_samples)``."""
        out = np.zeros((self.channels, self.frame_samples), dtype=np.int16)
        active = np.flatnonzero(self._tone >= 0)
        if active.size == 0:
            return out
        tables, tone = self._tables, self._tone[active]
        period = tables.period[tone][:, np.newaxis]
        cycle_position = self._position[active, np.newaxis] + self._ramp
        if self.frame_samples <= tables.shortest_period:  # wraps at most once: no division
            cycle_position -= period * (cycle_position >= period)
        else:
            cycle_position %= period
        # np.take rather than fancy indexing: the same gather, half the overhead.
        segment = np.take(tables.segment, tables.offset[tone][:, np.newaxis] + cycle_position)
        start = self._phase[active, np.newaxis, :]
        steady = tables.steady[tone]
        if steady.all():
            increment = tables.steady_increment[tone][:, np.newaxis, :]
            phase = start + increment * self._ramp[np.newaxis, :, np.newaxis]
            end_phase = phase[:, -1, :] + increment[:, 0, :]
        else:
            increment = np.take(tables.increment, segment, axis=0)  # (active, samples, components)
            # Phase at each sample = start phase + the increments of the samples before it.
            phase_after = start + np.cumsum(increment, axis=1)
            phase = phase_after - increment
            end_phase = phase_after[:, -1, :]
        # sin in float32 of the fraction of a cycle: 10× faster than float64 with the
        # phase kept in [0, 1), where float32 errs by < 0.01 LSB at full scale.
        fraction = (phase - np.floor(phase)).astype(np.float32)
        wave = np.sin(fraction * np.float32(2 * np.pi)) * np.take(tables.gate, segment, axis=0)
        signal = (wave.sum(axis=2) if wave.shape[2] > 1 else wave[:, :, 0]) * self._peak[active, np.newaxis]
        out[active] = np.clip(np.rint(signal), -32768, 32767).astype(np.int16)
        self._phase[active] = end_phase - np.floor(end_phase)
        self._position[active] = (self._position[active] + self.frame_samples) % period[:, 0]
        return out


class ToneGenerator:
    """One channel's tone, frame by frame: ``ToneGenerator("busy").next_frame()`` → int16[160]."""

    def __init__(self, tone: str | ToneSpec, level_dbm0: float = DEFAULT_LEVEL_DBM0, *,
                 frame_samples: int = FRAME_SAMPLES, tones: Mapping[str, ToneSpec] = CHINA_TONES) -> None:
        self._bank = ToneBank(1, frame_samples=frame_samples, tones=tones)
        self._bank.play(0, tone, level_dbm0)
        self.spec = self._bank._spec(tone)
        self.level_dbm0 = level_dbm0

    @property
    def position(self) -> int:
        """Samples into the current cadence cycle."""
        return self._bank.position(0)

    def next_frame(self) -> np.ndarray:
        """The next frame, int16 ``(frame_samples,)``, phase-continuous with the last."""
        return self._bank.next_frames()[0]
