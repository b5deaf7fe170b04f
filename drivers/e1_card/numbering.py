"""Number translation per span, as data: what the carrier sends is not what agents dial.

Chinese carriers deliver a caller from another area as a national number without the
trunk prefix (type of number "national": ``2988881234``), a local caller as the bare
subscriber number (``88881234``) and a mobile as eleven digits. Agents want to see and
dial back ``02988881234``; and on the way out, the carrier wants a local number without
the local area code. Each box's rules come from its config; nothing here is hard-wired to
one area.

A rule matches one number of a call in one direction (``in`` = from the carrier,
``out`` = to the carrier) by a regular expression over the whole digit string, and
optionally by the type of number; ``replace`` is the `re` replacement template
(``\\1``, ``0\\g<0>``); ``ton`` (optional) sets the type of number afterwards. Rules
are tried in order and the first that matches wins: one translation per number, so a
rule's output is never re-translated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

Direction = Literal["in", "out"]
NumberField = Literal["calling", "called"]
DIRECTIONS = ("in", "out")
FIELDS = ("calling", "called")
# Q.931 type of number names (the values are in q931/ies.py): what a rule may match or set.
TONS = ("unknown", "international", "national", "network_specific", "subscriber", "abbreviated")


class NumberRuleError(ValueError):
    """A rule that cannot work: says which rule (its index) and what is wrong."""


@dataclass(frozen=True)
class NumberRule:
    direction: Direction
    number: NumberField
    match: str
    replace: str
    ton: str | None = None        # only numbers of this type of number
    set_ton: str | None = None    # type of number after the rewrite
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise NumberRuleError(f"direction {self.direction!r} is not 'in' or 'out'")
        if self.number not in FIELDS:
            raise NumberRuleError(f"number {self.number!r} is not 'calling' or 'called'")
        for name in ("ton", "set_ton"):
            value = getattr(self, name)
            if value is not None and value not in TONS:
                raise NumberRuleError(f"{name} {value!r} is not one of {', '.join(TONS)}")
        try:
            pattern = re.compile(self.match)
        except re.error as exc:
            raise NumberRuleError(f"match {self.match!r} is not a valid regular expression: {exc}") from exc
        try:
            _check_template(pattern, self.replace)
        except (re.error, IndexError) as exc:
            raise NumberRuleError(f"replace {self.replace!r} does not fit match {self.match!r}: {exc}") \
                from exc
        object.__setattr__(self, "_pattern", pattern)

    def apply(self, digits: str, ton: str) -> tuple[str, str] | None:
        """The rewritten (digits, ton), or None when this rule does not match."""
        if self.ton is not None and self.ton != ton:
            return None
        if not self._pattern.fullmatch(digits):
            return None
        return self._pattern.sub(self.replace, digits, count=1), self.set_ton or ton


def _check_template(pattern: re.Pattern[str], template: str) -> None:
    """Raise re.error when TEMPLATE names a group PATTERN does not have (at load, not per call)."""
    names = {index: name for name, index in pattern.groupindex.items()}
    shape = "".join(f"(?P<{names[i]}>.)" if i in names else "(.)" for i in range(1, pattern.groups + 1))
    re.compile(shape).sub(template, "x" * pattern.groups, count=1)


@dataclass(frozen=True)
class NumberPlan:
    """The ordered rules of one span."""

    rules: tuple[NumberRule, ...] = ()

    @classmethod
    def from_dicts(cls, rows: list[dict]) -> NumberPlan:
        rules = []
        for index, row in enumerate(rows):
            try:
                rules.append(NumberRule(**row))
            except TypeError as exc:
                raise NumberRuleError(f"rule {index}: {exc}") from exc
            except NumberRuleError as exc:
                raise NumberRuleError(f"rule {index}: {exc}") from exc
        return cls(tuple(rules))

    def translate(self, direction: Direction, number: NumberField, digits: str,
                  ton: str = "unknown") -> tuple[str, str]:
        for rule in self.rules:
            if rule.direction == direction and rule.number == number:
                result = rule.apply(digits, ton)
                if result is not None:
                    return result
        return digits, ton


def china_local_plan(area_code: str) -> NumberPlan:
    """The usual rules of a centre in area AREA_CODE (e.g. "29" for Xi'an; no leading 0).

    In: national callers get the trunk prefix 0 (mobiles, which the carrier also marks
    national, stay eleven digits); local subscribers get 0 + area code so that every
    number in the box is dialable from anywhere. Out: the local area code is stripped.
    """
    if not area_code.isdigit() or not 2 <= len(area_code) <= 3 or area_code[0] == "0":
        raise NumberRuleError(f"area code {area_code!r} must be 2 or 3 digits without the leading 0")
    return NumberPlan((
        NumberRule("in", "calling", r"1[3-9]\d{9}", r"\g<0>", ton="national", set_ton="unknown"),
        NumberRule("in", "calling", r"[1-9]\d{8,10}", r"0\g<0>", ton="national", set_ton="unknown"),
        NumberRule("in", "calling", r"[2-9]\d{6,7}", rf"0{area_code}\g<0>", ton="subscriber",
                   set_ton="unknown"),
        NumberRule("out", "called", rf"0{area_code}([2-9]\d{{6,7}})", r"\1"),
    ))
