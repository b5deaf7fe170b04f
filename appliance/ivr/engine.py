"""The IVR engine: one sans-I/O IvrSession per call, walking a Flow.

The shell (pbxd) feeds what happens on the call — a DTMF digit, a prompt finished, the
caller hung up, a recording saved, the agent hung up — and carries out the actions the
session emits, in order (``actions()`` drains them)::

    s = IvrSession(flow, CallerInfo("13912345678", "elder"), now)
    for action in s.actions(): ...          # Play("welcome", interruptible=True)
    s.on_prompt_done(now); s.on_digit("1", now); s.on_timer(now) …

Time is epoch seconds passed in as ``now``; the only timer is ``get_timer()`` (an input
timeout or the end of a message recording), and the shell calls ``on_timer(now)`` when
it is due. The session never reads a clock and never touches audio.

Contract with the shell:

- Play → play the prompt, then ``on_prompt_done``. After StopPlay (the caller pressed a
  key during an interruptible prompt) the stopped prompt is not reported done.
- RecordMessage → beep if asked and record; StopRecording → close the file and report
  ``on_recorded(path, now)``; the CreateCase that follows is the case to open.
- ToQueue / Transfer hand the call over. When the agent (or the duty mobile) hangs up
  first, ``on_agent_hangup``: the flow may go on with a survey. When the hand-over fails
  (nobody answers), ``on_handoff_failed``: the flow may go on with its fallback.
- Hangup → clear the call. After ``on_hangup`` (the caller left) only ``on_recorded``
  is still expected, when a message was being recorded.

A call that loops (a menu whose timeout leads back to itself, a silent caller who put
the receiver down) is cleared after ``max_steps`` nodes rather than holding a channel.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from appliance.ivr.flows import (
    CATEGORIES,
    BranchCallerNode,
    CollectNode,
    Flow,
    HangupNode,
    HoursNode,
    MenuNode,
    MessageNode,
    Node,
    PlayNode,
    QueueNode,
    SurveyNode,
    TransferNode,
)

KEYS = frozenset("0123456789*#ABCD")  # A–D exist in DTMF; no flow uses them: invalid input
MAX_STEPS = 64


class IvrError(RuntimeError):
    """The shell misused the session (an event the current state cannot take)."""


@dataclass(frozen=True)
class CallerInfo:
    """Who calls, from the registry replica: ``category`` is one of flows.CATEGORIES."""

    number: str | None = None
    category: str = "unknown"
    elder_id: str | None = None

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"caller category {self.category!r} is not one of {', '.join(CATEGORIES)}")


@dataclass(frozen=True)
class Action:
    """Base class of everything IvrSession.actions() returns."""


@dataclass(frozen=True)
class Play(Action):
    prompt: str
    interruptible: bool


@dataclass(frozen=True)
class StopPlay(Action):
    """The caller pressed a key during an interruptible prompt: stop it now."""


@dataclass(frozen=True)
class CollectDigits(Action):
    """The prompts are done: the session listens for keys for ``timeout`` seconds."""

    max_digits: int
    timeout: float
    terminator: str | None = None


@dataclass(frozen=True)
class DigitsCollected(Action):
    """A collect node got its digits; stored with the call as variable ``name``."""

    name: str
    digits: str


@dataclass(frozen=True)
class ToQueue(Action):
    queue: str
    priority: int  # higher is served sooner


@dataclass(frozen=True)
class Transfer(Action):
    number: str


@dataclass(frozen=True)
class RecordMessage(Action):
    max_seconds: float
    beep: bool
    kind: str


@dataclass(frozen=True)
class StopRecording(Action):
    """Close the message file (finish key, time limit or hang-up), then on_recorded()."""


@dataclass(frozen=True)
class CreateCase(Action):
    """投诉留言: open a case of ``kind`` with the recorded message attached."""

    kind: str
    caller: str | None
    category: str
    elder_id: str | None
    recording: str
    duration: float
    flow: str
    node: str
    at: float


@dataclass(frozen=True)
class SurveyResult(Action):
    """满意度评价: ``score`` is the key pressed, ``label`` its meaning (满意 …)."""

    score: int
    label: str


@dataclass(frozen=True)
class Hangup(Action):
    reason: str


PLAYING, WAITING, RECORDING, SAVING, HANDED_OFF, FINISHED = (
    "playing", "waiting", "recording", "saving", "handed_off", "finished")
IGNORE = None
# state → event → handler. An event missing from a state is a misuse (IvrError); IGNORE
# marks what the caller may do at any time without meaning anything there (a key while
# queued, a late timer).
TRANSITIONS: dict[str, dict[str, str | None]] = {
    PLAYING: {"digit": "_digit_playing", "prompt_done": "_prompt_done", "timer": IGNORE,
              "hangup": "_caller_gone"},
    WAITING: {"digit": "_digit_waiting", "timer": "_input_timeout", "hangup": "_caller_gone"},
    RECORDING: {"digit": "_digit_recording", "timer": "_stop_recording", "hangup": "_gone_recording",
                "recorded": "_recorded"},
    SAVING: {"recorded": "_recorded", "digit": IGNORE, "timer": IGNORE, "hangup": "_gone_saving"},
    HANDED_OFF: {"agent_hangup": "_agent_hangup", "handoff_failed": "_handoff_failed",
                 "hangup": "_caller_gone", "digit": IGNORE, "timer": IGNORE},
    # A prompt may end in the tick the caller hangs up: late reports are harmless.
    FINISHED: {"digit": IGNORE, "timer": IGNORE, "hangup": IGNORE, "prompt_done": IGNORE,
               "agent_hangup": IGNORE, "handoff_failed": IGNORE},
}


class IvrSession:
    """One caller's walk through FLOW. Starts at ``flow.start`` when constructed."""

    def __init__(self, flow: Flow, caller: CallerInfo, now: float, *, max_steps: int = MAX_STEPS) -> None:
        self.flow, self.caller, self.max_steps = flow, caller, max_steps
        self.state = PLAYING
        self.node: Node = flow.nodes[flow.start]
        self.trail: list[str] = []          # nodes visited, stored with the call
        self.variables: dict[str, str] = {}
        self.survey: SurveyResult | None = None
        self.end_reason: str | None = None
        self._out: list[Action] = []
        self._queue: deque[str] = deque()
        self._interruptible = False
        self._deadline: float | None = None
        self._attempts = 0
        self._digits = ""
        self._record_started = 0.0
        self._hung_up = False
        self._enter(flow.start, now)

    # -- the verbs -------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self.state == FINISHED

    def actions(self) -> list[Action]:
        """The actions emitted since the last call, in the order to carry them out."""
        out, self._out = self._out, []
        return out

    def get_timer(self) -> float | None:
        return self._deadline

    def on_digit(self, digit: str, now: float) -> None:
        if digit not in KEYS or len(digit) != 1:
            raise IvrError(f"{digit!r} is not a DTMF key")
        self._dispatch("digit", now, digit)

    def on_prompt_done(self, now: float) -> None:
        self._dispatch("prompt_done", now)

    def on_timer(self, now: float) -> None:
        if self._deadline is None or now < self._deadline:
            return  # early or stale wake-up
        self._deadline = None
        self._dispatch("timer", now)

    def on_hangup(self, now: float) -> None:
        """The caller hung up."""
        self._dispatch("hangup", now)

    def on_recorded(self, path: str, now: float) -> None:
        self._dispatch("recorded", now, str(path))

    def on_agent_hangup(self, now: float) -> None:
        self._dispatch("agent_hangup", now)

    def on_handoff_failed(self, now: float, reason: str = "handoff_failed") -> None:
        self._dispatch("handoff_failed", now, reason)

    def _dispatch(self, event: str, now: float, *args: str) -> None:
        table = TRANSITIONS[self.state]
        if event not in table:
            raise IvrError(f"IVR event {event!r} in state {self.state!r} "
                           f"(flow {self.flow.name!r}, node {self.node.name!r})")
        handler = table[event]
        if handler is not None:
            getattr(self, handler)(now, *args)

    # -- walking the flow --------------------------------------------------------------
    def _enter(self, name: str, now: float, typeahead: str | None = None) -> None:
        while True:
            if len(self.trail) >= self.max_steps:
                self._hang_up("ivr_loop")
                return
            node = self.node = self.flow.nodes[name]
            self.trail.append(name)
            self._attempts, self._digits, self._deadline = 0, "", None
            if isinstance(node, BranchCallerNode):
                name = node.target(self.caller.category)
            elif isinstance(node, HoursNode):
                name = self._hours_target(node, now)
            else:
                break
        if typeahead is not None and isinstance(node, MenuNode | CollectNode):
            # A key pressed during the greeting already answers this menu: elders in an
            # emergency press 1 at once, they must not hear the whole menu first.
            self.state = WAITING
            self._digit_waiting(now, typeahead)
            return
        default = isinstance(node, CollectNode | SurveyNode)  # the others have their own flag or none
        self._play(getattr(node, "prompt", ()), getattr(node, "interruptible", default), now)

    def _hours_target(self, node: HoursNode, now: float) -> str:
        calendar = self.flow.calendar
        if calendar is None:  # flows.py refuses this; a Flow built by hand might not
            raise IvrError(f"hours node {node.name!r} in flow {self.flow.name!r} has no calendar")
        if node.holiday and calendar.is_holiday(now):
            return node.holiday
        return node.open if calendar.is_open(now) else node.closed

    def _play(self, prompts: tuple[str, ...], interruptible: bool, now: float) -> None:
        self._queue = deque(prompts)
        self._interruptible = interruptible
        if not self._queue:
            self._prompts_finished(now)
            return
        self.state = PLAYING
        self._out.append(Play(self._queue[0], interruptible))

    def _prompt_done(self, now: float) -> None:
        self._queue.popleft()
        if self._queue:
            self._out.append(Play(self._queue[0], self._interruptible))
        else:
            self._prompts_finished(now)

    def _prompts_finished(self, now: float) -> None:
        node = self.node
        if isinstance(node, PlayNode):
            self._enter(node.next, now)
        elif isinstance(node, MenuNode | SurveyNode | CollectNode):
            self.state = WAITING
            self._deadline = now + node.timeout
            if isinstance(node, CollectNode):
                self._out.append(CollectDigits(node.max_digits, node.timeout, node.terminator))
            else:
                self._out.append(CollectDigits(1, node.timeout))
        elif isinstance(node, MessageNode):
            self.state = RECORDING
            self._record_started = now
            self._deadline = now + node.max_seconds
            self._out.append(RecordMessage(node.max_seconds, node.beep, node.case_kind))
        elif isinstance(node, QueueNode):
            self.state = HANDED_OFF
            bonus = self.flow.category_priority.get(self.caller.category, 0)
            self._out.append(ToQueue(node.queue, node.priority + bonus))
        elif isinstance(node, TransferNode):
            self.state = HANDED_OFF
            self._out.append(Transfer(node.number))
        elif isinstance(node, HangupNode):
            self._hang_up(node.reason)
        else:  # pragma: no cover - NODE_CLASSES and this chain are kept in step
            raise IvrError(f"node type {node.type!r} has no behaviour")

    def _hang_up(self, reason: str) -> None:
        self.state, self.end_reason, self._deadline = FINISHED, reason, None
        self._out.append(Hangup(reason))

    # -- keys ------------------------------------------------------------------------------
    def _is_agent_key(self, digit: str) -> bool:
        return self.flow.agent_key == digit and self.flow.agent_node is not None

    def _digit_playing(self, now: float, digit: str) -> None:
        node = self.node
        if not self._interruptible or not isinstance(node, PlayNode | MenuNode | CollectNode | SurveyNode):
            return  # announcements before a hand-over, goodbyes, notices: heard in full
        self._out.append(StopPlay())
        self._queue.clear()
        if isinstance(node, PlayNode):
            if self._is_agent_key(digit):
                self._enter(self.flow.agent_node or "", now)
            else:
                self._enter(node.next, now, typeahead=digit)
            return
        self.state = WAITING
        self._digit_waiting(now, digit)

    def _digit_waiting(self, now: float, digit: str) -> None:
        node = self.node
        if isinstance(node, MenuNode):
            if digit in node.options:
                self._enter(node.options[digit], now)
            elif self._is_agent_key(digit):
                self._enter(self.flow.agent_node or "", now)
            else:
                self._retry(now, invalid=True)
        elif isinstance(node, SurveyNode):
            if digit not in node.choices:
                self._retry(now, invalid=True)
                return
            self.survey = SurveyResult(int(digit), node.choices[digit])
            self._out.append(self.survey)
            if node.next:
                self._enter(node.next, now)
            else:
                self._hang_up("survey")
        elif isinstance(node, CollectNode):
            # Every key is input here (a member number may hold a 0): no agent key.
            if digit == node.terminator:
                self._finish_collect(now)
                return
            self._digits += digit
            if len(self._digits) >= node.max_digits:
                self._finish_collect(now)
            else:
                self._deadline = now + node.inter_digit_timeout

    def _finish_collect(self, now: float) -> None:
        node = self.node
        assert isinstance(node, CollectNode)
        if node.min_digits <= len(self._digits) <= node.max_digits:
            self.variables[node.into] = self._digits
            self._out.append(DigitsCollected(node.into, self._digits))
            self._enter(node.next, now)
        else:
            self._retry(now, invalid=True)

    def _input_timeout(self, now: float) -> None:
        if isinstance(self.node, CollectNode) and self._digits:
            self._finish_collect(now)  # the inter-digit pause ends the entry
        else:
            self._retry(now, invalid=False)

    def _retry(self, now: float, invalid: bool) -> None:
        node = self.node
        assert isinstance(node, MenuNode | CollectNode | SurveyNode)
        self._attempts += 1
        self._digits, self._deadline = "", None
        if self._attempts > node.retries:
            target = node.timeout_next
            if isinstance(node, MenuNode | CollectNode) and invalid:
                target = node.invalid_next
            if target:
                self._enter(target, now)
            else:
                self._hang_up("invalid_input" if invalid else "no_input")
            return
        extra = node.invalid_prompt if invalid else node.timeout_prompt
        interruptible = node.interruptible if isinstance(node, MenuNode) else True
        self._play(((extra,) if extra else ()) + node.prompt, interruptible, now)

    # -- messages -------------------------------------------------------------------
    def _digit_recording(self, now: float, digit: str) -> None:
        node = self.node
        if isinstance(node, MessageNode) and digit == node.finish_key:
            self._stop_recording(now)

    def _stop_recording(self, now: float) -> None:
        self.state, self._deadline = SAVING, None
        self._out.append(StopRecording())

    def _gone_recording(self, now: float) -> None:
        # Hanging up is how most people end a message: it is kept and still opens a case.
        self._hung_up = True
        self._stop_recording(now)

    def _gone_saving(self, now: float) -> None:
        self._hung_up = True

    def _recorded(self, now: float, path: str) -> None:
        node = self.node
        assert isinstance(node, MessageNode)
        self._deadline = None
        self._out.append(CreateCase(
            kind=node.case_kind, caller=self.caller.number, category=self.caller.category,
            elder_id=self.caller.elder_id, recording=path,
            duration=round(max(0.0, now - self._record_started), 3),
            flow=self.flow.name, node=node.name, at=now))
        if self._hung_up:
            self.state, self.end_reason = FINISHED, "caller"
        else:
            self._enter(node.next, now)

    # -- hand-over and hang-up ---------------------------------------------------------
    def _agent_hangup(self, now: float) -> None:
        node = self.node
        after = getattr(node, "after_agent", None)
        if after:
            self._enter(after, now)
        else:
            self._hang_up("completed")

    def _handoff_failed(self, now: float, reason: str) -> None:
        fallback = getattr(self.node, "fallback", None)
        if fallback:
            self._enter(fallback, now)
        else:
            self._hang_up(reason)

    def _caller_gone(self, now: float) -> None:
        self.state, self.end_reason, self._deadline = FINISHED, "caller", None
        self._queue.clear()
