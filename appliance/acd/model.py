"""The ACD's configuration and vocabulary: queues, agents, priorities, agent states.

Every config class checks itself when made; ``parse_acd`` turns the box config's
``[acd]`` table into an ``AcdConfig``::

    [acd]
    emergency_queue = "emergency"        # where alarm callbacks / emergency phones go
    [[acd.queues]]
    name = "general"
    max_wait = 120
    overflow = { kind = "callback" }     # or "callback", "queue:elder", "mobile:13900000000"
    penalty_steps = [{ after = 0, max_penalty = 0 }, { after = 30, max_penalty = 9 }]
    priority_credit = { elder = 60 }
    [[acd.agents]]
    agent_id = "1001"
    name = "王芳"
    pin = "1234"
    skills = { general = 0, elder = 1 }

Errors are ``AcdConfigError`` naming the key path under ``[acd]`` and why
(``queues[2].ring_timeout: must be > 0 seconds, got -1``); ``.path`` holds the path as a
tuple for the box config loader to find the line. Without ``[[acd.queues]]`` the default
queues apply (``default_acd``). Overflow rules may form cycles between queues (general →
elder → general): a call keeps moving, each queue's max wait counting from when the call
entered it; a chain of immediate "nobody to serve it" overflows stops at the first queue
it would enter twice, and the call waits there.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any

from appliance.acd.strategies import STRATEGIES

NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
OVERFLOW_KINDS = ("queue", "mobile", "callback", "message", "hangup")
RING_NO_ANSWER = "未接"  # the pause reason of app_queue's autopause


class AcdConfigError(ValueError):
    """A bad ACD setting: ``queues[2].ring_timeout: must be > 0 seconds, got -1``."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        self.path, self.detail = tuple(path), message
        self.key = dotted(self.path)
        super().__init__(f"{self.key}: {message}" if self.path else message)

    def within(self, *prefix: str | int) -> AcdConfigError:
        """The same error seen from an enclosing table."""
        return AcdConfigError((*prefix, *self.path), self.detail)


