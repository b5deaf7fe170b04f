"""Call-progress tones: Chinese frequencies and cadences to the sample, level, phase continuity, the bank."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.media import MediaError, g711
from appliance.media.dsp import dbm0_to_peak, rms_dbm0
from appliance.media.tones import CHINA_TONES, ToneBank, ToneGenerator, ToneSegment, ToneSpec

RATE = 8000
# The Chinese plan, written out here independently of tones.py: (frequency, on/off ms …).
STANDARD = {
    "dial": (450, [(1000, True)]),
    "ringback": (450, [(1000, True), (4000, False)]),
    "busy": (450, [(350, True), (350, False)]),
    "congestion": (450, [(700, True), (700, False)]),
    "call_waiting": (450, [(400, True), (4000, False)]),
    "vacant": (450, [(100, True), (100, False)] * 3 + [(400, True), (400, False)]),
    "howler": (950, [(1000, True)]),
}


def render(generator: ToneGenerator, samples: int) -> np.ndarray:
    frames = -(-samples // 160)
    return np.concatenate([generator.next_frame() for _ in range(frames)])[:samples]


def expected_gate(pattern: list[tuple[int, bool]], samples: int) -> np.ndarray:
    cycle = np.concatenate([np.full(ms * RATE // 1000, on) for ms, on in pattern])
    return np.resize(cycle, samples)


def reference(frequency: float, samples: int, level_dbm0: float = -10.0) -> np.ndarray:
    """A sine started at phase 0 and never reset: what a phase-continuous gated oscillator gives."""
    return np.rint(dbm0_to_peak(level_dbm0) * np.sin(2 * np.pi * frequency * np.arange(samples) / RATE))


def test_the_plan_has_the_chinese_tones() -> None:
    assert set(STANDARD) <= set(CHINA_TONES)
    assert CHINA_TONES["busy"].label == "忙音"
    assert CHINA_TONES["ringback"].period_samples == 40000


@pytest.mark.parametrize("name", sorted(STANDARD))
def test_frequency_is_the_fft_peak(name: str) -> None:
    frequency, pattern = STANDARD[name]
    burst_ms = pattern[0][0]  # every Chinese tone starts with a burst
    audio = render(ToneGenerator(name), 2 * burst_ms * RATE // 1000)
    burst = audio[:burst_ms * RATE // 1000]
    spectrum = np.abs(np.fft.rfft(burst, n=RATE))  # zero-padded to 1 Hz bins
    assert int(np.argmax(spectrum)) == frequency
    # A pure tone: its harmonics (distortion) are more than 40 dB down.
    for harmonic in (2 * frequency, 3 * frequency):
        if harmonic < RATE // 2:
            assert spectrum[harmonic - 2:harmonic + 3].max() < spectrum[frequency] / 100


@pytest.mark.parametrize("name", sorted(STANDARD))
def test_cadence_is_exact_to_the_sample(name: str) -> None:
    frequency, pattern = STANDARD[name]
    samples = 2 * sum(ms for ms, _ in pattern) * RATE // 1000 + 1234
    audio = render(ToneGenerator(name), samples)
    gate = expected_gate(pattern, samples)
    assert (audio[~gate] == 0).all()  # every sample of every pause is silent
    # Every sample of every burst is the running sine (±1 LSB for float32 rounding).
    assert np.abs(audio[gate] - reference(frequency, samples)[gate]).max() <= 1
    edges = np.flatnonzero(np.diff(gate.astype(np.int8)))
    for edge in edges:  # the sample before a pause still sounds, the first of a burst's second does
        if gate[edge]:
            assert audio[edge] != 0 and audio[edge + 1] == 0
        else:
            assert audio[edge] == 0 and audio[edge + 2] != 0


@pytest.mark.parametrize("level", [-10.0, -20.0, -3.0])
def test_level_within_half_a_db_also_through_alaw(level: float) -> None:
    audio = render(ToneGenerator("ringback", level), 8000)  # exactly the first 1 s burst
    assert abs(float(rms_dbm0(audio)) - level) < 0.5
    line = g711.alaw_to_linear(g711.linear_to_alaw(audio))
    assert abs(float(rms_dbm0(line)) - level) < 0.5


def test_default_level_is_minus_ten_dbm0() -> None:
    assert abs(float(rms_dbm0(render(ToneGenerator("dial"), 8000))) + 10.0) < 0.05


def test_frame_size_does_not_change_the_signal() -> None:
    # 7 samples: many frames per cadence step; 1000: a frame longer than vacant's 100 ms steps.
    long = render(ToneGenerator("vacant"), 16000)
    for frame_samples in (7, 1000):
        generator = ToneGenerator("vacant", frame_samples=frame_samples)
        frames = -(-16000 // frame_samples)
        other = np.concatenate([generator.next_frame() for _ in range(frames)])[:16000]
        assert np.abs(other.astype(int) - long).max() <= 1
        assert ((other == 0) == (long == 0)).mean() > 0.999


def test_position_runs_through_the_cadence_and_wraps() -> None:
    generator = ToneGenerator("busy")  # 5600-sample cycle
    for _ in range(35):
        generator.next_frame()
    assert generator.position == 35 * 160 % 5600


def test_bank_renders_each_channel_like_its_own_generator() -> None:
    names = sorted(STANDARD)
    bank = ToneBank(len(names) + 2)
    for channel, name in enumerate(names):
        bank.play(channel, name, level_dbm0=-10.0 - channel)
    singles = [ToneGenerator(name, -10.0 - channel) for channel, name in enumerate(names)]
    for _ in range(300):
        tick = bank.next_frames()
        assert tick.shape == (len(names) + 2, 160) and tick.dtype == np.int16
        for channel, single in enumerate(singles):
            assert np.abs(tick[channel].astype(int) - single.next_frame()).max() <= 1
        assert not tick[len(names):].any()  # channels without a tone are silent


def test_channels_keep_their_own_cadence_positions() -> None:
    bank = ToneBank(2)
    bank.play(0, "busy")
    for _ in range(10):
        bank.next_frames()
    bank.play(1, "busy")  # starts later: its cadence starts at 0, channel 0's goes on
    assert bank.position(0) == 1600 and bank.position(1) == 0
    late = ToneGenerator("busy")
    for _ in range(40):
        tick = bank.next_frames()
        assert np.abs(tick[1].astype(int) - late.next_frame()).max() <= 1


def test_play_again_keeps_the_cadence_unless_restarted() -> None:
    bank = ToneBank(1)
    bank.play(0, "ringback")
    for _ in range(5):
        bank.next_frames()
    bank.play(0, "ringback", -20.0)
    assert bank.position(0) == 800
    assert abs(float(rms_dbm0(bank.next_frames()[0])) + 20.0) < 0.5
    bank.play(0, "ringback", restart=True)
    assert bank.position(0) == 0
    bank.play(0, "busy")
    assert bank.playing(0) == "busy" and bank.position(0) == 0
    bank.stop(0)
    assert bank.playing(0) is None and not bank.next_frames().any()


def test_a_tone_of_changing_frequencies_is_phase_continuous() -> None:
    # ITU-T E.180 special information tone: 950, 1400, 1800 Hz × 330 ms, then 1 s silence.
    sit = ToneSpec("sit", "特殊信息音", (ToneSegment((950,), 330), ToneSegment((1400,), 330),
                                         ToneSegment((1800,), 330), ToneSegment((), 1000)))
    bank = ToneBank(2)
    bank.play(0, sit)
    bank.play(1, "dial")  # a steady tone beside it takes the general path too
    audio = np.concatenate([bank.next_frames() for _ in range(100)], axis=1)
    for index, frequency in enumerate((950, 1400, 1800)):
        burst = audio[0, index * 2640:(index + 1) * 2640]
        assert abs(np.argmax(np.abs(np.fft.rfft(burst))) * RATE / len(burst) - frequency) < 4
    assert not audio[0, 7920:15920].any()
    # Continuous phase: no sample-to-sample jump larger than a sine's steepest slope allows.
    steepest = 2 * np.pi * 1800 / RATE * dbm0_to_peak(-10.0)
    assert np.abs(np.diff(audio[0, :7920].astype(int))).max() <= steepest + 2
    assert np.abs(audio[1] - reference(450, audio.shape[1])).max() <= 1


def test_dual_frequency_tones_sum_their_components() -> None:
    spec = ToneSpec("test_pair", "双音", (ToneSegment((400, 1000), 1000),))
    audio = render(ToneGenerator(spec, -13.0), 8000)
    spectrum = np.abs(np.fft.rfft(audio))
    assert sorted(np.argsort(spectrum)[-2:].tolist()) == [400, 1000]
    assert abs(float(rms_dbm0(audio)) - (-13.0 + 10 * np.log10(2))) < 0.1


def test_bad_requests_say_what_is_wrong() -> None:
    bank = ToneBank(2)
    with pytest.raises(MediaError, match="known: busy"):
        bank.play(0, "engaged")
    with pytest.raises(MediaError, match="no channel 2"):
        bank.play(2, "busy")
    with pytest.raises(MediaError, match="overload"):
        bank.play(0, "busy", level_dbm0=6.0)
    with pytest.raises(MediaError, match="whole number of ms"):
        ToneSegment((450,), 0)
    with pytest.raises(MediaError, match="outside"):
        ToneSegment((5000,), 100)
    with pytest.raises(MediaError, match="silence in every segment"):
        ToneSpec("mute", "静音", (ToneSegment((), 100),))
