"""Hook-flash features of one agent's analog phone during a call (拍叉簧功能), sans-I/O.

坐席使用说明 (the agents' guide)
================================

(号码与时间为默认值, 以本中心配置为准。 Numbers and times are the defaults; the box's
configuration may change them.)

通话中 (talking with the caller):

- 拍叉簧 → 主叫被保持 (听放松音乐), 您听到拨号音, 可以拨号。
  Flash: the caller is put on hold (with music) and you hear dial tone.
- 拨号: 分机号; 外线先拨 9 再拨号码; 队列代码 (例如 600)。按 # 立即呼出, 否则停按
  4 秒后自动呼出; 分机号/队列代码拨完即呼出。10 秒内不拨号 → 自动回到主叫。
  Dial an extension, 9 + an outside number, or a queue code. # dials at once, otherwise
  4 s after the last key; a complete extension or queue code dials at once (unless a
  longer one starts with it). No key within 10 s: back to the caller.
- 号码无效 → 拥塞音; 对方忙 → 忙音; 无人接听 (30 秒) 或无法接通 → 拥塞音。3 秒后自动
  回到主叫 (或立即拍叉簧回到主叫)。
  Invalid number: congestion; busy: busy tone; no answer (30 s) or unreachable:
  congestion. After 3 s you are back with the caller (flash to go back at once).

第三方振铃时 (the third party is ringing):

- 拍叉簧 → 取消呼叫, 回到主叫。 Flash: cancel, back to the caller.
- 挂机 → 盲转: 主叫转给正在振铃的一方。 Hang up: blind transfer to the ringing party.

与第三方通话时 (consulting; the caller still on hold):

- 拍叉簧 → 三方通话 (三人互相听到)。 Flash: three-way call, all three hear each other.
- 挂机 → 咨询转接: 主叫与第三方接通, 您退出。 Hang up: attended transfer.
- 第三方挂机 → 您自动回到主叫。 The third party hangs up: you are back with the caller.
  (不想让主叫听到第三方时, 请第三方先挂机。 To go back without a three-way call, ask
  the third party to hang up.)

三方通话中 (three-way):

- 拍叉簧 → 第三方退出, 回到与主叫的双方通话。 Flash: drops the third party.
- 挂机 → 主叫与第三方继续通话 (转接), 您退出。 Hang up: the caller and the third party
  stay connected (a transfer); you leave.

主叫保持中您挂机 (you hang up while the caller is on hold and nobody else is on the
line — dialling, or after a failed call): 主叫不会被挂断, 话机会重新振铃 ("您有保持的
来电"); 摘机即回到主叫。30 秒内不摘机, 主叫回到队列, 由其他坐席接听。
The caller is never dropped: your phone rings again; lift it to be back with the caller.
Not answered within 30 s, the caller goes back to the queue.

主叫在保持中挂机 (the held caller hangs up): 您与第三方的呼叫不受影响 — 振铃中的继续
振铃, 接通后成为普通通话; 通话中的直接变为您与第三方的普通通话; 拨号中的照常拨号。
此后拍叉簧 = 重新拨号, 挂机 = 结束。
Whatever you started with the third party goes on as your own call: a ringing call
keeps ringing and is a normal call when answered, a consult becomes a normal two-party
call, dialling goes on. With nobody left on hold, flash starts over with dial tone and
hanging up ends the call.

The machine
===========

One `PhoneFeatures` per agent phone per call, created when the call is bridged to the
phone (state TALKING), ending in IDLE (the phone is out of the call; ReleaseAgent is
emitted exactly once, on the way there). The shell feeds events (``flash(now)``,
``digit(d, now)``, ``on_hook(now)``, ``off_hook(now)`` for a recall, the consult's
``consult_answered`` / ``consult_failed(reason)`` / ``consult_hung_up``,
``caller_hung_up``, ``timer(now)`` when ``get_timer()`` is due); each returns the
actions to carry out, in order. Time is the shell's ``now`` (seconds); nothing here
reads a clock or touches audio.

States: TALKING, HELD_DIALLING (caller held, dial tone, collecting digits), DIAL_FAILED
(caller held, busy/congestion tone), CONSULT_RINGING, CONSULTING (caller held), THREE_WAY,
RECALLING (the phone re-rings for the held caller), IDLE.

Contract with the shell:

- "The caller" is the party this phone talks to. After ``PromoteConsult`` that is the
  former third party (the original caller hung up): its hang-up is then reported as
  ``caller_hung_up``, and HoldCaller/ResumeCaller apply to it.
- Every tone on the agent's phone comes as ``PlayTone`` ("none" stops it); when none
  plays the phone hears the call's audio.
- After CancelConsult / DropConsult the shell clears that leg itself; a late report of it
  (answered, failed, hung up) is ignored here.
- After TransferBlind the caller waits for the target (e.g. ringback); if the target
  fails it is the shell's (the ACD's) to requeue the caller — this phone is out.
- A recall (RecallAgent) rings the phone with the caller's number; ReleaseAgent stops any
  ringing. RequeueCaller hands the held caller back to the ACD.
- An event the state cannot take (a flash while the phone is on hook, a consult answering
  twice) raises PhoneFeatureError naming the state and the event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

IDLE = "idle"
TALKING = "talking"
HELD_DIALLING = "held_dialling"
DIAL_FAILED = "dial_failed"
CONSULT_RINGING = "consult_ringing"
CONSULTING = "consulting"
THREE_WAY = "three_way"
RECALLING = "recalling"
STATES: Final = (IDLE, TALKING, HELD_DIALLING, DIAL_FAILED, CONSULT_RINGING, CONSULTING, THREE_WAY,
                 RECALLING)
EVENTS: Final = ("flash", "digit", "on_hook", "off_hook", "consult_answered", "consult_failed",
                 "consult_hung_up", "caller_hung_up", "timer")

KEYS: Final = frozenset("0123456789*#")
CONSULT_FAILURES: Final = ("busy", "no_answer", "unreachable")
# The tone the agent hears when the consult could not be had ('invalid': not a number).
FAILURE_TONES: Final = MappingProxyType({"busy": "busy", "no_answer": "congestion",
                                         "unreachable": "congestion", "invalid": "congestion"})
# Queue-log kinds (appliance/acd/events.py has TRANSFERRED; THREE_WAY is new).
TRANSFERRED: Final = "transferred"
THREE_WAY_LOG: Final = "three_way"
_DIGITS: Final = frozenset("0123456789")
_TIME_SLACK: Final = 1e-6  # a deadline computed from float `now`s may be a few ULPs late


class PhoneFeatureError(RuntimeError):
    """The shell misused the machine: an event the current state cannot take."""


class NumberingPlanError(ValueError):
    """A numbering plan that cannot work (clashing codes); the message says which."""


# -- the numbering plan --------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """What a dialled string reaches: KIND 'extension' | 'outside' | 'queue'.

    NUMBER: the extension, the outside number without the prefix, or the queue code;
    QUEUE: the queue's name for a queue code.
    """

    kind: str
    number: str
    queue: str | None = None


@dataclass(frozen=True)
class NumberingPlan:
    """Which strings an agent may dial after a flash.

    EXTENSIONS: the box's desk phones; OUTSIDE_PREFIX (None: no outside calls) then
    OUTSIDE_DIGITS (min, max) digits for an outside number; QUEUE_CODES: code → queue.
    Extensions and queue codes must not start with the outside prefix, or "9" would
    never be known to mean "outside".
    """

    extensions: frozenset[str] = frozenset()
    outside_prefix: str | None = "9"
    queue_codes: Mapping[str, str] = field(default_factory=dict)
    outside_digits: tuple[int, int] = (3, 20)

    def __post_init__(self) -> None:
        extensions = frozenset(self.extensions)
        codes = MappingProxyType(dict(self.queue_codes))
        for number in extensions:
            if not number or not set(number) <= _DIGITS:
                raise NumberingPlanError(f"extension {number!r}: digits only")
        for code, queue in codes.items():
            if not code or not set(code) <= _DIGITS | {"*"}:
                raise NumberingPlanError(f"queue code {code!r}: digits (and *) only")
            if not queue:
                raise NumberingPlanError(f"queue code {code!r} names no queue")
        if clash := extensions & codes.keys():
            raise NumberingPlanError(f"{', '.join(sorted(clash))}: both an extension and a queue code")
        prefix = self.outside_prefix
        if prefix is not None:
            if not prefix or not set(prefix) <= _DIGITS:
                raise NumberingPlanError(f"outside prefix {prefix!r}: digits only "
                                         "(None for no outside calls)")
            if clash := sorted(n for n in extensions | codes.keys() if n.startswith(prefix)):
                raise NumberingPlanError(f"{', '.join(clash)} start with the outside prefix {prefix!r}")
        low, high = self.outside_digits
        if not 1 <= low <= high:
            raise NumberingPlanError(f"outside number length {low}…{high}")
        object.__setattr__(self, "extensions", extensions)
        object.__setattr__(self, "queue_codes", codes)

    def _inside(self) -> Iterable[str]:
        yield from self.extensions
        yield from self.queue_codes

    def _outside_rest(self, digits: str) -> str | None:
        """DIGITS after the outside prefix, None if they do not start with it."""
        prefix = self.outside_prefix
        if prefix is None or not digits.startswith(prefix):
            return None
        return digits[len(prefix):]

    def classify(self, digits: str) -> Target | None:
        """What DIGITS (without the #) reach, None for no number of the plan."""
        if digits in self.extensions:
            return Target("extension", digits)
        if digits in self.queue_codes:
            return Target("queue", digits, self.queue_codes[digits])
        rest = self._outside_rest(digits)
        low, high = self.outside_digits
        if rest is not None and set(rest) <= _DIGITS and low <= len(rest) <= high:
            return Target("outside", rest)
        return None

    def possible(self, digits: str) -> bool:
        """Some number of the plan starts with DIGITS (more keys may still make one)."""
        if any(number.startswith(digits) for number in self._inside()):
            return True
        prefix = self.outside_prefix
        if prefix is None:
            return False
        rest = self._outside_rest(digits)
        if rest is None:
            return prefix.startswith(digits)
        return set(rest) <= _DIGITS and len(rest) <= self.outside_digits[1]

    def complete(self, digits: str) -> bool:
        """DIGITS reach a number and no further key could reach another: dial now."""
        if self.classify(digits) is None:
            return False
        rest = self._outside_rest(digits)
        if rest is not None:
            return len(rest) == self.outside_digits[1]
        return not any(number != digits and number.startswith(digits) for number in self._inside())


@dataclass(frozen=True)
class FeatureTimeouts:
    """Seconds: before the first key, between keys, of a failure tone, of a consult's
    ringing, of a recall's ringing."""

    first_digit: float = 10.0
    inter_digit: float = 4.0
    failure_tone: float = 3.0
    consult_ring: float = 30.0
    recall: float = 30.0


# -- actions ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Action:
    """Base of what the machine asks the shell to do."""


@dataclass(frozen=True)
class HoldCaller(Action):
    """Put the caller on hold: music, and the agent no longer hears them."""


@dataclass(frozen=True)
class ResumeCaller(Action):
    """Take the caller off hold: agent and caller talk."""


@dataclass(frozen=True)
class PlayTone(Action):
    """KIND on the agent's phone: 'dial' | 'ringback' | 'busy' | 'congestion' | 'none' (stop)."""

    kind: str


@dataclass(frozen=True)
class DialTarget(Action):
    """Call the third party (the consult): NUMBER of KIND (queue code: QUEUE is its name)."""

    number: str
    kind: str
    queue: str | None = None

    @property
    def target(self) -> Target:
        return Target(self.kind, self.number, self.queue)


@dataclass(frozen=True)
class CancelConsult(Action):
    """Stop the consult call that is still ringing (or failed to answer in time)."""


@dataclass(frozen=True)
class ConnectConsult(Action):
    """The consult answered: the agent talks to it (the caller stays on hold)."""


@dataclass(frozen=True)
class DropConsult(Action):
    """Hang up the answered third party; agent and caller talk on."""


@dataclass(frozen=True)
class JoinThreeWay(Action):
    """Caller off hold into the room with agent and third party: all hear all."""


@dataclass(frozen=True)
class PromoteConsult(Action):
    """The caller has gone: the third party is now this phone's party ("the caller")."""


@dataclass(frozen=True)
class TransferBlind(Action):
    """Hand the caller to TARGET, still ringing; the agent is out."""

    target: Target


@dataclass(frozen=True)
class TransferAttended(Action):
    """Connect the caller and the third party (off hold); the agent is out."""


@dataclass(frozen=True)
class RecallAgent(Action):
    """Ring the agent's phone again for the held caller (it was put down)."""


@dataclass(frozen=True)
class RequeueCaller(Action):
    """Give the held caller back to the ACD (nobody picked up the recall)."""

    reason: str


@dataclass(frozen=True)
class ReleaseAgent(Action):
    """The phone is out of the call (REASON: agent_hung_up, caller_hung_up, transferred,
    recall_timeout); unbridge it, stop any ringing, tell the ACD."""

    reason: str


@dataclass(frozen=True)
class LogEvent(Action):
    """For the queue log: KIND 'transferred' (data: kind blind/attended, to, target, talk_s)
    or 'three_way' (data: with, target), AT epoch seconds."""

    kind: str
    at: float
    data: dict[str, Any] = field(default_factory=dict)


# -- the machine ------------------------------------------------------------------------------------
IGNORE: Final = None

# TRANSITIONS[state][event] → handler; IGNORE: taken and dropped (late reports, keys while
# talking); absent: PhoneFeatureError.
TRANSITIONS: Final[dict[str, dict[str, str | None]]] = {
    TALKING: {"flash": "_hold_and_dial", "digit": IGNORE, "on_hook": "_agent_leaves",
              "consult_answered": IGNORE, "consult_failed": IGNORE, "consult_hung_up": IGNORE,
              "caller_hung_up": "_caller_gone_talking", "timer": IGNORE},
    HELD_DIALLING: {"flash": "_back_to_caller", "digit": "_collect", "on_hook": "_hang_up_held",
                    "consult_answered": IGNORE, "consult_failed": IGNORE, "consult_hung_up": IGNORE,
                    "caller_hung_up": "_caller_gone_held", "timer": "_dial_timeout"},
    DIAL_FAILED: {"flash": "_back_to_caller", "digit": IGNORE, "on_hook": "_hang_up_held",
                  "consult_answered": IGNORE, "consult_failed": IGNORE, "consult_hung_up": IGNORE,
                  "caller_hung_up": "_caller_gone_held", "timer": "_failure_over"},
    # A ringing party cannot hang up: the shell reports consult_failed instead.
    CONSULT_RINGING: {"flash": "_cancel_consult", "digit": IGNORE, "on_hook": "_transfer_blind",
                      "consult_answered": "_consult_answered", "consult_failed": "_consult_failed",
                      "caller_hung_up": "_caller_gone_held", "timer": "_ring_timeout"},
    CONSULTING: {"flash": "_join_three_way", "digit": IGNORE, "on_hook": "_transfer_attended",
                 "consult_hung_up": "_consult_gone", "caller_hung_up": "_promote", "timer": IGNORE},
    THREE_WAY: {"flash": "_drop_third", "digit": IGNORE, "on_hook": "_transfer_attended",
                "consult_hung_up": "_third_gone", "caller_hung_up": "_promote", "timer": IGNORE},
    # The phone is on hook: no flash, keys or second on-hook from it.
    RECALLING: {"off_hook": "_answer_recall", "consult_answered": IGNORE, "consult_failed": IGNORE,
                "consult_hung_up": IGNORE, "caller_hung_up": "_caller_gone_recall",
                "timer": "_recall_timeout"},
    IDLE: dict.fromkeys(EVENTS, IGNORE),  # the call is over for this phone: late reports
}


class PhoneFeatures:
    """One agent phone's features during one call; starts TALKING at NOW (the bridge)."""

    def __init__(self, plan: NumberingPlan, now: float, *, own_extension: str | None = None,
                 timeouts: FeatureTimeouts | None = None) -> None:
        self.plan = plan
        self.own_extension = own_extension
        self.timeouts = timeouts or FeatureTimeouts()
        self.started_at = now
        self.state = TALKING
        self.caller_present = True   # False once the held caller hung up
        self.digits = ""              # collected since the flash
        self.target: Target | None = None  # the third party dialled, while there is one
        self._deadline: float | None = None
        self._out: list[Action] = []

    # -- views -------------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self.state == IDLE

    @property
    def caller_held(self) -> bool:
        """The caller is on hold (hears music) in this state."""
        return self.caller_present and self.state in (HELD_DIALLING, DIAL_FAILED, CONSULT_RINGING,
                                                      CONSULTING, RECALLING)

    def get_timer(self) -> float | None:
        """When ``timer(now)`` is due next, None for no timer."""
        return self._deadline

    # -- events --------------------------------------------------------------------------------
    def flash(self, now: float) -> list[Action]:
        return self._handle("flash", now)

    def digit(self, digit: str, now: float) -> list[Action]:
        if digit not in KEYS:
            raise PhoneFeatureError(f"key {digit!r} is not one of {''.join(sorted(KEYS))}")
        return self._handle("digit", now, digit)

    def on_hook(self, now: float) -> list[Action]:
        return self._handle("on_hook", now)

    def off_hook(self, now: float) -> list[Action]:
        return self._handle("off_hook", now)

    def consult_answered(self, now: float) -> list[Action]:
        return self._handle("consult_answered", now)

    def consult_failed(self, reason: str, now: float) -> list[Action]:
        """The consult could not be had: REASON 'busy' | 'no_answer' | 'unreachable'."""
        if reason not in CONSULT_FAILURES:
            raise PhoneFeatureError(f"consult failure {reason!r}: busy, no_answer or unreachable")
        return self._handle("consult_failed", now, reason)

    def consult_hung_up(self, now: float) -> list[Action]:
        return self._handle("consult_hung_up", now)

    def caller_hung_up(self, now: float) -> list[Action]:
        return self._handle("caller_hung_up", now)

    def timer(self, now: float) -> list[Action]:
        """The deadline of get_timer() passed (an early or stale call does nothing)."""
        if self._deadline is None or now < self._deadline - _TIME_SLACK:
            return []
        return self._handle("timer", now)

    def _handle(self, event: str, now: float, *args: str) -> list[Action]:
        table = TRANSITIONS[self.state]
        if event not in table:
            raise PhoneFeatureError(f"phone feature event {event!r} in state {self.state!r}")
        handler = table[event]
        if handler is not None:
            getattr(self, handler)(now, *args)
        out, self._out = self._out, []
        return out

    # -- helpers ---------------------------------------------------------------------------------
    def _emit(self, *actions: Action) -> None:
        self._out.extend(actions)

    def _enter(self, state: str, deadline: float | None = None) -> None:
        self.state, self._deadline = state, deadline

    def _start_dialling(self, now: float) -> None:
        self.digits, self.target = "", None
        self._emit(PlayTone("dial"))
        self._enter(HELD_DIALLING, now + self.timeouts.first_digit)

    def _fail(self, tone: str, now: float) -> None:
        """A tone says why; with a caller on hold it ends on its own, back to them."""
        self.target = None
        self._emit(PlayTone(tone))
        self._enter(DIAL_FAILED, now + self.timeouts.failure_tone if self.caller_present else None)

    def _resume(self) -> None:
        self.digits, self.target = "", None
        self._emit(PlayTone("none"), ResumeCaller())
        self._enter(TALKING)

    def _release(self, reason: str) -> None:
        self.target = None
        self._emit(ReleaseAgent(reason))
        self._enter(IDLE)

    def _log_transfer(self, kind: str, target: Target, now: float) -> None:
        data: dict[str, Any] = {"kind": kind, "to": target.number, "target": target.kind,
                                "talk_s": round(now - self.started_at, 3)}
        if target.queue is not None:
            data["queue"] = target.queue
        self._emit(LogEvent(TRANSFERRED, now, data))

    def _dial(self, now: float) -> None:
        target = self.plan.classify(self.digits)
        if target is None or (target.kind == "extension" and target.number == self.own_extension):
            self._fail(FAILURE_TONES["invalid"], now)
            return
        self.target = target
        self._emit(DialTarget(target.number, target.kind, target.queue), PlayTone("ringback"))
        self._enter(CONSULT_RINGING, now + self.timeouts.consult_ring)

    # -- handlers (named in TRANSITIONS) ---------------------------------------------------------
    def _hold_and_dial(self, now: float) -> None:
        self._emit(HoldCaller())
        self._start_dialling(now)

    def _agent_leaves(self, now: float) -> None:
        self._release("agent_hung_up")

    def _caller_gone_talking(self, now: float) -> None:
        self._emit(PlayTone("busy"))  # until the agent puts the phone down
        self._release("caller_hung_up")

    def _back_to_caller(self, now: float) -> None:
        if self.caller_present:
            self._resume()
        else:
            self._start_dialling(now)

    def _collect(self, now: float, digit: str) -> None:
        if not self.digits:
            self._emit(PlayTone("none"))  # dial tone stops at the first key
        if digit == "#":
            self._dial(now)
            return
        self.digits += digit
        if not self.plan.possible(self.digits):
            self._fail(FAILURE_TONES["invalid"], now)  # no number starts so: say so at once
        elif self.plan.complete(self.digits):
            self._dial(now)
        else:
            self._enter(HELD_DIALLING, now + self.timeouts.inter_digit)

    def _dial_timeout(self, now: float) -> None:
        if self.digits:
            self._dial(now)
        elif self.caller_present:
            self._resume()  # the agent forgot: the caller must not wait in the music
        else:
            self._fail("busy", now)

    def _failure_over(self, now: float) -> None:
        self._resume()  # the deadline is only set with a caller on hold

    def _hang_up_held(self, now: float) -> None:
        if self.caller_present:
            self.digits = ""
            self._emit(PlayTone("none"), RecallAgent())
            self._enter(RECALLING, now + self.timeouts.recall)
        else:
            self._release("agent_hung_up")

    def _caller_gone_held(self, now: float) -> None:
        if not self.caller_present:
            return
        self.caller_present = False
        if self.state == DIAL_FAILED:
            self._deadline = None  # nobody to go back to: the tone stays until flash or on-hook

    def _cancel_consult(self, now: float) -> None:
        self._emit(CancelConsult())
        self._back_to_caller(now)

    def _transfer_blind(self, now: float) -> None:
        target = self.target
        assert target is not None
        if self.caller_present:
            self._emit(TransferBlind(target))
            self._log_transfer("blind", target, now)
            self._release("transferred")
        else:
            self._emit(CancelConsult())
            self._release("agent_hung_up")

    def _consult_answered(self, now: float) -> None:
        self._emit(PlayTone("none"), ConnectConsult())
        if self.caller_present:
            self._enter(CONSULTING)
        else:
            self._emit(PromoteConsult())
            self.caller_present, self.target = True, None
            self._enter(TALKING)

    def _consult_failed(self, now: float, reason: str) -> None:
        self._fail(FAILURE_TONES[reason], now)

    def _ring_timeout(self, now: float) -> None:
        self._emit(CancelConsult())
        self._fail(FAILURE_TONES["no_answer"], now)

    def _join_three_way(self, now: float) -> None:
        target = self.target
        assert target is not None
        self._emit(JoinThreeWay(),
                   LogEvent(THREE_WAY_LOG, now, {"with": target.number, "target": target.kind}))
        self._enter(THREE_WAY)

    def _transfer_attended(self, now: float) -> None:
        target = self.target
        assert target is not None
        self._emit(TransferAttended())
        self._log_transfer("attended", target, now)
        self._release("transferred")

    def _consult_gone(self, now: float) -> None:
        self.target = None
        self._emit(ResumeCaller())
        self._enter(TALKING)

    def _drop_third(self, now: float) -> None:
        self.target = None
        self._emit(DropConsult())
        self._enter(TALKING)

    def _third_gone(self, now: float) -> None:
        self.target = None  # the room is two-party again by itself
        self._enter(TALKING)

    def _promote(self, now: float) -> None:
        self.target = None
        self._emit(PromoteConsult())
        self._enter(TALKING)

    def _answer_recall(self, now: float) -> None:
        self._emit(ResumeCaller())
        self._enter(TALKING)

    def _caller_gone_recall(self, now: float) -> None:
        self._release("caller_hung_up")

    def _recall_timeout(self, now: float) -> None:
        self._emit(RequeueCaller("recall_timeout"))
        self._release("recall_timeout")
