"""Cause and location tables: complete Q.850 coverage, the Chinese terms, the constants."""

from __future__ import annotations

import pytest

from drivers.e1_card.q931 import causes
from drivers.e1_card.q931.causes import CAUSES, LOCATIONS, Location, cause_text, location_text

# Every cause value of Q.850 Table 1 (coding standard ITU-T) up to its 2006 edition.
Q850_VALUES = {
    1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 17, 18, 19, 20, 21, 22, 23, 25, 26, 27, 28, 29, 30, 31,
    34, 38, 39, 40, 41, 42, 43, 44, 46, 47, 49, 50, 53, 55, 57, 58, 62, 63, 65, 66, 69, 70,
    79, 81, 82, 83, 84, 85, 86, 87, 88, 90, 91, 95, 96, 97, 98, 99, 100, 101, 102, 103,
    110, 111, 127,
}


def test_every_q850_cause_has_both_names() -> None:
    assert set(CAUSES) == Q850_VALUES
    for value, (english, chinese) in CAUSES.items():
        assert english and english.isascii(), value
        assert chinese and not chinese.isascii(), value  # really translated


@pytest.mark.parametrize(
    ("value", "chinese"),
    [
        (16, "正常呼叫清除"),
        (17, "用户忙"),
        (18, "无用户响应"),
        (19, "无应答（已振铃）"),
        (21, "呼叫被拒绝"),
        (34, "无可用电路/信道"),
        (44, "请求的电路/信道不可用"),
        (102, "定时器超时恢复"),
        (111, "协议错误（未指定）"),
    ],
)
def test_standard_chinese_terms(value: int, chinese: str) -> None:
    assert cause_text(value) == chinese
    assert cause_text(value, lang="zh") == chinese


def test_english_and_unknown_values() -> None:
    assert cause_text(16, lang="en") == "Normal call clearing"
    assert cause_text(19, "en") == "No answer from user (user alerted)"
    assert cause_text(13) == "未知原因值 #13"
    assert cause_text(13, "en") == "Unknown cause #13"
    with pytest.raises(ValueError, match="lang"):
        cause_text(16, lang="fr")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("NORMAL_CLEARING", 16), ("USER_BUSY", 17), ("NO_USER_RESPONDING", 18), ("NO_ANSWER", 19),
        ("CALL_REJECTED", 21), ("INVALID_NUMBER_FORMAT", 28), ("NORMAL_UNSPECIFIED", 31),
        ("NO_CIRCUIT_AVAILABLE", 34), ("TEMPORARY_FAILURE", 41), ("REQUESTED_CHANNEL_NOT_AVAILABLE", 44),
        ("INVALID_CALL_REFERENCE", 81), ("IDENTIFIED_CHANNEL_DOES_NOT_EXIST", 82),
        ("MANDATORY_IE_MISSING", 96), ("MESSAGE_TYPE_NONEXISTENT", 97),
        ("MESSAGE_NOT_COMPATIBLE_WITH_STATE", 101), ("IE_NONEXISTENT", 99), ("INVALID_IE_CONTENTS", 100),
        ("RECOVERY_ON_TIMER_EXPIRY", 102), ("PROTOCOL_ERROR", 111), ("INTERWORKING", 127),
        ("RESPONSE_TO_STATUS_ENQUIRY", 30), ("INVALID_MESSAGE", 95),
    ],
)
def test_named_constants(name: str, value: int) -> None:
    assert getattr(causes, name) == value
    assert value in CAUSES


def test_locations() -> None:
    assert [int(loc) for loc in Location] == [0, 1, 2, 3, 4, 5, 7, 10]
    assert set(LOCATIONS) == {int(loc) for loc in Location}
    assert location_text(Location.PUBLIC_LOCAL, "en") == "Public network serving the local user"
    assert location_text(Location.USER) == "用户"
    assert location_text(Location.PUBLIC_REMOTE) == "服务远端用户的公用网"
    assert location_text(6) == "未知位置 6"
