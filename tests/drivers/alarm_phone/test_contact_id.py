"""Contact ID (SIA DC-05) codec, from the specification's rules and published examples."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.alarm_phone.contact_id import (
    CATEGORIES,
    EVENT_CODES,
    LIFE_SAFETY_CODES,
    ContactIdError,
    ContactIdMessage,
    EventCode,
    checksum_digit,
    decode_dtmf,
    encode_dtmf,
)

VALUES = {"0": 10, **{str(d): d for d in range(1, 10)}, "B": 11, "C": 12, "D": 13, "E": 14, "F": 15}


def digit_sum(s: str) -> int:
    return sum(VALUES[c] for c in s.replace(" ", ""))


# -- published examples -----------------------------------------------------------------


def test_published_example_decodes() -> None:
    msg = decode_dtmf("5678 18 1101 00 001 1")
    assert msg == ContactIdMessage("5678", "18", 1, "101", "00", "001")
    assert msg.qualifier_name == "new"
    assert msg.event is not None and msg.event.en == "Personal emergency"
    assert msg.event.zh == "紧急求助"


def test_published_example_without_spaces() -> None:
    assert decode_dtmf("5678181101000011") == decode_dtmf("5678 18 1101 00 001 1")


def test_published_bad_checksum_rejected() -> None:
    with pytest.raises(ContactIdError, match="checksum"):
        decode_dtmf("5678181101000017")


def test_encode_published_example() -> None:
    assert encode_dtmf(ContactIdMessage("5678", "18", 1, "101", "00", "001")) == (
        "5678181101000011"
    )


# -- checksum rule ------------------------------------------------------------------------


def test_zero_digits_count_as_ten() -> None:
    # 0000 18 1 000 00 000: twelve zeros (120) + 1 + 8 + 1 = 130 -> 130 % 15 = 10 -> S = 5.
    assert checksum_digit("000018100000000") == "5"
    assert digit_sum("0000181000000005") % 15 == 0


def test_checksum_value_ten_is_sent_as_zero() -> None:
    # 1234 18 1 602 00 115: 1+2+3+4+1+8+1+6+10+2+10+10+1+1+5 = 65, 65 % 15 = 5 -> S = 10.
    first15 = "123418160200115"
    assert digit_sum(first15) == 65
    assert checksum_digit(first15) == "0"
    assert decode_dtmf(first15 + "0").zone == "115"
    with pytest.raises(ContactIdError):
        decode_dtmf(first15 + "A")


def test_checksum_value_fifteen_is_sent_as_f() -> None:
    # The 15 digits already sum to a multiple of 15: S must add 15, i.e. 'F' (never 0,
    # which would add 10).
    first15 = "123418160200106"
    assert digit_sum(first15) == 75
    assert checksum_digit(first15) == "F"
    assert decode_dtmf(first15 + "F").zone == "106"
    with pytest.raises(ContactIdError):
        decode_dtmf(first15 + "0")


def test_checksum_hex_values() -> None:
    # Every checksum value 1..15 occurs; 11..15 are sent as B..F, 10 as 0.
    seen = set()
    for last in "123456789BCDEF0":  # values 1..15: the sum takes every residue
        first15 = f"12341816020000{last}"
        s = checksum_digit(first15)
        assert digit_sum(first15 + s) % 15 == 0
        seen.add(s)
    assert seen == set("0123456789BCDEF")


def test_checksum_rejects_wrong_length_and_digits() -> None:
    with pytest.raises(ContactIdError, match="15 digits"):
        checksum_digit("1234")
    with pytest.raises(ContactIdError, match="invalid"):
        checksum_digit("12341816010000A")


def test_every_single_digit_error_is_caught() -> None:
    good = "5678181101000011"
    for i in range(16):
        for c in "0123456789BCDEF":
            if c == good[i]:
                continue
            bad = good[:i] + c + good[i + 1 :]
            # One digit changes the sum by -14..14 (never 0 or 15): always detected.
            with pytest.raises(ContactIdError):
                decode_dtmf(bad)


# -- fields -------------------------------------------------------------------------------


def test_hex_digits_b_to_f_in_fields() -> None:
    first15 = "BCDE18" + "1" + "F0B" + "ED" + "CF1"
    msg = decode_dtmf(first15 + checksum_digit(first15))
    assert msg.account == "BCDE"
    assert msg.event_code == "F0B"
    assert msg.partition == "ED"
    assert msg.zone == "CF1"
    assert msg.event is None  # unknown codes are valid Contact ID, just unnamed


def test_lower_case_input_accepted() -> None:
    first15 = "bcde181f0bedcf1"
    msg = decode_dtmf(first15 + checksum_digit(first15.upper()))
    assert msg.account == "BCDE"


def test_message_type_98_is_contact_id_not_restore() -> None:
    first15 = "567898" + "1101" + "00001"
    msg = decode_dtmf(first15 + checksum_digit(first15))
    assert msg.message_type == "98"
    assert msg.qualifier == 1 and msg.qualifier_name == "new"


def test_other_message_types_rejected() -> None:
    first15 = "567817" + "1101" + "00001"
    with pytest.raises(ContactIdError, match="message type"):
        decode_dtmf(first15 + checksum_digit(first15))


@pytest.mark.parametrize(("q", "name"), [("1", "new"), ("3", "restore"), ("6", "previous")])
def test_qualifiers(q: str, name: str) -> None:
    first15 = f"123418{q}30200000"
    msg = decode_dtmf(first15 + checksum_digit(first15))
    assert msg.qualifier == int(q)
    assert msg.qualifier_name == name


def test_invalid_qualifier_rejected() -> None:
    first15 = "1234182301000000"[:15]
    with pytest.raises(ContactIdError, match="qualifier"):
        decode_dtmf(first15 + checksum_digit(first15))


def test_digit_a_is_not_a_contact_id_digit() -> None:
    with pytest.raises(ContactIdError, match="invalid"):
        decode_dtmf("A678181101000011")


def test_wrong_length_rejected() -> None:
    with pytest.raises(ContactIdError, match="16 digits"):
        decode_dtmf("5678 18 1101 00 001")


def test_message_validation() -> None:
    with pytest.raises(ContactIdError, match="account"):
        ContactIdMessage("567", "18", 1, "101")
    with pytest.raises(ContactIdError, match="account"):
        ContactIdMessage("12345678901", "18", 1, "101")
    with pytest.raises(ContactIdError, match="event code"):
        ContactIdMessage("5678", "18", 1, "1G1")
    with pytest.raises(ContactIdError, match="qualifier"):
        ContactIdMessage("5678", "18", 2, "101")
    with pytest.raises(ContactIdError, match="partition"):
        ContactIdMessage("5678", "18", 1, "101", "0", "001")
    assert ContactIdMessage("1234567890", "18", 1, "101").account == "1234567890"


def test_encode_needs_four_digit_account() -> None:
    with pytest.raises(ContactIdError, match="4-digit"):
        encode_dtmf(ContactIdMessage("1234567890", "18", 1, "101"))


def test_error_is_a_value_error() -> None:
    assert issubclass(ContactIdError, ValueError)


@given(
    account=st.text("0123456789BCDEF", min_size=4, max_size=4),
    mt=st.sampled_from(["18", "98"]),
    q=st.sampled_from([1, 3, 6]),
    code=st.text("0123456789BCDEF", min_size=3, max_size=3),
    gg=st.text("0123456789BCDEF", min_size=2, max_size=2),
    ccc=st.text("0123456789BCDEF", min_size=3, max_size=3),
)
def test_round_trip(account: str, mt: str, q: int, code: str, gg: str, ccc: str) -> None:
    msg = ContactIdMessage(account, mt, q, code, gg, ccc)
    digits = encode_dtmf(msg)
    assert len(digits) == 16
    assert digit_sum(digits) % 15 == 0
    assert decode_dtmf(digits) == msg


# -- event table --------------------------------------------------------------------------

REQUIRED = {
    "100": "medical",
    "101": "emergency",
    "110": "fire",
    "111": "fire",
    "120": "panic",
    "121": "panic",
    "151": "environment",
    "154": "environment",
    "158": "environment",
    "159": "environment",
    "162": "environment",
    "301": "power",
    "302": "power",
    "309": "power",
    "311": "power",
    "384": "power",
    "350": "communication",
    "351": "communication",
    "354": "communication",
    "355": "communication",
    "381": "supervision",
    "383": "tamper",
    "393": "maintenance",
    "601": "test",
    "602": "test",
    "603": "test",
    "606": "audio",
    "608": "test",
}


def test_required_codes_present() -> None:
    for code in [*REQUIRED, "102", "641", "654"]:
        assert code in EVENT_CODES, code
    for code, category in REQUIRED.items():
        assert EVENT_CODES[code].category == category, code


def test_chinese_names() -> None:
    assert EVENT_CODES["100"].zh == "医疗求助"
    assert EVENT_CODES["101"].zh == "紧急求助"
    assert EVENT_CODES["301"].zh == "交流电断电"
    assert EVENT_CODES["602"].zh == "定时测试"


def test_table_is_consistent() -> None:
    assert len(EVENT_CODES) > 150
    for code, entry in EVENT_CODES.items():
        assert isinstance(entry, EventCode)
        assert entry.code == code and len(code) == 3
        assert entry.category in CATEGORIES, code
        assert entry.zh and entry.en
        assert any("\u4e00" <= ch <= "\u9fff" for ch in entry.zh), code


def test_life_safety_codes() -> None:
    assert LIFE_SAFETY_CODES == {"100", "101", "102", "110", "111", "120", "121", "151", "162"}
    assert all(code in EVENT_CODES for code in LIFE_SAFETY_CODES)
    assert ContactIdMessage("1234", "18", 1, "101").is_life_safety
    assert not ContactIdMessage("1234", "18", 1, "602").is_life_safety


def test_event_codes_are_immutable() -> None:
    with pytest.raises(AttributeError):
        EVENT_CODES["101"].zh = "x"  # type: ignore[misc]
    msg = decode_dtmf("5678181101000011")
    with pytest.raises(AttributeError):
        msg.account = "1111"  # type: ignore[misc]