def dotted(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


class Priority(IntEnum):
    """Lower is served first."""

    EMERGENCY = 0   # alarm callbacks, emergency phones, elders who chose "emergency"
    ELDER = 1       # recognised elders, VIPs, important callers
    NORMAL = 2


class AgentState(StrEnum):
    LOGGED_OUT = "logged_out"
    READY = "ready"            # 示闲: available
    RINGING = "ringing"
    BUSY = "busy"              # on a call (or dialing a callback)
    WRAPUP = "wrapup"          # 话后处理
    NOT_READY = "not_ready"    # 示忙, with a reason (休息, 会议, 培训, 未接 …)


AGENT_STATE_LABELS = {
    AgentState.LOGGED_OUT: "未登录", AgentState.READY: "示闲", AgentState.RINGING: "振铃",
    AgentState.BUSY: "通话中", AgentState.WRAPUP: "话后处理", AgentState.NOT_READY: "示忙",
}


def _seconds(path: str, value: Any, *, zero: bool = False, none: bool = False) -> float | None:
    """VALUE as seconds (a number, not a flag); > 0, or >= 0 with ZERO; None allowed with NONE."""
    if value is None and none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AcdConfigError((path,), f"expected a number of seconds, got {value!r}")
    if value < 0 or (value == 0 and not zero):
        raise AcdConfigError((path,), f"must be {'>=' if zero else '>'} 0 seconds, got {value}")
    return float(value)


def _penalty(path: tuple[str | int, ...], value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise AcdConfigError(path, f"a penalty is an integer >= 0 (0 = primary skill), got {value!r}")
    return value


def _digits(path: str | tuple[str | int, ...], value: Any, low: int, high: int, what: str) -> str:
    if not (isinstance(value, str) and value.isascii() and value.isdigit() and low <= len(value) <= high):
        raise AcdConfigError(path if isinstance(path, tuple) else (path,),
                             f"{what} is {low} to {high} digits, got {value!r}")
    return value


@dataclass(frozen=True)
class OverflowRule:
    """Where a call goes when it leaves a queue: ``queue`` (TARGET = queue name), ``mobile``
    (TARGET = phone number), ``callback``, ``message`` (leave a message) or ``hangup``."""

    kind: str
    target: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or self.kind not in OVERFLOW_KINDS:
            raise AcdConfigError(("kind",), f"{self.kind!r} is not one of {', '.join(OVERFLOW_KINDS)}")
        if self.kind == "queue":
            if not isinstance(self.target, str) or not NAME.match(self.target):
                raise AcdConfigError(("target",), f"overflow to a queue needs its name, got {self.target!r}")
        elif self.kind == "mobile":
            _digits("target", self.target, 3, 20, "a mobile number")
        elif self.target is not None:
            raise AcdConfigError(("target",), f"overflow kind {self.kind!r} takes no target")

    def describe(self) -> str:
        """``kind:target`` (or ``kind``), as in the queue log."""
        return f"{self.kind}:{self.target}" if self.target is not None else self.kind

    @classmethod
    def parse(cls, value: Any) -> OverflowRule:
        """``{kind = "queue", target = "elder"}`` or the short form ``"queue:elder"``."""
        if isinstance(value, OverflowRule):
            return value
        if isinstance(value, str):
            kind, _, target = value.partition(":")
            return cls(kind, target or None)
        if isinstance(value, Mapping):
            unknown = [k for k in value if k not in ("kind", "target")]
            if unknown:
                raise AcdConfigError((unknown[0],), "unknown key (expected kind, target)")
            if "kind" not in value:
                raise AcdConfigError((), "missing required key 'kind'")
            return cls(value["kind"], value.get("target"))
        raise AcdConfigError((), f"expected a table {{kind, target}} or \"kind:target\", got {value!r}")


@dataclass(frozen=True)
class PenaltyStep:
    """From AFTER seconds of waiting in the queue, agents with penalty <= MAX_PENALTY may take it."""

    after: float
    max_penalty: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "after", _seconds("after", self.after, zero=True))
        _penalty(("max_penalty",), self.max_penalty)

    @classmethod
    def parse(cls, value: Any) -> PenaltyStep:
        if isinstance(value, PenaltyStep):
            return value
        if not isinstance(value, Mapping):
            raise AcdConfigError((), f"expected a table {{after, max_penalty}}, got {value!r}")
        for key in value:
            if key not in ("after", "max_penalty"):
                raise AcdConfigError((key,), "unknown key (expected after, max_penalty)")
        for key in ("after", "max_penalty"):
            if key not in value:
                raise AcdConfigError((), f"missing required key {key!r}")
        return cls(value["after"], value["max_penalty"])


DEFAULT_PENALTY_STEPS = (PenaltyStep(0, 0), PenaltyStep(30, 1), PenaltyStep(60, 9))
DEFAULT_PRIORITY_CREDIT: Mapping[Priority, float] = {Priority.ELDER: 60.0, Priority.NORMAL: 0.0}


def _credit(value: Any) -> dict[Priority, float]:
    if not isinstance(value, Mapping):
        raise AcdConfigError((), f"expected a table like {{elder = 60, normal = 0}}, got {value!r}")
    out = dict(DEFAULT_PRIORITY_CREDIT)
    for key, seconds in value.items():
        try:
            priority = Priority[key.upper()] if isinstance(key, str) else Priority(key)
        except (KeyError, ValueError):
            raise AcdConfigError((str(key),), "unknown priority (expected elder, normal)") from None
        if priority is Priority.EMERGENCY:
            raise AcdConfigError(("emergency",), "emergencies always go first: they take no credit")
        out[priority] = _seconds(str(key).lower() if isinstance(key, str) else priority.name.lower(),
                                 seconds, zero=True)
    return out


@dataclass(frozen=True)
class QueueConfig:
    name: str
    strategy: str = "longest_idle"
    ring_timeout: float = 15.0
    wrapup: float = 10.0                 # an agent's own wrapup wins
    max_wait: float | None = None
    overflow: OverflowRule | None = None
    join_empty: bool = True              # False: nobody logged in to serve it → overflow at once
    leave_when_empty: bool = False       # True: the last able agent logging out overflows the callers
    announce_every: float | None = None
    penalty_steps: tuple[PenaltyStep, ...] = DEFAULT_PENALTY_STEPS
    priority_credit: Mapping[Priority, float] = field(default_factory=lambda: dict(DEFAULT_PRIORITY_CREDIT))
    short_abandon: float = 5.0
    service_level_target: float = 20.0
    # Not in app_queue's defaults but its `autopause` option: False keeps agents READY after a
    # ring-no-answer (an emergency ring-all must not pause every agent).
    autopause: bool = True
    # A key the waiting caller presses for a callback that keeps their place (None: not offered).
    callback_key: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not NAME.match(self.name):
            raise AcdConfigError(("name",), f"a queue name is 1-64 of A-Z a-z 0-9 _ -, got {self.name!r}")
        if not isinstance(self.strategy, str) or self.strategy not in STRATEGIES:
            raise AcdConfigError(("strategy",), f"{self.strategy!r} is not one of {', '.join(STRATEGIES)}")
        set_ = object.__setattr__
        set_(self, "ring_timeout", _seconds("ring_timeout", self.ring_timeout))
        set_(self, "wrapup", _seconds("wrapup", self.wrapup, zero=True))
        set_(self, "max_wait", _seconds("max_wait", self.max_wait, none=True))
        set_(self, "announce_every", _seconds("announce_every", self.announce_every, none=True))
        set_(self, "short_abandon", _seconds("short_abandon", self.short_abandon, zero=True))
        set_(self, "service_level_target", _seconds("service_level_target", self.service_level_target))
        if self.callback_key is not None and (not isinstance(self.callback_key, str)
                                              or len(self.callback_key) != 1
                                              or self.callback_key not in "0123456789*#"):
            raise AcdConfigError(("callback_key",), f"one DTMF key 0-9 * #, got {self.callback_key!r}")
        for key in ("join_empty", "leave_when_empty", "autopause"):
            if not isinstance(getattr(self, key), bool):
                raise AcdConfigError((key,), f"expected true or false, got {getattr(self, key)!r}")
        if self.overflow is not None:
            try:
                set_(self, "overflow", OverflowRule.parse(self.overflow))
            except AcdConfigError as exc:
                raise exc.within("overflow") from None
            if self.overflow.kind == "queue" and self.overflow.target == self.name:
                raise AcdConfigError(("overflow", "target"), "a queue cannot overflow into itself")
        elif self.max_wait is not None or not self.join_empty or self.leave_when_empty:
            why = ("max_wait is set" if self.max_wait is not None
                   else "join_empty = false" if not self.join_empty else "leave_when_empty = true")
            raise AcdConfigError(("overflow",), f"required when {why}: where do the callers go?")
        set_(self, "penalty_steps", self._steps(self.penalty_steps))
        try:
            set_(self, "priority_credit", _credit(self.priority_credit))
        except AcdConfigError as exc:
            raise exc.within("priority_credit") from None

    @staticmethod
    def _steps(value: Any) -> tuple[PenaltyStep, ...]:
        if not isinstance(value, list | tuple) or not value:
            raise AcdConfigError(("penalty_steps",), "expected a non-empty list of {after, max_penalty}")
        steps = []
        for i, item in enumerate(value):
            try:
                steps.append(PenaltyStep.parse(item))
            except AcdConfigError as exc:
                raise exc.within("penalty_steps", i) from None
        if steps[0].after != 0:
            raise AcdConfigError(("penalty_steps", 0, "after"), "the first step starts at 0 seconds")
        for i in range(1, len(steps)):
            if steps[i].after <= steps[i - 1].after:
                raise AcdConfigError(("penalty_steps", i, "after"),
                                     "steps must be in increasing order of 'after'")
            if steps[i].max_penalty < steps[i - 1].max_penalty:
                raise AcdConfigError(("penalty_steps", i, "max_penalty"),
                                     "the limit only relaxes as the wait grows (must not decrease)")
        return tuple(steps)

    def max_penalty(self, step: int) -> int:
        return self.penalty_steps[step].max_penalty


@dataclass(frozen=True)
class AgentConfig:
    agent_id: str                          # 工号
    name: str
    pin: str | None = None                 # for log-in from the phone
    skills: Mapping[str, int] = field(default_factory=dict)   # queue name → penalty (0 = primary)
    wrapup: float | None = None            # None: the queue's
    # 移动座席: the agent's mobile or home landline; logged in there, offers dial it out.
    mobile: str | None = None

    def __post_init__(self) -> None:
        _digits("agent_id", self.agent_id, 1, 10, "an agent id (工号)")
        if self.mobile is not None:
            _digits("mobile", self.mobile, 3, 20, "a phone number")
        if not isinstance(self.name, str) or not self.name.strip():
            raise AcdConfigError(("name",), f"must be a non-empty string, got {self.name!r}")
        if self.pin is not None:
            _digits("pin", self.pin, 4, 8, "a PIN")
        if not isinstance(self.skills, Mapping):
            raise AcdConfigError(("skills",), f"expected a table {{queue = penalty}}, got {self.skills!r}")
        for queue, penalty in self.skills.items():
            _penalty(("skills", str(queue)), penalty)
        object.__setattr__(self, "skills", dict(self.skills))
        object.__setattr__(self, "wrapup", _seconds("wrapup", self.wrapup, zero=True, none=True))


@dataclass(frozen=True)
class AcdConfig:
    queues: tuple[QueueConfig, ...]
    agents: tuple[AgentConfig, ...] = ()
    emergency_queue: str | None = None     # the queue emergency calls are sent to
    # Called numbers that are the centre's emergency line (一键通 phones dial it): every call
    # to one is an alarm. Calls from an elder's registered emergency phone are alarms too.
    emergency_numbers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "queues", tuple(self.queues))
        object.__setattr__(self, "agents", tuple(self.agents))
        if isinstance(self.emergency_numbers, str) or not isinstance(self.emergency_numbers, list | tuple):
            raise AcdConfigError(("emergency_numbers",),
                                 f"expected a list of numbers, got {self.emergency_numbers!r}")
        for i, number in enumerate(self.emergency_numbers):
            _digits(("emergency_numbers", i), number, 3, 20, "a called number")
        object.__setattr__(self, "emergency_numbers", tuple(self.emergency_numbers))
        check_acd(self.queues, self.agents)
        if self.emergency_queue is not None and self.emergency_queue not in self.queue_names():
            raise AcdConfigError(("emergency_queue",), _no_queue(self.emergency_queue, self.queue_names()))

    def queue_names(self) -> list[str]:
        return [q.name for q in self.queues]

    def queue(self, name: str) -> QueueConfig:
        for q in self.queues:
            if q.name == name:
                return q
        raise KeyError(name)


