from __future__ import annotations

import pytest

from appliance.pbx.feature_codes import FeatureCodeError, Login, Logout, NotReady, Ready, parse


def test_codes_complete_at_the_hash() -> None:
    assert [parse(d) for d in ("*", "*1", "*11001*24")] == [None, None, None]
    assert parse("*11001*2468#") == Login("1001", "2468")
    assert parse("*0#") == Logout() and parse("*2#") == Ready()
    assert parse("*31#") == NotReady("休息") and parse("*3#") == NotReady("其他")


@pytest.mark.parametrize(("digits", "why"), [
    ("5", "start with \\*"), ("*9#", "unknown feature code \\*9"), ("*11001#", "log-in is"),
    ("*39#", "reason '9' is not one of"), ("#", "\\*N…#"), ("*" + "1" * 30, "too long"),
])
def test_bad_codes_say_why(digits: str, why: str) -> None:
    with pytest.raises(FeatureCodeError, match=why):
        parse(digits)
