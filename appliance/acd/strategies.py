"""Agent selection: which of the eligible agents a queue offers its call to, in what order.

Each strategy is a pure function of the candidates (READY agents allowed to take the call)
and, for round robin, the config index of the agent last offered a call of this queue. It
returns the candidates best first; every tie breaks by config order, so distribution is
deterministic. The engine offers the first one, or all of them for ``ring_all``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    agent_id: str
    index: int          # position in the agents' config order (the queue's member order)
    idle_since: float   # when the agent last became READY after a call or a pause
    calls_taken: int    # since log-in
    penalty: int        # the agent's penalty for the call's queue (0 = primary skill)


Strategy = Callable[[Sequence[Candidate], "int | None"], list[Candidate]]


def longest_idle(candidates: Sequence[Candidate], last: int | None = None) -> list[Candidate]:
    """The agent idle the longest first (app_queue's leastrecent)."""
    return sorted(candidates, key=lambda c: (c.idle_since, c.index))


def round_robin(candidates: Sequence[Candidate], last: int | None = None) -> list[Candidate]:
    """The member after the one last offered, in config order, wrapping (app_queue's rrmemory)."""
    if last is None:
        return sorted(candidates, key=lambda c: c.index)
    return sorted(candidates, key=lambda c: (c.index <= last, c.index))


def fewest_calls(candidates: Sequence[Candidate], last: int | None = None) -> list[Candidate]:
    """The agent with the fewest calls since log-in first; ties go to the longest idle."""
    return sorted(candidates, key=lambda c: (c.calls_taken, c.idle_since, c.index))


def skills(candidates: Sequence[Candidate], last: int | None = None) -> list[Candidate]:
    """The best skill (lowest penalty) first, then the longest idle."""
    return sorted(candidates, key=lambda c: (c.penalty, c.idle_since, c.index))


def ring_all(candidates: Sequence[Candidate], last: int | None = None) -> list[Candidate]:
    """Every candidate rings at once (listed in config order); the first to answer wins."""
    return sorted(candidates, key=lambda c: c.index)


STRATEGIES: dict[str, Strategy] = {
    "longest_idle": longest_idle,
    "round_robin": round_robin,
    "fewest_calls": fewest_calls,
    "skills": skills,
    "ring_all": ring_all,
}
RINGS_ALL = frozenset({"ring_all"})  # strategies that offer a call to every candidate at once


def strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ValueError(f"unknown strategy {name!r} (one of {', '.join(STRATEGIES)})") from None
