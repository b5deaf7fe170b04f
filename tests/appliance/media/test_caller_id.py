"""Caller ID FSK: the MDMF bytes as GR-30 lays them out, the bits, the modem, and multimon-ng.

multimon-ng's CLIPFSK demodulator (Debian; 1200 Hz mark / 2200 Hz space, ETSI EN 300 659-3
message decoding, checksum checked) is the receiver nobody here wrote.
"""

from __future__ import annotations

import re
from datetime import datetime

import numpy as np
import pytest
from multimon import multimon_lines

from appliance.media import SAMPLE_RATE
from appliance.media.caller_id import (
    BAUD,
    MARK_BITS,
    MARK_HZ,
    SEIZURE_BITS,
    SPACE_HZ,
    TRAILING_MARK_BITS,
    CallerIdError,
    caller_id_alaw,
    caller_id_audio,
    fsk_samples,
    mdmf_message,
    message_bits,
)
from appliance.media.dsp import dbm0_to_rms
from appliance.media.g711 import alaw_to_linear

WHEN = datetime(2026, 12, 1, 13, 47, 5)


def clip_fields(audio: np.ndarray) -> list[dict[str, str]]:
    """Each message multimon-ng's CLIPFSK decodes in AUDIO, as {"DATE": …, "CID": …, …}."""
    padded = np.concatenate([np.zeros(4000, np.int16), audio, np.zeros(4000, np.int16)])
    messages = []
    for line in multimon_lines(padded, "CLIPFSK"):
        if line.startswith("CLIPFSK: CS "):
            # " CID=… CNT=Zhang San RACNT=O Unavailable": a value runs to the next KEY=
            fields = {}
            for part in re.split(r" (?=[A-Z]{2,6}=)", line.removeprefix("CLIPFSK: CS ")):
                key, _, value = part.partition("=")
                fields[key] = value
            messages.append(fields)
    return messages


def test_the_message_is_laid_out_as_gr30_mdmf_with_a_zero_sum() -> None:
    message = mdmf_message("13800138000", "Zhang San", when=WHEN)
    body = (b"\x01\x08" + b"12011347" + b"\x02\x0b" + b"13800138000" + b"\x07\x09" + b"Zhang San")
    assert message[:-1] == b"\x80" + bytes([len(body)]) + body
    assert sum(message) % 256 == 0


@pytest.mark.parametrize(("number", "name", "private", "params"), [
    ("", "Li", False, [(0x04, b"O"), (0x07, b"Li")]),
    ("96101", "", False, [(0x02, b"96101"), (0x08, b"O")]),
    ("96101", "张阿姨", False, [(0x02, b"96101"), (0x08, b"O")]),  # a phone shows ASCII only
    ("96101", "A" * 20, False, [(0x02, b"96101"), (0x07, b"A" * 15)]),
    ("13800138000", "Wang", True, [(0x04, b"P"), (0x08, b"P")]),  # private withholds both
])
def test_absent_withheld_and_long_parts(number: str, name: str, private: bool,
                                        params: list[tuple[int, bytes]]) -> None:
    message = mdmf_message(number, name, when=WHEN, private=private)
    body, found = message[2:-1], []
    while body:
        found.append((body[0], body[2:2 + body[1]]))
        body = body[2 + body[1]:]
    assert found == [(0x01, b"12011347"), *params]
    assert message[1] == len(message) - 3 and sum(message) % 256 == 0


@pytest.mark.parametrize(("number", "why"), [("1" * 21, "longer than 20"), ("80A1", "cannot show")])
def test_a_number_a_phone_cannot_show_is_refused_by_name(number: str, why: str) -> None:
    with pytest.raises(CallerIdError, match=why) as caught:
        mdmf_message(number, when=WHEN)
    assert repr(number) in str(caught.value)


