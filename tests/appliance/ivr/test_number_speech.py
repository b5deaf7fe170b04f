"""Mandarin numbers and the queue announcement as prompt sequences, and real espeak-ng audio of one."""

import math
import re
from pathlib import Path

import numpy as np
import pytest

from appliance.ivr.flows import load_default_ivr
from appliance.ivr.number_speech import (
    MAX_NUMBER,
    PROMPT_NAMES,
    announcement_prompts,
    duration_prompts,
    number_prompts,
)
from appliance.ivr.prompts import DEFAULT_PROMPTS, generate_prompts, read_prompt
from drivers.e1_card.g711 import DECODE

CHINESE_DIGITS = "零一二三四五六七八九"


def said(names: list[str]) -> str:
    """The text the sequence speaks, from the prompt texts (punctuation dropped)."""
    return re.sub(r"[，。]", "", "".join(DEFAULT_PROMPTS[name] for name in names))


def parse_chinese(text: str) -> int:
    """An independent reader of 0–9999 in Chinese characters, to check readings against."""
    total, digit = 0, None
    for ch in text:
        if ch == "零" and text != "零":
            assert digit is None, f"零 after a digit in {text}"
            continue  # an inner 零 only marks skipped places
        if ch in CHINESE_DIGITS or ch == "两":
            assert digit is None, f"two digits in a row in {text}"
            digit = 2 if ch == "两" else CHINESE_DIGITS.index(ch)
        else:
            unit = {"十": 10, "百": 100, "千": 1000}[ch]
            total += (1 if digit is None else digit) * unit
            digit = None
    return total + (digit or 0)


READINGS = {
    0: "零", 1: "一", 2: "两", 10: "十", 11: "十一", 12: "十二", 19: "十九", 20: "二十",
    21: "二十一", 99: "九十九", 100: "一百", 101: "一百零一", 110: "一百一十", 111: "一百一十一",
    200: "两百", 1000: "一千", 1001: "一千零一", 1010: "一千零一十", 1100: "一千一百",
    2022: "两千零二十二", 9999: "九千九百九十九",
}


@pytest.mark.parametrize(("n", "reading"), READINGS.items())
def test_readings(n: int, reading: str) -> None:
    assert said(number_prompts(n)) == reading


def test_every_number_reads_back_and_follows_the_zero_rules() -> None:
    for measure_word in (True, False):
        for n in range(MAX_NUMBER + 1):
            text = said(number_prompts(n, measure_word=measure_word))
            assert parse_chinese(text) == n, (n, text)
            if n:
                assert not text.endswith("零") and "零零" not in text, text
            assert not text.startswith("一十"), text  # 十 leads bare
            if n >= 100 and n % 100 // 10 == 1:
                assert "一十" in text, text  # … but not inside: 一百一十, 一千零一十


def test_two_is_liang_before_a_measure_word_and_only_where_mandarin_says_so() -> None:
    with_measure = {n: said(number_prompts(n)) for n in (2, 12, 20, 22, 200, 222, 1002, 2000, 2200, 2222)}
    assert with_measure == {2: "两", 12: "十二", 20: "二十", 22: "二十二", 200: "两百", 222: "两百二十二",
                            1002: "一千零二", 2000: "两千", 2200: "两千二百", 2222: "两千二百二十二"}
    bare = {n: said(number_prompts(n, measure_word=False)) for n in (2, 200, 2000, 2202)}
    assert bare == {2: "二", 200: "二百", 2000: "两千", 2202: "两千二百零二"}
    for n in range(MAX_NUMBER + 1):  # 两 only ever leads
        assert "两" not in said(number_prompts(n))[1:]


