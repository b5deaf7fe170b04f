"""dsp: the dBm0 reference, gain, saturating mixes, levels per channel, silence detection, comfort noise."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.media import MediaError, tones
from appliance.media.dsp import (
    DBM0_PEAK,
    SilenceBank,
    SilenceDetector,
    apply_gain,
    comfort_noise,
    dbm0_to_peak,
    dbm0_to_rms,
    mix,
    rms_dbm0,
)
from drivers.e1_card import g711 as scalar


def sine(level_dbm0: float, frequency: float = 1000.0, samples: int = 8000) -> np.ndarray:
    t = np.arange(samples)
    return np.rint(dbm0_to_peak(level_dbm0) * np.sin(2 * np.pi * frequency * t / 8000)).astype(np.int16)


def constant(level_dbm0: float, samples: int = 160) -> np.ndarray:
    return np.full(samples, round(dbm0_to_rms(level_dbm0)), dtype=np.int16)


def test_zero_dbm0_sine_peaks_3_14_db_below_alaw_overload() -> None:
    assert DBM0_PEAK == pytest.approx(32768 * 10 ** (-3.14 / 20))
    assert 20 * np.log10(32768 / DBM0_PEAK) == pytest.approx(3.14)
    assert float(rms_dbm0(sine(0.0))) == pytest.approx(0.0, abs=0.01)


def test_levels_agree_with_the_scalar_driver() -> None:
    burst = scalar.tone((1000.0,), 0.5, dbm0=-17.0)
    ours = float(rms_dbm0(np.asarray(scalar.alaw_to_linear(burst), dtype=np.int16)))
    assert ours == pytest.approx(scalar.level_dbm0(burst), abs=1e-9)


def test_rms_is_per_channel_and_silence_is_minus_infinity() -> None:
    tick = np.stack([sine(-10.0, samples=160), sine(-30.0, samples=160), np.zeros(160, np.int16)])
    levels = rms_dbm0(tick)
    assert levels.shape == (3,)
    assert levels[0] == pytest.approx(-10.0, abs=0.1) and levels[1] == pytest.approx(-30.0, abs=0.1)
    assert levels[2] == -np.inf
    assert np.ndim(rms_dbm0(tick[0])) == 0


def test_gain_in_db_scales_and_saturates() -> None:
    frame = np.array([1000, -1000, 20000, -20000], dtype=np.int16)
    assert apply_gain(frame, 20 * np.log10(2)).tolist() == [2000, -2000, 32767, -32768]
    assert apply_gain(frame, -20 * np.log10(2)).tolist() == [500, -500, 10000, -10000]
    assert apply_gain(frame, 0.0).tolist() == frame.tolist()
    assert float(rms_dbm0(apply_gain(sine(-20.0), 6.0))) == pytest.approx(-14.0, abs=0.02)


def test_gain_per_channel() -> None:
    tick = np.full((3, 160), 1000, dtype=np.int16)
    out = apply_gain(tick, np.array([0.0, -6.0, 6.0]))
    assert out[:, 0].tolist() == [1000, round(1000 * 10 ** (-6 / 20)), round(1000 * 10 ** (6 / 20))]
    with pytest.raises(MediaError, match="do not match"):
        apply_gain(tick, np.zeros(4))


def test_mix_sums_exactly_and_saturates_instead_of_wrapping() -> None:
    sources = np.array([[30000, -30000, 100, 7], [30000, -30000, -300, 8]], dtype=np.int16)
    assert mix(sources).tolist() == [32767, -32768, -200, 15]
    assert mix(sources).dtype == np.int16


def test_mix_with_gains_per_source() -> None:
    sources = np.stack([sine(-10.0, 450.0), sine(-10.0, 1000.0)])
    out = mix(sources, np.array([0.0, -120.0]))  # the second source practically muted
    assert np.abs(out.astype(int) - sources[0]).max() <= 1
    both = mix(sources, -3.0)
    assert float(rms_dbm0(both)) == pytest.approx(-10.0, abs=0.05)  # two equal tones −3 dB each


def test_mix_k_sources_into_every_channel_of_a_tick() -> None:
    rng = np.random.default_rng(1)
    sources = rng.integers(-8000, 8000, size=(3, 60, 160), dtype=np.int16)
    out = mix(sources)
    assert out.shape == (60, 160)
    assert (out == sources.astype(int).sum(axis=0)).all()
    per_channel = np.zeros((3, 60))
    per_channel[1, 5] = -200.0  # mute source 1 on channel 5 only
    muted = mix(sources, per_channel)
    assert np.abs(muted[5].astype(int) - sources[0, 5] - sources[2, 5]).max() <= 1
    assert np.abs(muted[6].astype(int) - out[6]).max() <= 1


def test_mix_refuses_a_single_frame() -> None:
    with pytest.raises(MediaError, match="first axis"):
        mix(np.zeros(160, dtype=np.int16))


def test_silence_detector_threshold() -> None:
    detector = SilenceDetector(threshold_dbm0=-45.0, hangover_ms=0)
    assert detector.feed(constant(-44.0), 0.0) is True
    assert detector.level_dbm0 == pytest.approx(-44.0, abs=0.05)
    assert detector.feed(constant(-46.0), 0.02) is False
    assert detector.feed(np.zeros(160, np.int16), 0.04) is False


@pytest.mark.parametrize("clock", ["multiplied", "accumulated"])
def test_silence_detector_hangover(clock: str) -> None:
    detector = SilenceDetector(threshold_dbm0=-45.0, hangover_ms=300)
    times = [k * 0.02 for k in range(40)] if clock == "multiplied" else list(np.cumsum([0.0] + [0.02] * 39))
    results = []
    for k, now in enumerate(times):
        frame = constant(-20.0) if k < 5 else np.zeros(160, np.int16)
        results.append(detector.feed(frame, float(now)))
    # Loud until tick 4 (t = 0.08); speaking while less than 300 ms since: ticks 5 … 18.
    assert results[:19] == [True] * 19
    assert results[19:] == [False] * 21
    assert detector.speaking is False
    assert detector.feed(constant(-20.0), 0.8) is True  # speech again: at once


def test_silence_bank_equals_one_detector_per_channel() -> None:
    rng = np.random.default_rng(3)
    bank = SilenceBank(4, threshold_dbm0=-40.0, hangover_ms=100)
    singles = [SilenceDetector(-40.0, 100) for _ in range(4)]
    for k in range(100):
        loud = rng.random(4) < 0.2
        tick = np.where(loud[:, None], constant(-30.0), constant(-60.0)).astype(np.int16)
        speaking = bank.feed(tick, k * 0.02)
        assert speaking.tolist() == [s.feed(tick[c], k * 0.02) for c, s in enumerate(singles)]
    bank.reset(2)
    assert bank.speaking[2] == False  # noqa: E712 - a NumPy bool


def test_silence_detector_checks_its_inputs() -> None:
    detector = SilenceDetector()
    detector.feed(np.zeros(160, np.int16), 1.0)
    with pytest.raises(MediaError, match="backwards"):
        detector.feed(np.zeros(160, np.int16), 0.5)
    with pytest.raises(MediaError, match="1-D"):
        detector.feed(np.zeros((2, 160), np.int16), 2.0)
    with pytest.raises(MediaError, match=r"need \(3, samples\)"):
        SilenceBank(3).feed(np.zeros((2, 160), np.int16), 0.0)
    with pytest.raises(MediaError, match="negative"):
        SilenceDetector(hangover_ms=-1)


@pytest.mark.parametrize("level", [-60.0, -45.0])
def test_comfort_noise_level(level: float) -> None:
    noise = comfort_noise(level, np.random.default_rng(7), shape=8000)
    assert noise.dtype == np.int16
    assert float(rms_dbm0(noise)) == pytest.approx(level, abs=0.5)


def test_comfort_noise_is_white_and_reproducible() -> None:
    first = comfort_noise(-50.0, np.random.default_rng(11), shape=(60, 160))
    again = comfort_noise(-50.0, np.random.default_rng(11), shape=(60, 160))
    assert first.shape == (60, 160) and (first == again).all()
    spectrum = np.abs(np.fft.rfft(first.astype(float), axis=1)) ** 2
    low, high = spectrum[:, 1:40].mean(), spectrum[:, 41:80].mean()
    assert 0.7 < low / high < 1.4  # no colour: as much power in the low half as the high
    assert tones.comfort_noise is comfort_noise  # docs/media.md lists it with the tones


def test_comfort_noise_refuses_loud_levels() -> None:
    with pytest.raises(MediaError, match="outside"):
        comfort_noise(3.0, np.random.default_rng(0))
