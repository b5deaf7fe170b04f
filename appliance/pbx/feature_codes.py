"""Feature codes an agent dials on an idle desk phone (坐席功能码), parsed purely.

    *1 AGENT * PIN #   log in on this phone (工号 and PIN)
    *0 #               log out
    *2 #               ready (示闲); also ends wrap-up early
    *3 R #             not ready (示忙) with reason R: 1 休息, 2 会议, 3 培训, 4 就餐, 5 其他
                       (*3# alone: 其他)
    *5 #               call back my oldest missed-call task (未接来电回访), on this phone

Digits are collected from lifting the handset; ``#`` ends a code. `parse` answers with
a code, ``None`` while more digits may come, or raises `FeatureCodeError` naming what is
wrong (the phone then hears congestion tone).
"""

from __future__ import annotations

from dataclasses import dataclass

NOT_READY_REASONS = {"1": "休息", "2": "会议", "3": "培训", "4": "就餐", "5": "其他"}
MAX_DIGITS = 24


class FeatureCodeError(ValueError):
    """Digits that are not a feature code: the message says which and why."""


@dataclass(frozen=True)
class FeatureCode:
    """Base of the parsed codes."""


@dataclass(frozen=True)
class Login(FeatureCode):
    agent_id: str
    pin: str


@dataclass(frozen=True)
class Logout(FeatureCode):
    pass


@dataclass(frozen=True)
class Ready(FeatureCode):
    pass


@dataclass(frozen=True)
class NotReady(FeatureCode):
    reason: str


@dataclass(frozen=True)
class NextCallback(FeatureCode):
    pass


def parse(digits: str) -> FeatureCode | None:
    """The code DIGITS make, None if not complete yet (no ``#``)."""
    if len(digits) > MAX_DIGITS:
        raise FeatureCodeError(f"{digits[:MAX_DIGITS]}…: too long for a feature code")
    if not digits.endswith("#"):
        if digits and not digits.startswith("*"):
            raise FeatureCodeError(f"{digits!r}: feature codes start with *")
        return None
    body = digits[:-1]
    if len(body) < 2 or body[0] != "*":
        raise FeatureCodeError(f"{digits!r}: feature codes are *N…#")
    code, rest = body[1], body[2:]
    if code == "1":
        agent, sep, pin = rest.partition("*")
        if not sep or not agent.isdigit() or not pin.isdigit():
            raise FeatureCodeError(f"{digits!r}: log-in is *1 工号 * PIN #")
        return Login(agent, pin)
    if code == "0" and not rest:
        return Logout()
    if code == "2" and not rest:
        return Ready()
    if code == "5" and not rest:
        return NextCallback()
    if code == "3":
        if rest and rest not in NOT_READY_REASONS:
            raise FeatureCodeError(f"{digits!r}: reason {rest!r} is not one of "
                                   + ", ".join(f"{k} {v}" for k, v in NOT_READY_REASONS.items()))
        return NotReady(NOT_READY_REASONS[rest or "5"])
    raise FeatureCodeError(f"{digits!r}: unknown feature code *{code}")
