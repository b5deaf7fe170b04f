"""Numbers, durations and the queue announcement as sequences of fixed prompt names.

A waiting caller hears "您前面还有三位在排队，预计等待时间约两分钟，请您耐心等候" without any
speech being generated during the call: the sentence is a list of prompt names whose files
(generated at install time from DEFAULT_PROMPTS, or recorded) are played back to back.

Number prompts are syllables: ``num_0`` … ``num_9`` (零 … 九), ``num_liang`` (两),
``num_shi`` (十), ``num_bai`` (百), ``num_qian`` (千), and ``num_many`` (很多) for what
lies above MAX_NUMBER. Readings follow standard Mandarin:

* 十 leads without 一 (10 十, 12 十二) but not inside a number (110 一百一十);
* zeros inside a number are read once as 零 (101 一百零一, 1001 一千零一, 1010 一千零一十),
  trailing zeros are not read (1100 一千一百);
* before a measure word (位, 分钟 — ``measure_word=True``, the default) 2 is 两: the number 2
  itself (两位, 两分钟) and a leading 2 before 百 or 千 (两百, 两千零二十二); a 2 anywhere
  else stays 二 (十二位, 二十位, 一千零二位, 两千二百). Read bare (``measure_word=False``),
  2 is 二 and 200 二百, but 2000 stays 两千, which is how Mandarin says it either way.

Queue positions count from 1 (the ACD's Announce): the caller at position N has N − 1
callers ahead, so position 1 is told "您是下一位".
"""

from __future__ import annotations

import math
import operator

MAX_NUMBER = 9999

DIGITS = tuple(f"num_{d}" for d in range(10))
LIANG, SHI, BAI, QIAN, MANY = "num_liang", "num_shi", "num_bai", "num_qian", "num_many"

UNIT_MINUTES = "unit_minutes"                    # 分钟
DURATION_ABOUT = "duration_about"                # 约
DURATION_UNDER_MINUTE = "duration_under_minute"  # 不到一分钟
DURATION_LONG = "duration_long"                  # 较长 (more minutes than MAX_NUMBER)

QUEUE_POSITION_PRE = "queue_position_pre"        # 您前面还有
QUEUE_POSITION_POST = "queue_position_post"      # 位在排队
QUEUE_NEXT = "queue_next"                        # 您是下一位
QUEUE_WAIT_PRE = "queue_wait_pre"                # 预计等待时间
QUEUE_PLEASE_WAIT = "queue_please_wait"          # 请您耐心等候。

# Every name the functions below can return: the prompts a box needs to announce.
PROMPT_NAMES: frozenset[str] = frozenset({
    *DIGITS, LIANG, SHI, BAI, QIAN, MANY,
    UNIT_MINUTES, DURATION_ABOUT, DURATION_UNDER_MINUTE, DURATION_LONG,
    QUEUE_POSITION_PRE, QUEUE_POSITION_POST, QUEUE_NEXT, QUEUE_WAIT_PRE, QUEUE_PLEASE_WAIT,
})

_UNITS = ((1000, QIAN), (100, BAI), (10, SHI), (1, None))


def number_prompts(n: int, *, measure_word: bool = True) -> list[str]:
    """The prompt names that say N (0 ≤ N; above MAX_NUMBER just "很多")."""
    n = operator.index(n)  # 2.5 people cannot be said with these prompts
    if n < 0:
        raise ValueError(f"cannot say a negative number ({n})")
    if n > MAX_NUMBER:
        return [MANY]
    if n == 0:
        return [DIGITS[0]]
    if n == 2 and measure_word:
        return [LIANG]
    out: list[str] = []
    zero_pending = False
    for value, unit in _UNITS:
        digit = n // value % 10
        if digit == 0:
            zero_pending = bool(out)  # one 零 for any run of inner zeros, none at the end
            continue
        if zero_pending:
            out.append(DIGITS[0])
            zero_pending = False
        if unit == SHI and digit == 1 and not out:
            out.append(SHI)  # 十二, not 一十二
            continue
        leading_two = digit == 2 and not out and (unit == QIAN or (unit == BAI and measure_word))
        out.append(LIANG if leading_two else DIGITS[digit])
        if unit is not None:
            out.append(unit)
    return out


def duration_prompts(seconds: float) -> list[str]:
    """SECONDS said in whole minutes, rounded up: "约N分钟", "不到一分钟", or "较长"."""
    if not seconds >= 0:  # also catches NaN
        raise ValueError(f"a duration must be >= 0 seconds, got {seconds}")
    if seconds < 60:
        return [DURATION_UNDER_MINUTE]
    minutes = math.ceil(seconds / 60)
    if minutes > MAX_NUMBER:
        return [DURATION_LONG]  # "约很多分钟" is not Mandarin; "等待时间较长" is
    return [DURATION_ABOUT, *number_prompts(minutes), UNIT_MINUTES]


def announcement_prompts(position: int, expected_wait_s: float) -> list[str]:
    """What a caller at queue POSITION (1 = next) hears; EXPECTED_WAIT_S 0 means unknown.

    The sentences, by case (N = POSITION − 1 callers ahead, M = minutes rounded up)::

        N ≥ 1, wait known    您前面还有N位在排队，预计等待时间约M分钟，请您耐心等候。
        N = 0, wait known    您是下一位，预计等待时间约M分钟，请您耐心等候。
        wait under a minute  … 预计等待时间不到一分钟，请您耐心等候。
        M > MAX_NUMBER       … 预计等待时间较长，请您耐心等候。
        wait 0 (unknown)     您前面还有N位在排队，请您耐心等候。 / 您是下一位，请您耐心等候。
        N > MAX_NUMBER       您前面还有很多位在排队，…
    """
    position = operator.index(position)
    if position < 1:
        raise ValueError(f"queue positions start at 1, got {position}")
    ahead = position - 1
    out = [QUEUE_NEXT] if ahead == 0 else [QUEUE_POSITION_PRE, *number_prompts(ahead), QUEUE_POSITION_POST]
    if expected_wait_s > 0:  # 0: nobody logged in can serve the queue, so no estimate
        out += [QUEUE_WAIT_PRE, *duration_prompts(expected_wait_s)]
    out.append(QUEUE_PLEASE_WAIT)
    return out
