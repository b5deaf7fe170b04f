"""MissedCalls: the book of callback tasks (未接来电回访), sans-I/O.

The shell adds a task for each call an agent never took (abandoned, overflowed to
"callback", a failed queued callback …) and tells the book who is logged in; the book
assigns each task round-robin over the logged-in agents (in 工号 order, after the one
assigned last), and keeps tasks made while nobody is logged in for the next log-in::

    book = MissedCalls()
    book.agent_logged_in("1001", now)
    task = book.add("c7", "13912345678", "general", now, wait_s=42.0, reason="abandoned")
    book.close(task.task_id, "reached", now + 600, by="1001")
    for event in book.events(): ...          # TaskEvent records for box.db and the hub

The same number calling again while its task is open counts as another attempt on that
task, not a second task. An agent logging out hands its open tasks on to the others (an
elder's callback should not wait for the next shift); with nobody left they wait
unassigned. Whether a short abandon deserves a task is the shell's choice (it knows the
queue's ``short_abandon``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

OUTCOMES = ("reached", "no_answer", "wrong_number", "not_needed")
SYSTEM = "system"  # ``by`` of the book's own assignments

TASK_CREATED = "task_created"
TASK_ATTEMPT = "task_attempt"
TASK_ASSIGNED = "task_assigned"
TASK_CLOSED = "task_closed"


class MissedCallError(ValueError):
    """Bad input to the book: an unknown or closed task, a bad number or outcome."""


@dataclass(frozen=True)
class CallbackTask:
    task_id: str
    number: str
    queue: str
    reason: str                   # why it was missed: abandoned, overflow, callback_failed …
    created_at: float
    call_ids: tuple[str, ...]     # every missed call from NUMBER while the task was open
    last_at: float
    wait_s: float                 # the latest missed call's wait
    agent_id: str | None          # assigned to (None: nobody logged in yet)
    closed_at: float | None = None
    outcome: str | None = None
    closed_by: str | None = None

    @property
    def attempts(self) -> int:
        return len(self.call_ids)

    @property
    def open(self) -> bool:
        return self.outcome is None


@dataclass(frozen=True)
class TaskEvent:
    at: float
    kind: str
    task_id: str
    number: str
    agent_id: str | None
    data: dict[str, Any] = field(default_factory=dict)


def _agent_key(agent_id: str) -> tuple[int, str]:
    return len(agent_id), agent_id   # 工号 are digits: "9" before "10"


class MissedCalls:
    def __init__(self, *, id_prefix: str = "cb-") -> None:
        self._prefix = id_prefix
        self._tasks: dict[str, CallbackTask] = {}
        self._open_by_number: dict[str, str] = {}
        self._logged_in: set[str] = set()
        self._last: str | None = None
        self._next_id = 1
        self._events: list[TaskEvent] = []

    # ---- input --------------------------------------------------------------------------

    def add(self, call_id: str, number: str, queue: str, at: float, wait_s: float,
            reason: str) -> CallbackTask:
        """A missed call: a new task, or one more attempt on NUMBER's open task."""
        for name, value in (("call_id", call_id), ("queue", queue), ("reason", reason)):
            if not isinstance(value, str) or not value:
                raise MissedCallError(f"{name}: must be a non-empty string, got {value!r}")
        if not isinstance(number, str) or not number.isascii() or not number.isdigit():
            raise MissedCallError(f"number: a callback needs the caller's number (digits), got {number!r}")
        if isinstance(wait_s, bool) or not isinstance(wait_s, int | float) or wait_s < 0:
            raise MissedCallError(f"wait_s: must be >= 0 seconds, got {wait_s!r}")
        if number in self._open_by_number:
            task = self._tasks[self._open_by_number[number]]
            if call_id in task.call_ids:
                raise MissedCallError(f"call {call_id} is already on task {task.task_id}")
            task = self._put(replace(task, call_ids=(*task.call_ids, call_id), last_at=at, wait_s=wait_s))
            self._event(at, TASK_ATTEMPT, task, call_id=call_id, attempts=task.attempts, wait_s=wait_s,
                        reason=reason)
            return task
        task_id = f"{self._prefix}{self._next_id}"
        self._next_id += 1
        task = self._put(CallbackTask(task_id, number, queue, reason, at, (call_id,), at, float(wait_s),
                                      self._next_agent()))
        self._open_by_number[number] = task_id
        self._event(at, TASK_CREATED, task, call_id=call_id, queue=queue, wait_s=wait_s, reason=reason)
        return task

    def restore(self, tasks: Iterable[CallbackTask], next_id: int) -> None:
        """The open tasks box.db kept across a restart (no events: they are stored already);
        new tasks are numbered from NEXT_ID so an id is never given twice."""
        for task in tasks:
            self._put(task)
            if task.open:
                self._open_by_number[task.number] = task.task_id
        self._next_id = max(self._next_id, next_id)

    def agent_logged_in(self, agent_id: str, at: float) -> None:
        """Tasks nobody could take are handed out now."""
        self._logged_in.add(agent_id)
        for task in self.open_tasks():
            if task.agent_id is None:
                self._assign(task, self._next_agent(), SYSTEM, at)

    def agent_logged_out(self, agent_id: str, at: float) -> None:
        """The agent's open tasks go on round-robin to those still logged in."""
        self._logged_in.discard(agent_id)
        for task in self.open_tasks(agent_id):
            self._assign(task, self._next_agent(), SYSTEM, at)

    def reassign(self, task_id: str, agent_id: str, by: str, at: float) -> CallbackTask:
        """A supervisor (BY) gives the task to AGENT_ID, logged in or not."""
        task = self._open(task_id)
        if not isinstance(agent_id, str) or not agent_id:
            raise MissedCallError(f"agent_id: must be a non-empty string, got {agent_id!r}")
        if task.agent_id == agent_id:
            return task
        return self._assign(task, agent_id, by, at)

    def close(self, task_id: str, outcome: str, at: float, by: str) -> CallbackTask:
        task = self._open(task_id)
        if outcome not in OUTCOMES:
            raise MissedCallError(f"outcome: {outcome!r} is not one of {', '.join(OUTCOMES)}")
        task = self._put(replace(task, closed_at=at, outcome=outcome, closed_by=by))
        del self._open_by_number[task.number]
        self._event(at, TASK_CLOSED, task, outcome=outcome, by=by, attempts=task.attempts)
        return task

    # ---- output and views ---------------------------------------------------------------

    def events(self) -> list[TaskEvent]:
        out, self._events = self._events, []
        return out

    def task(self, task_id: str) -> CallbackTask:
        try:
            return self._tasks[task_id]
        except KeyError:
            raise MissedCallError(f"no callback task {task_id!r}") from None

    def open_tasks(self, agent_id: str | None = None) -> list[CallbackTask]:
        """Open tasks, oldest first; only AGENT_ID's when given."""
        return [t for t in self._tasks.values() if t.open and (agent_id is None or t.agent_id == agent_id)]

    def response_rate(self) -> float | None:
        """Tasks closed ÷ tasks created (None before the first task)."""
        if not self._tasks:
            return None
        return sum(1 for t in self._tasks.values() if not t.open) / len(self._tasks)

    # ---- steps --------------------------------------------------------------------------

    def _open(self, task_id: str) -> CallbackTask:
        task = self.task(task_id)
        if not task.open:
            raise MissedCallError(f"task {task_id} is closed ({task.outcome} by {task.closed_by})")
        return task

    def _put(self, task: CallbackTask) -> CallbackTask:
        self._tasks[task.task_id] = task
        return task

    def _next_agent(self) -> str | None:
        if not self._logged_in:
            return None
        order = sorted(self._logged_in, key=_agent_key)
        after = [a for a in order if self._last is None or _agent_key(a) > _agent_key(self._last)]
        self._last = (after or order)[0]
        return self._last

    def _assign(self, task: CallbackTask, agent_id: str | None, by: str, at: float) -> CallbackTask:
        previous = task.agent_id
        task = self._put(replace(task, agent_id=agent_id))
        self._event(at, TASK_ASSIGNED, task, by=by, previous=previous)
        return task

    def _event(self, at: float, kind: str, task: CallbackTask, **data: Any) -> None:
        self._events.append(TaskEvent(at, kind, task.task_id, task.number, task.agent_id, data))
