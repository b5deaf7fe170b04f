"""DTMF receiver and generator against the Q.24-style figures of appliance/media/dtmf.py.

Every limit is tested on both sides (must detect / must not), timing at every alignment
of the tone to the 20 ms tick (one bank channel per sample offset), and the signals are
made with dtmf_tone and checked independently with NumPy's FFT.
"""

from __future__ import annotations

import numpy as np
import pytest

from appliance.media.dtmf import (
    DIGITS,
    FRAME_SAMPLES,
    SAMPLE_RATE,
    ZERO_DBM0_PEAK,
    DtmfBank,
    DtmfDetector,
    DtmfError,
    DtmfLimits,
    detect_digits,
    digit_frequencies,
    dtmf_tone,
)
from drivers.e1_card import g711

ALIGNMENTS = range(0, 80)  # every sample offset within a 10 ms window hop


def silence(ms: float) -> np.ndarray:
    return np.zeros(round(ms * SAMPLE_RATE / 1000), dtype=np.int16)


def with_noise(signal: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """SIGNAL plus white noise (0-4 kHz) SNR_DB below the power of its tones (both together)."""
    tones = signal[signal != 0].astype(np.float64)
    noise_power = np.mean(tones**2) / 10 ** (snr_db / 10)
    noisy = signal + rng.normal(0.0, np.sqrt(noise_power), len(signal))
    return np.clip(np.round(noisy), -32768, 32767).astype(np.int16)


def through_alaw(signal: np.ndarray) -> np.ndarray:
    """SIGNAL as it comes off the E1: encoded to G.711 A-law and decoded again."""
    codes = g711.linear_to_alaw(signal.tolist())
    return np.frombuffer(g711.alaw_to_linear(codes).tobytes(), dtype=np.int16)


def bank_digits(signals: list[np.ndarray]) -> list[str]:
    """Each signal on its own channel of one DtmfBank: the digits found on each channel."""
    length = max(len(s) for s in signals) + 3 * FRAME_SAMPLES
    length += -length % FRAME_SAMPLES
    lanes = np.zeros((len(signals), length), dtype=np.int16)
    for lane, signal in zip(lanes, signals, strict=True):
        lane[:len(signal)] = signal
    bank = DtmfBank(len(signals))
    found = [""] * len(signals)
    for tick in range(length // FRAME_SAMPLES):
        frames = lanes[:, tick * FRAME_SAMPLES:(tick + 1) * FRAME_SAMPLES]
        for channel, digit in bank.feed(frames, tick * 0.02):
            found[channel] += digit
    return found


def aligned(signal: np.ndarray) -> list[np.ndarray]:
    return [np.concatenate([silence(30), np.zeros(offset, np.int16), signal]) for offset in ALIGNMENTS]


def tone_level_dbm0(signal: np.ndarray, freq: float) -> float:
    """Level of the component at FREQ, by FFT over a whole number of periods (independent check)."""
    spectrum = np.fft.rfft(signal.astype(np.float64)) / len(signal)
    k = round(freq * len(signal) / SAMPLE_RATE)
    peak = 2 * np.abs(spectrum[k])
    return 20 * np.log10(peak / ZERO_DBM0_PEAK)


def test_every_digit_is_detected_once_at_nominal_frequencies() -> None:
    assert detect_digits(dtmf_tone(DIGITS)) == DIGITS
    assert detect_digits(dtmf_tone("abcd")) == "ABCD"


def test_a_bank_hears_sixteen_channels_at_once_each_digit_once_at_its_start() -> None:
    lanes = np.stack([np.concatenate([silence(20 * i), dtmf_tone(d, on_ms=200, off_ms=0),
                                      silence(400 - 20 * i)]) for i, d in enumerate(DIGITS)])
    bank = DtmfBank(16)
    events = []
    for tick in range(lanes.shape[1] // FRAME_SAMPLES):
        frames = lanes[:, tick * FRAME_SAMPLES:(tick + 1) * FRAME_SAMPLES]
        events += [(tick, ch, d) for ch, d in bank.feed(frames, now=100.0 + tick * 0.02)]
        if tick == 12:  # channel 0's tone is on from tick 0 to 10, channel 5's from 5 to 15
            assert bank.held(5) == DIGITS[5] and bank.held(0) is None
    assert [(ch, d) for _, ch, d in events] == list(enumerate(DIGITS))
    # Reported 30-40 ms after the tone began (the tone of channel i begins at tick i).
    assert all(tick - ch in (1, 2) for tick, ch, _ in events)


@pytest.mark.parametrize("deviation", [(0.015, 0.0), (-0.015, 0.0), (0.0, 0.015), (0.0, -0.015),
                                       (0.015, -0.015), (-0.015, 0.015)])
def test_tones_off_by_1_5_percent_are_accepted(deviation: tuple[float, float]) -> None:
    assert detect_digits(dtmf_tone(DIGITS, deviation=deviation)) == DIGITS


@pytest.mark.parametrize("deviation", [(0.035, 0.0), (-0.035, 0.0), (0.0, 0.035), (0.0, -0.035),
                                       (0.05, 0.05), (-0.06, -0.06)])
def test_tones_off_by_3_5_percent_or_more_are_rejected(deviation: tuple[float, float]) -> None:
    assert detect_digits(dtmf_tone(DIGITS, deviation=deviation)) == ""


def test_the_generator_puts_the_deviated_frequency_where_asked() -> None:
    tone = dtmf_tone("1", on_ms=1000, off_ms=0, deviation=(0.015, -0.035))
    spectrum = np.abs(np.fft.rfft(tone.astype(np.float64)))  # 1 Hz bins over one second
    low, high = digit_frequencies("1")
    assert np.argmax(spectrum[:1000]) == round(low * 1.015)
    assert 1000 + np.argmax(spectrum[1000:]) == round(high * 0.965)


@pytest.mark.parametrize("twist_db", [4.0, -8.0, 0.0])
def test_twist_up_to_4_db_high_above_and_8_db_low_above_is_accepted(twist_db: float) -> None:
    assert detect_digits(dtmf_tone(DIGITS, level_dbm0=-12, twist_db=twist_db)) == DIGITS


@pytest.mark.parametrize("twist_db", [6.0, -10.0, 15.0, -20.0])
def test_more_twist_is_rejected(twist_db: float) -> None:
    assert detect_digits(dtmf_tone(DIGITS, level_dbm0=-12, twist_db=twist_db)) == ""


def test_twist_sign_is_high_group_minus_low_group() -> None:
    tone = dtmf_tone("5", on_ms=1000, off_ms=0, level_dbm0=-12, twist_db=4)
    low, high = digit_frequencies("5")
    assert tone_level_dbm0(tone, low) == pytest.approx(-12, abs=0.05)
    assert tone_level_dbm0(tone, high) == pytest.approx(-8, abs=0.05)


@pytest.mark.parametrize("level_dbm0", [0.0, -3.0, -20.0, -36.0])
def test_levels_from_0_to_minus_36_dbm0_per_tone_are_accepted_also_through_alaw(level_dbm0: float) -> None:
    tone = dtmf_tone(DIGITS, level_dbm0=level_dbm0)
    assert detect_digits(tone) == DIGITS
    assert detect_digits(through_alaw(tone)) == DIGITS


@pytest.mark.parametrize("level_dbm0", [-42.0, -50.0])
def test_levels_of_minus_42_dbm0_and_below_are_rejected(level_dbm0: float) -> None:
    assert detect_digits(dtmf_tone(DIGITS, level_dbm0=level_dbm0)) == ""
    assert detect_digits(through_alaw(dtmf_tone(DIGITS, level_dbm0=level_dbm0))) == ""


def test_generated_levels_are_dbm0_per_tone_and_full_level_clips_instead_of_wrapping() -> None:
    tone = dtmf_tone("0", on_ms=1000, off_ms=0, level_dbm0=-7)
    low, high = digit_frequencies("0")
    assert tone_level_dbm0(tone, low) == pytest.approx(-7, abs=0.05)
    assert tone_level_dbm0(tone, high) == pytest.approx(-7, abs=0.05)
    loud = dtmf_tone("0", on_ms=1000, off_ms=0, level_dbm0=0)
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    ideal = ZERO_DBM0_PEAK * (np.sin(2 * np.pi * low * t) + np.sin(2 * np.pi * high * t))
    assert ideal.max() > 40000  # two tones at 0 dBm0 overload 16 bits …
    assert np.array_equal(loud, np.clip(np.round(ideal), -32768, 32767))  # … and are clipped, not wrapped


def test_a_40_ms_tone_is_detected_at_every_alignment_to_the_tick() -> None:
    for digit in "1D":
        assert bank_digits(aligned(dtmf_tone(digit, on_ms=40, off_ms=0))) == [digit] * len(ALIGNMENTS)


@pytest.mark.parametrize("on_ms", [20.0, 23.0])
def test_a_tone_shorter_than_23_ms_is_never_detected(on_ms: float) -> None:
    for digit in "1D":
        assert bank_digits(aligned(dtmf_tone(digit, on_ms=on_ms, off_ms=0))) == [""] * len(ALIGNMENTS)


def test_a_40_ms_pause_separates_two_presses_of_the_same_digit_at_every_alignment() -> None:
    press = dtmf_tone("7", on_ms=40, off_ms=40)
    assert bank_digits(aligned(np.concatenate([press, press]))) == ["77"] * len(ALIGNMENTS)


def test_a_10_ms_interruption_is_bridged_at_every_alignment() -> None:
    broken = np.concatenate([dtmf_tone("7", on_ms=100, off_ms=10), dtmf_tone("7", on_ms=100, off_ms=0)])
    assert bank_digits(aligned(broken)) == ["7"] * len(ALIGNMENTS)


def test_a_long_tone_is_one_digit_even_broken_and_in_noise() -> None:
    rng = np.random.default_rng(11)
    long_tone = dtmf_tone("9", on_ms=5000, off_ms=0, level_dbm0=-20)
    broken = long_tone.copy()
    for start in range(4000, len(broken) - 80, 4000):  # a 10 ms drop-out every half second
        broken[start:start + 80] = 0
    signals = [long_tone, broken, with_noise(long_tone, 15, rng), with_noise(broken, 15, rng)]
    assert bank_digits(signals) == ["9"] * 4


def test_a_different_digit_straight_after_another_is_still_reported() -> None:
    assert detect_digits(dtmf_tone("1234", on_ms=80, off_ms=0)) == "1234"


# SNR is against both tones together: at −8 dB twist the weak tone is only ~6 dB above the
# noise over 0-4 kHz, where its level reads ±1 dB; tones of 60 ms+ give the extra windows.
@pytest.mark.parametrize(("twist_db", "min_on_ms"), [(0.0, 45.0), (4.0, 45.0), (-8.0, 60.0)])
def test_random_digit_strings_are_decoded_exactly_at_15_db_snr(twist_db: float, min_on_ms: float) -> None:
    rng = np.random.default_rng(int(twist_db) + 100)
    digits = "".join(rng.choice(list(DIGITS), 100))
    signal = np.concatenate([dtmf_tone(d, on_ms=rng.uniform(min_on_ms, 100), off_ms=rng.uniform(45, 100),
                                       level_dbm0=-18, twist_db=twist_db) for d in digits])
    assert detect_digits(with_noise(signal, 15, rng)) == digits
    assert detect_digits(through_alaw(with_noise(signal, 15, rng))) == digits


def test_noise_silence_and_single_or_triple_tones_are_no_digits() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(8000) / SAMPLE_RATE
    amp = ZERO_DBM0_PEAK * 10 ** (-10 / 20)
    single = amp * np.sin(2 * np.pi * 697 * t)
    triple = single + amp * np.sin(2 * np.pi * 770 * t) + amp * np.sin(2 * np.pi * 1209 * t)
    dial_tone = amp * np.sin(2 * np.pi * 450 * t)  # the Chinese dial tone
    signals = [np.zeros(8000), rng.normal(0, 3000, 8000), single, triple, dial_tone,
               amp * np.sin(2 * np.pi * 1633 * t)]
    assert bank_digits([np.round(s).astype(np.int16) for s in signals]) == [""] * len(signals)


def test_lost_ticks_neither_join_audio_nor_double_a_digit() -> None:
    tone = dtmf_tone("3", on_ms=400, off_ms=0).reshape(-1, FRAME_SAMPLES)
    detector = DtmfDetector()
    found = []
    for tick, frame in enumerate(tone):
        if tick in (8, 9):
            continue  # two frames never arrived
        found += detector.feed(frame, now=tick * 0.02)
    assert found == ["3"]
    assert detector.held == "3"


def test_reset_forgets_a_channel_so_a_new_call_hears_a_tone_still_on() -> None:
    frames = dtmf_tone("#", on_ms=400, off_ms=0).reshape(-1, FRAME_SAMPLES)
    bank = DtmfBank(2)
    found = []
    for tick, frame in enumerate(frames):
        if tick == 10:
            bank.reset(1)
        found += bank.feed(np.stack([frame, frame]), now=tick * 0.02)
    assert found == [(0, "#"), (1, "#"), (1, "#")]


def test_misuse_is_a_clear_error() -> None:
    with pytest.raises(DtmfError, match=r"\(3, 160\)"):
        DtmfBank(3).feed(np.zeros((2, 160), np.int16), 0.0)
    with pytest.raises(DtmfError, match="backwards"):
        detector = DtmfDetector()
        detector.feed(np.zeros(160, np.int16), 1.0)
        detector.feed(np.zeros(160, np.int16), 0.5)
    with pytest.raises(DtmfError, match="'E' is not a DTMF digit"):
        dtmf_tone("12E")
    with pytest.raises(DtmfError, match="at least one channel"):
        DtmfBank(0)
    with pytest.raises(DtmfError, match="max_deviation"):
        DtmfLimits(max_deviation=0.1)