def test_bits_seizure_marks_then_start_lsb_first_stop() -> None:
    message = mdmf_message("8001", when=WHEN)
    bits = message_bits(message)
    assert bits[:SEIZURE_BITS].tolist() == [0, 1] * (SEIZURE_BITS // 2)
    assert bits[SEIZURE_BITS:SEIZURE_BITS + MARK_BITS].all()
    chars = bits[SEIZURE_BITS + MARK_BITS:len(bits) - TRAILING_MARK_BITS].reshape(-1, 10)
    assert (chars[:, 0] == 0).all() and (chars[:, 9] == 1).all()
    assert bytes((chars[:, 1:9] << np.arange(8)).sum(axis=1).astype(np.uint8)) == message
    assert bits[-TRAILING_MARK_BITS:].all()


def _energy(samples: np.ndarray, hz: float) -> float:
    t = np.arange(len(samples)) / SAMPLE_RATE
    return abs(np.sum(samples * np.exp(-2j * np.pi * hz * t)))


def test_the_modem_sends_mark_at_1200_and_space_at_2200_with_exact_bit_timing() -> None:
    rng = np.random.default_rng(7)
    bits = np.repeat(rng.integers(0, 2, 40), 8)  # runs of 8 bits: long enough to measure
    audio = fsk_samples(bits).astype(np.float64)
    assert len(audio) == -(-len(bits) * SAMPLE_RATE // BAUD)
    per_run = 8 * SAMPLE_RATE / BAUD
    for run, bit in enumerate(bits[::8]):
        # the middle of the run, away from its edges
        window = audio[int(run * per_run) + 10:int((run + 1) * per_run) - 10]
        mark, space = _energy(window, MARK_HZ), _energy(window, SPACE_HZ)
        assert (mark > 10 * space) if bit else (space > 10 * mark), (run, bit, mark, space)


def test_the_modem_is_phase_continuous_at_its_level() -> None:
    audio = caller_id_audio("13800138000", "Zhang San", when=WHEN).astype(np.float64)
    steepest = dbm0_to_rms(-13.5) * np.sqrt(2) * 2 * np.pi * SPACE_HZ / SAMPLE_RATE
    assert np.abs(np.diff(audio)).max() <= steepest * 1.01  # no jump at a bit edge
    level = 20 * np.log10(np.sqrt(np.mean(audio ** 2)) / dbm0_to_rms(0))
    assert level == pytest.approx(-13.5, abs=0.2)


def test_bits_other_than_0_and_1_are_refused() -> None:
    with pytest.raises(CallerIdError):
        fsk_samples(np.array([0, 1, 2]))


def test_multimon_reads_number_name_and_date() -> None:
    [fields] = clip_fields(caller_id_audio("13800138000", "Zhang San", when=WHEN))
    assert (fields["DATE"], fields["CID"], fields["CNT"]) == ("12011347", "13800138000", "Zhang San")


def test_multimon_reads_absence_and_privacy() -> None:
    [unknown] = clip_fields(caller_id_audio("", "张阿姨", when=WHEN))
    assert unknown["RACLI"] == unknown["RACNT"] == "O Unavailable" and "CID" not in unknown
    [private] = clip_fields(caller_id_audio("13800138000", "Wang", when=WHEN, private=True))
    assert private["RACLI"].startswith("P Private") and "CID" not in private and "CNT" not in private


def test_multimon_reads_random_caller_ids_through_alaw_at_line_levels_and_noise() -> None:
    rng = np.random.default_rng(2026)
    for _ in range(12):
        number = "".join(rng.choice(list("0123456789"), rng.integers(3, 21)))
        name = "".join(rng.choice(list("ABCDEFGHIJ klmnopq"), rng.integers(1, 16))).strip() or "X"
        level = rng.uniform(-30, -6)
        audio = alaw_to_linear(caller_id_alaw(number, name, when=WHEN, level_dbm0=level)).astype(np.float64)
        noise = rng.normal(0, np.sqrt(np.mean(audio ** 2)) / 10 ** (25 / 20), len(audio))  # 25 dB SNR
        [fields] = clip_fields(np.clip(np.rint(audio + noise), -32768, 32767).astype(np.int16))
        assert (fields["CID"], fields["CNT"], fields["DATE"]) == (number, name, "12011347"), level
