from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.callers.numbers import normalise, number_forms

mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
landlines = st.from_regex(r"0(10|2[0-9]|[3-9][0-9][0-9])[2-8][0-9]{6,7}", fullmatch=True)
freephones = st.from_regex(r"[48]00[0-9]{7}", fullmatch=True)
services = st.from_regex(r"(1[0-9]{2}|9[0-9]{4})", fullmatch=True)
foreign = st.from_regex(r"00(1|44|852|886)[0-9]{8,10}", fullmatch=True)
canonical_numbers = st.one_of(mobiles, landlines, freephones, services, foreign)


@pytest.mark.parametrize(("typed", "canonical"), [
    ("13800138000", "13800138000"),
    ("138-0013-8000", "13800138000"),
    ("+86 138 0013 8000", "13800138000"),
    ("008613800138000", "13800138000"),
    ("8613800138000", "13800138000"),        # international without the '+' (TON international)
    ("013800138000", "13800138000"),          # an out-of-area mobile with a trunk prefix
    ("029-88881234", "02988881234"),
    ("(029) 8888 1234", "02988881234"),
    ("+86 29 8888 1234", "02988881234"),      # internationally written landline: trunk 0 back
    ("+86 10 6512 3456", "01065123456"),      # Beijing, whose area code starts with 1
    ("+86 029 8888 1234", "02988881234"),     # a common mistake, understood
    ("+86 400 810 8888", "4008108888"),       # 400 numbers have no trunk prefix
    ("１３８００１３８０００", "13800138000"),  # full-width digits from a Chinese input method
    ("+1 415 555 0100", "0014155550100"),
    ("88881234", "88881234"),                  # a local number stays as it is
    ("95555", "95555"),
])
def test_typed_and_presented_numbers_reach_one_canonical_form(typed: str, canonical: str) -> None:
    assert normalise(typed) == canonical


@pytest.mark.parametrize("junk", [None, "", "   ", "anonymous", "138abc", "+", "+86", "1380013800O", "١٣٨",
                                  13800138000])
def test_what_is_not_a_telephone_number_gives_none(junk: object) -> None:
    assert normalise(junk) is None


@given(canonical_numbers)
def test_the_canonical_form_is_a_fixed_point(number: str) -> None:
    assert normalise(number) == number


@given(canonical_numbers)
def test_every_stored_form_normalises_back_to_its_number(number: str) -> None:
    forms = number_forms(number)
    assert forms[0] == number and len(set(forms)) == len(forms)
    assert all(normalise(form) == number for form in forms)


@given(canonical_numbers, st.lists(st.sampled_from([" ", "-"]), max_size=4), st.randoms())
def test_separators_anywhere_do_not_change_the_number(number: str, seps: list[str], rnd) -> None:
    chars = list(number)
    for sep in seps:
        chars.insert(rnd.randrange(1, len(chars)), sep)
    assert normalise("".join(chars)) == number


def test_the_forms_of_a_mobile_include_what_carriers_present() -> None:
    assert set(number_forms("13800138000")) == {"13800138000", "8613800138000", "+8613800138000",
                                                "008613800138000", "013800138000"}
    assert "86" + "95555" not in number_forms("95555")  # would read as a local number