def test_out_of_range_numbers() -> None:
    assert number_prompts(MAX_NUMBER + 1) == number_prompts(10**9) == ["num_many"]
    with pytest.raises(ValueError, match="negative"):
        number_prompts(-1)
    with pytest.raises(TypeError):
        number_prompts(2.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "不到一分钟"), (59.9, "不到一分钟"), (60, "约一分钟"), (61, "约两分钟"), (120, "约两分钟"),
    (121, "约三分钟"), (600, "约十分钟"), (3600, "约六十分钟"), (MAX_NUMBER * 60, "约九千九百九十九分钟"),
    (MAX_NUMBER * 60 + 1, "较长"),
])
def test_durations_round_up_to_minutes(seconds: float, text: str) -> None:
    assert said(duration_prompts(seconds)) == text


def test_bad_durations() -> None:
    for bad in (-1, math.nan):
        with pytest.raises(ValueError, match="duration"):
            duration_prompts(bad)


@pytest.mark.parametrize(("position", "wait", "sentence"), [
    (4, 90, "您前面还有三位在排队，预计等待时间约两分钟，请您耐心等候。"),
    (3, 30, "您前面还有两位在排队，预计等待时间不到一分钟，请您耐心等候。"),
    (1, 200, "您是下一位，预计等待时间约四分钟，请您耐心等候。"),
    (13, 0, "您前面还有十二位在排队，请您耐心等候。"),
    (1, 0, "您是下一位，请您耐心等候。"),
    (102, 6000, "您前面还有一百零一位在排队，预计等待时间约一百分钟，请您耐心等候。"),
    (MAX_NUMBER + 2, 10**7, "您前面还有很多位在排队，预计等待时间较长，请您耐心等候。"),
])
def test_announcement_sentences(position: int, wait: int, sentence: str) -> None:
    assert said(announcement_prompts(position, wait)) == re.sub(r"[，。]", "", sentence)


def test_announcement_sequence_names_and_bad_position() -> None:
    assert announcement_prompts(4, 90) == ["queue_position_pre", "num_3", "queue_position_post",
                                           "queue_wait_pre", "duration_about", "num_liang", "unit_minutes",
                                           "queue_please_wait"]
    with pytest.raises(ValueError, match="start at 1"):
        announcement_prompts(0, 60)


def test_every_name_has_a_default_text_and_prompt_generation_covers_them() -> None:
    returned: set[str] = set()
    for n in [*range(MAX_NUMBER + 2), 10**6]:
        returned.update(number_prompts(n), number_prompts(n, measure_word=False))
    for seconds in (0, 30, 60, 61, 6000, 10**9):
        returned.update(duration_prompts(seconds))
    for position in (1, 2, 5):
        for wait in (0, 30, 120):
            returned.update(announcement_prompts(position, wait))
    assert returned == PROMPT_NAMES  # PROMPT_NAMES is exactly what can be asked for
    assert PROMPT_NAMES <= set(DEFAULT_PROMPTS)
    # `anxin-box prompts generate` speaks the IVR's prompt_texts: they include all of them.
    assert PROMPT_NAMES <= set(load_default_ivr(check_prompt_files=False).prompt_texts)


def linear(alaw: bytes) -> np.ndarray:
    return np.asarray(DECODE, dtype=np.float64)[np.frombuffer(alaw, dtype=np.uint8)]


@pytest.mark.timeout(60)
def test_generated_prompts_concatenate_into_an_announcement(tmp_path: Path) -> None:
    report = generate_prompts({name: DEFAULT_PROMPTS[name] for name in PROMPT_NAMES}, tmp_path, speed=450)
    assert sorted(report.generated) == sorted(PROMPT_NAMES)
    files = {name: read_prompt(tmp_path / f"{name}.wav") for name in PROMPT_NAMES}
    for name, alaw in files.items():  # each prompt carries voice, not just silence
        assert np.abs(linear(alaw)).max() > 10000, name
    long = b"".join(files[name] for name in announcement_prompts(1235, 4000))  # 一千二百三十四位 … 六十七分钟
    short = b"".join(files[name] for name in announcement_prompts(1, 0))
    long_s, short_s = len(long) / 8000, len(short) / 8000
    # 34 syllables at a fast rate vs 11; every part adds its own end pause.
    assert 3.0 < long_s < 15.0 and 0.8 < short_s < 5.0, (long_s, short_s)
    assert long_s > 2 * short_s
