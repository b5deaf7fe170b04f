"""The queue log: one ``QueueEvent`` per step of a call or an agent (docs/acd.md).

These records go to box.db (``queue_log``), the local bus and the hub; ``metrics.py``
computes from them alone. ``data`` holds JSON-able values only; its keys per kind are in
``DATA_KEYS``.

How an agent's ringing ends, for readers rebuilding agent states: ``connected`` (the
agent answered; for the other agents of a ring-all, their ring ended too), or
``ring_no_answer`` (timed out — then ``paused`` with reason 未接 when the queue autopauses —
or the agent declined), or the call's ``abandoned`` / ``overflowed`` /
``callback_requested`` (the caller left or hung up for a callback), or the agent's
``logged_out``. A callback the agent answered is ``connected`` only when the caller is
reached; ``callback_failed`` ends it otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JOINED = "joined"
OFFERED = "offered"
RING_NO_ANSWER = "ring_no_answer"
CONNECTED = "connected"
COMPLETED = "completed"
ABANDONED = "abandoned"
TRANSFERRED = "transferred"
OVERFLOWED = "overflowed"
CALLBACK_REQUESTED = "callback_requested"
CALLBACK_FAILED = "callback_failed"
LOGGED_IN = "logged_in"
LOGGED_OUT = "logged_out"
PAUSED = "paused"
UNPAUSED = "unpaused"
WRAPUP_STARTED = "wrapup_started"
WRAPUP_ENDED = "wrapup_ended"
THREE_WAY = "three_way"   # logged by pbxd's hook-flash features, not the engine

DATA_KEYS: dict[str, tuple[str, ...]] = {
    JOINED: ("priority", "caller", "position"),
    OFFERED: ("callback",),
    RING_NO_ANSWER: ("ring_s",),
    CONNECTED: ("wait_s", "ring_s"),
    COMPLETED: ("by", "wait_s", "talk_s"),
    ABANDONED: ("wait_s", "position", "original_position"),
    TRANSFERRED: ("to", "talk_s"),
    OVERFLOWED: ("reason", "target", "wait_s"),
    CALLBACK_REQUESTED: ("number", "wait_s"),
    CALLBACK_FAILED: ("number",),
    LOGGED_IN: ("device",),
    LOGGED_OUT: ("device",),
    PAUSED: ("reason",),
    UNPAUSED: ("reason",),
    WRAPUP_STARTED: (),
    WRAPUP_ENDED: ("wrapup_s",),
    THREE_WAY: ("with", "target"),
}
KINDS = frozenset(DATA_KEYS)
SHELL_KINDS = frozenset({THREE_WAY})   # logged by pbxd around the engine, never by the engine
# A call's last event: it is no longer the engine's (an overflow to another queue is not an end).
CALL_ENDS = frozenset({COMPLETED, TRANSFERRED, ABANDONED, OVERFLOWED, CALLBACK_FAILED})


@dataclass(frozen=True)
class QueueEvent:
    at: float
    kind: str
    call_id: str | None
    queue: str | None
    agent_id: str | None
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """As stored and published (JSON)."""
        return {"at": self.at, "kind": self.kind, "call_id": self.call_id, "queue": self.queue,
                "agent_id": self.agent_id, "data": dict(self.data)}
