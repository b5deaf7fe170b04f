"""Cross-check with multimon-ng (Debian), an independent DTMF decoder, on the same generated audio.

Both decoders must read the same random digit strings (levels, twist, durations
and noise varied); on the talk-off corpus of test_dtmf_talkoff.py ours
must find nothing, while multimon-ng's own false digits are only reported, not judged.

What multimon-ng 1.2.0 said when this was written (run with -s to see it again):

* talk-off: 2 false digits ("4", "4") in the 10 min of Mandarin, 1 ("D") in the 11 min
  of English, none in the 6 min of music; ours none in any;
* at the Q.24-style edges it is no receiver to that standard (nor meant to be): it
  misses every digit at ±1.5 % frequency error and at −8 dB twist, and takes tones at
  −42 dBm0 and of 23 ms, all of which ours gets right. Where the requirement and
  multimon-ng agree, both must decode the same.
"""

from __future__ import annotations

import numpy as np
import pytest
from multimon import multimon_lines
from test_dtmf_detector import through_alaw
from test_dtmf_talkoff import bank_detections, music_corpus, speech_corpus

from appliance.media.dtmf import DIGITS, SAMPLE_RATE, detect_digits, dtmf_tone


def multimon_digits(audio: np.ndarray) -> str:
    """The digits multimon-ng's DTMF demodulator reads in AUDIO (8 kHz int16)."""
    return "".join(line.split(":", 1)[1].strip() for line in multimon_lines(audio, "DTMF")
                   if line.startswith("DTMF:"))


def random_dialling(rng: np.random.Generator, snr_db: float | None) -> tuple[str, np.ndarray]:
    """A random string of 12 digits as a caller might key it in, with white noise SNR_DB down."""
    digits = "".join(rng.choice(list(DIGITS), 12))
    level = rng.uniform(-25, -5)  # one line, one level; the twist varies per key
    audio = np.concatenate([dtmf_tone(d, on_ms=rng.uniform(50, 120), off_ms=rng.uniform(50, 120),
                                      level_dbm0=level, twist_db=rng.uniform(-4, 2)) for d in digits])
    if snr_db is not None:
        tone_power = np.mean(audio[audio != 0].astype(np.float64) ** 2)
        noisy = audio + rng.normal(0, np.sqrt(tone_power / 10 ** (snr_db / 10)), len(audio))
        audio = np.clip(np.round(noisy), -32768, 32767).astype(np.int16)
    return digits, audio


def test_multimon_reads_every_digit_of_our_generator() -> None:
    assert multimon_digits(dtmf_tone(DIGITS, level_dbm0=-10)) == DIGITS


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("snr_db", "alaw"), [(None, False), (20.0, False), (15.0, False), (15.0, True)])
def test_both_decoders_read_the_same_random_strings(snr_db: float | None, alaw: bool) -> None:
    rng = np.random.default_rng(7 + int(snr_db or 0) + alaw)
    for _ in range(15):
        digits, audio = random_dialling(rng, snr_db)
        if alaw:
            audio = through_alaw(audio)
        assert (detect_digits(audio), multimon_digits(audio)) == (digits, digits)


# (what, dtmf_tone arguments, Q.24-style verdict: all 16 digits or none)
EDGES = [
    ("nominal, -7 dBm0", {}, True),
    ("0 dBm0 per tone (clipped)", {"level_dbm0": 0.0}, True),
    ("-36 dBm0 per tone", {"level_dbm0": -36.0}, True),
    ("-42 dBm0 per tone", {"level_dbm0": -42.0}, False),
    ("+1.5 % frequency", {"deviation": (0.015, 0.015)}, True),
    ("-1.5 % frequency", {"deviation": (-0.015, -0.015)}, True),
    ("+3.5 % frequency", {"deviation": (0.035, 0.035)}, False),
    ("-3.5 % frequency", {"deviation": (-0.035, -0.035)}, False),
    ("twist +4 dB", {"level_dbm0": -12.0, "twist_db": 4.0}, True),
    ("twist -8 dB", {"level_dbm0": -12.0, "twist_db": -8.0}, True),
    ("twist +6 dB", {"level_dbm0": -12.0, "twist_db": 6.0}, False),
    ("twist -10 dB", {"level_dbm0": -12.0, "twist_db": -10.0}, False),
    ("40 ms tone, 40 ms pause", {"on_ms": 40.0, "off_ms": 40.0}, True),
    ("23 ms tone", {"on_ms": 23.0, "off_ms": 60.0}, False),
]


@pytest.mark.parametrize(("what", "arguments", "valid"), EDGES, ids=[e[0] for e in EDGES])
def test_requirement_edges_ours_meets_them_and_multimon_agrees_where_it_can(
        what: str, arguments: dict, valid: bool) -> None:
    audio = dtmf_tone(DIGITS, **arguments)
    expected = DIGITS if valid else ""
    assert detect_digits(audio) == expected
    theirs = multimon_digits(audio)
    print(f"{what}: multimon-ng {theirs or '-'} (requirement: {expected or '-'})")
    if theirs != expected:  # its known differences, in the module docstring; nothing new
        assert what in ("-42 dBm0 per tone", "+1.5 % frequency", "-1.5 % frequency", "twist -8 dB",
                        "23 ms tone")


@pytest.mark.timeout(300)
@pytest.mark.parametrize("corpus", ["cmn", "en", "music"])
def test_talk_off_compared_with_multimon(corpus: str) -> None:
    audio = music_corpus() if corpus == "music" else speech_corpus(corpus)
    trailer = dtmf_tone("159#", level_dbm0=-10)  # proves multimon-ng was listening to the end
    theirs = multimon_digits(np.concatenate([audio, np.zeros(SAMPLE_RATE, np.int16), trailer]))
    assert theirs.endswith("159#")
    print(f"{corpus}: {len(audio) / SAMPLE_RATE / 60:.1f} min; multimon-ng false digits: "
          f"{theirs[:-4] or 'none'}; ours: none")
    assert bank_detections(audio) == []