def _no_queue(name: str, names: Iterable[str]) -> str:
    return f"no queue {name!r} (queues: {', '.join(names) or 'none'})"


def check_acd(queues: Iterable[QueueConfig], agents: Iterable[AgentConfig]) -> None:
    """What one queue or agent cannot check alone: names unique, every reference known."""
    queues, agents = list(queues), list(agents)
    if not queues:
        raise AcdConfigError(("queues",), "at least one queue is needed")
    names: list[str] = []
    for i, q in enumerate(queues):
        if q.name in names:
            raise AcdConfigError(("queues", i, "name"), f"duplicate queue {q.name!r}")
        names.append(q.name)
    for i, q in enumerate(queues):
        if q.overflow is not None and q.overflow.kind == "queue" and q.overflow.target not in names:
            raise AcdConfigError(("queues", i, "overflow", "target"),
                                 _no_queue(q.overflow.target or "", names))
    ids: set[str] = set()
    for i, a in enumerate(agents):
        if a.agent_id in ids:
            raise AcdConfigError(("agents", i, "agent_id"), f"duplicate agent {a.agent_id!r}")
        ids.add(a.agent_id)
        for queue in a.skills:
            if queue not in names:
                raise AcdConfigError(("agents", i, "skills", queue), _no_queue(queue, names))


