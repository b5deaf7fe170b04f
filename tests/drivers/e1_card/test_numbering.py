"""Number translation rules: data in, rewritten numbers out; bad rules name themselves."""

from __future__ import annotations

import pytest

from drivers.e1_card.numbering import NumberPlan, NumberRule, NumberRuleError, china_local_plan


def test_china_local_plan_in_and_out() -> None:
    plan = china_local_plan("29")
    # Another area, delivered national without the trunk prefix: gets the 0.
    assert plan.translate("in", "calling", "1088881234", "national") == ("01088881234", "unknown")
    # A mobile is national too but must stay 11 digits.
    assert plan.translate("in", "calling", "13800138000", "national") == ("13800138000", "unknown")
    # A local subscriber becomes dialable from anywhere: 0 + area code.
    assert plan.translate("in", "calling", "88881234", "subscriber") == ("02988881234", "unknown")
    # Out: the local area code is stripped, other areas and mobiles untouched.
    assert plan.translate("out", "called", "02988881234") == ("88881234", "unknown")
    assert plan.translate("out", "called", "01088881234") == ("01088881234", "unknown")
    assert plan.translate("out", "called", "13800138000") == ("13800138000", "unknown")
    # Called numbers on the way in are not touched by calling-number rules.
    assert plan.translate("in", "called", "88881234", "subscriber") == ("88881234", "subscriber")


def test_first_match_wins_and_no_retranslation() -> None:
    plan = NumberPlan.from_dicts([
        {"direction": "in", "number": "calling", "match": r"(\d+)", "replace": r"9\1"},
        {"direction": "in", "number": "calling", "match": r"9(\d+)", "replace": r"\1"},
    ])
    assert plan.translate("in", "calling", "123") == ("9123", "unknown")


def test_ton_condition_and_set() -> None:
    rule = NumberRule("in", "calling", r"\d+", r"00\g<0>", ton="international", set_ton="unknown")
    assert rule.apply("85212345678", "international") == ("0085212345678", "unknown")
    assert rule.apply("85212345678", "national") is None


@pytest.mark.parametrize(("row", "says"), [
    ({"direction": "up", "number": "calling", "match": "1", "replace": "2"}, "direction 'up'"),
    ({"direction": "in", "number": "caller", "match": "1", "replace": "2"}, "number 'caller'"),
    ({"direction": "in", "number": "called", "match": "(", "replace": "2"}, "not a valid regular"),
    ({"direction": "in", "number": "called", "match": r"(\d)", "replace": r"\2"}, "does not fit"),
    ({"direction": "in", "number": "called", "match": r"(?P<a>\d)", "replace": r"\g<b>"}, "does not fit"),
    ({"direction": "in", "number": "called", "match": "1", "replace": "2", "ton": "local"}, "ton 'local'"),
    ({"direction": "in", "number": "called", "match": "1"}, "replace"),
])
def test_bad_rules_name_the_rule_and_the_problem(row: dict, says: str) -> None:
    with pytest.raises(NumberRuleError) as info:
        NumberPlan.from_dicts([{"direction": "in", "number": "called", "match": "1", "replace": "1"}, row])
    assert str(info.value).startswith("rule 1: ")
    assert says in str(info.value)


def test_named_groups_are_fine() -> None:
    plan = NumberPlan.from_dicts([{"direction": "out", "number": "called",
                                   "match": r"029(?P<local>\d{8})", "replace": r"\g<local>"}])
    assert plan.translate("out", "called", "02988881234") == ("88881234", "unknown")


def test_bad_area_code() -> None:
    with pytest.raises(NumberRuleError, match="area code"):
        china_local_plan("029")
