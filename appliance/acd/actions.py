"""What the ACD engine asks of the shell (pbxd), in order: ``AcdEngine.actions()`` drains them."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.acd.model import AgentState, OverflowRule


@dataclass(frozen=True)
class Action:
    """Base class of everything AcdEngine.actions() returns."""


@dataclass(frozen=True)
class Offer(Action):
    """Ring these agents' phones for the call; report ``answered`` / ``declined``. With
    CALLBACK the caller has hung up: after ``answered`` dial CALLBACK (see CallbackDue)."""

    call_id: str
    agent_ids: tuple[str, ...]
    ring_timeout: float
    callback: str | None = None


@dataclass(frozen=True)
class CancelOffer(Action):
    """Stop ringing these phones for the call (another answered, ring timeout, caller left)."""

    call_id: str
    agent_ids: tuple[str, ...]


@dataclass(frozen=True)
class Connected(Action):
    """Stop the caller's ringback and bridge the caller with the agent."""

    call_id: str
    agent_id: str


@dataclass(frozen=True)
class CallbackDue(Action):
    """The agent took a queued callback: dial NUMBER on a trunk, bridge, then report
    ``callback_result(reached=…)``."""

    call_id: str
    agent_id: str
    number: str


@dataclass(frozen=True)
class Overflow(Action):
    """The call leaves its queue by RULE. REASON: ``max_wait`` | ``no_agents`` | ``queue_empty``.
    For ``rule.kind == "queue"`` the engine has already moved it; the shell need not act."""

    call_id: str
    rule: OverflowRule
    reason: str


@dataclass(frozen=True)
class Announce(Action):
    """Tell the caller POSITION in the queue and EXPECTED_WAIT seconds (0: unknown, nobody
    logged in to serve the queue — announce the position only)."""

    call_id: str
    position: int
    expected_wait: int


@dataclass(frozen=True)
class AgentStateChanged(Action):
    """For the agent's phone (lamp, display) and the console."""

    agent_id: str
    state: AgentState
    reason: str | None = None
