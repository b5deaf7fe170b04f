from __future__ import annotations

import pytest

from appliance.callers.categories import CATEGORIES, LABELS, elder_category, from_row
from appliance.ivr.flows import CATEGORIES as FLOW_CATEGORIES


def test_the_categories_are_the_ones_ivr_flows_route_on() -> None:
    assert set(CATEGORIES) == set(FLOW_CATEGORIES) and set(LABELS) == set(CATEGORIES)


@pytest.mark.parametrize(("value", "stored"), [(None, None), ("", None), ("elder", None), ("vip", "vip"),
                                               ("important", "important")])
def test_an_elder_bodys_category_is_optional(value: object, stored: str | None) -> None:
    assert elder_category(value) == stored


def test_an_unknown_category_in_a_body_is_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"^category: 'blacklist'"):
        elder_category("blacklist")  # an elder is never blacklisted by category


def test_a_stored_category_this_release_does_not_know_is_an_ordinary_elder() -> None:
    assert [from_row(v) for v in (None, "vip", "important", "sensitive")] == ["elder", "vip", "important",
                                                                               "elder"]
