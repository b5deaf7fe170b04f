"""Read-only views of the ACD engine's state: for the console, supervisors and tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from appliance.acd.model import AgentState, Priority


@dataclass(frozen=True)
class WaitingCall:
    """A call in a queue, not yet connected (it may be ringing agents)."""

    call_id: str
    queue: str
    priority: Priority
    caller: str | None
    enqueued_at: float            # first entry into any queue: the caller's whole wait
    queue_joined_at: float        # entry into this queue: max wait and penalty steps count from here
    position: int                 # 1-based, in this queue's service order
    offered_to: tuple[str, ...]   # agents ringing for it now
    callback: str | None          # the number to call back, once requested
    max_penalty: int              # the current penalty step's limit
    declined_by: tuple[str, ...]  # agents who declined it: not offered it again


@dataclass(frozen=True)
class AgentView:
    agent_id: str
    name: str
    state: AgentState
    reason: str | None            # the NOT_READY reason
    since: float | None           # when it entered STATE (None: never logged in)
    idle_since: float | None
    calls_taken: int              # since log-in
    device: str | None
    call_id: str | None           # ringing for, on, or wrapping up
    wrapup_until: float | None


@dataclass(frozen=True)
class AgentLive:
    agent_id: str
    name: str
    state: AgentState
    reason: str | None
    seconds: float | None         # in this state
    call_id: str | None


@dataclass(frozen=True)
class CallLive:
    call_id: str
    queue: str
    priority: Priority
    position: int
    wait_s: float                 # since enqueued_at
    offered_to: tuple[str, ...]
    callback: str | None


@dataclass(frozen=True)
class LiveView:
    """The wallboard: agents by state (every state present, maybe empty), calls in service order."""

    at: float
    agents: Mapping[AgentState, tuple[AgentLive, ...]]
    calls: tuple[CallLive, ...]