def default_acd() -> AcdConfig:
    """The queues a box starts with; agents come from the site's config."""
    return AcdConfig(
        queues=(
            # Every agent who can take emergencies rings at once, whatever the penalty, and
            # nobody is paused when no one answers: the call keeps ringing them all.
            QueueConfig("emergency", strategy="ring_all", penalty_steps=(PenaltyStep(0, 9),),
                        autopause=False),
            QueueConfig("elder"),
            QueueConfig("general", max_wait=120.0, overflow=OverflowRule("callback"), callback_key="1"),
        ),
        emergency_queue="emergency",
    )


QUEUE_KEYS = frozenset(QueueConfig.__dataclass_fields__)
AGENT_KEYS = frozenset(AgentConfig.__dataclass_fields__)
TOP_KEYS = ("queues", "agents", "emergency_queue", "emergency_numbers")


def _tables(data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    items = data.get(key, [])
    if not isinstance(items, list) or not all(isinstance(x, Mapping) for x in items):
        raise AcdConfigError((key,), f"must be an array of tables ([[acd.{key}]])")
    return items


def _known(item: Mapping[str, Any], keys: frozenset[str], path: tuple[str | int, ...], required: str) -> None:
    for key in item:
        if key not in keys:
            raise AcdConfigError((*path, key), f"unknown key (expected one of {', '.join(sorted(keys))})")
    if required not in item:
        raise AcdConfigError(path, f"missing required key {required!r}")


def parse_acd(data: Mapping[str, Any]) -> AcdConfig:
    """The ``[acd]`` table of the box config (already parsed TOML) as an AcdConfig."""
    if not isinstance(data, Mapping):
        raise AcdConfigError((), "[acd] must be a table")
    for key in data:
        if key not in TOP_KEYS:
            raise AcdConfigError((key,), f"unknown key (expected one of {', '.join(TOP_KEYS)})")
    queues: list[QueueConfig] = []
    if "queues" in data:
        for i, item in enumerate(_tables(data, "queues")):
            _known(item, QUEUE_KEYS, ("queues", i), "name")
            try:
                queues.append(QueueConfig(**item))
            except AcdConfigError as exc:
                raise exc.within("queues", i) from None
    else:
        queues = list(default_acd().queues)
    agents: list[AgentConfig] = []
    for i, item in enumerate(_tables(data, "agents")):
        _known(item, AGENT_KEYS, ("agents", i), "agent_id")
        if "name" not in item:
            raise AcdConfigError(("agents", i), "missing required key 'name'")
        try:
            agents.append(AgentConfig(**item))
        except AcdConfigError as exc:
            raise exc.within("agents", i) from None
    emergency = data.get("emergency_queue")
    if emergency is None and any(q.name == "emergency" for q in queues):
        emergency = "emergency"
    elif emergency is not None and not isinstance(emergency, str):
        raise AcdConfigError(("emergency_queue",), f"expected a queue name, got {emergency!r}")
    numbers = data.get("emergency_numbers", ())
    if emergency is None and numbers:
        raise AcdConfigError(("emergency_queue",), "emergency_numbers need an emergency queue")
    return AcdConfig(tuple(queues), tuple(agents), emergency, numbers)
