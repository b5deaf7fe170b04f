"""A busy hour through the real pbxd: Poisson callers on a simulated E1, agents on simulated phones.

The load generator a technician runs to accept a box, and the e2e test and bench run:
calls arrive on one span as a Poisson stream of rate λ, each caller hangs up after an
exponential patience (mean θ⁻¹) unless an agent has answered by then, N agents' phones
answer the box's ring after a fixed ``ring_delay`` and hang up after an exponential talk
of mean ``aht``. Afterwards box.db's ``queue_log`` — the box's own record — gives the
service level, ASA and abandon rate (``appliance.acd.metrics`` through
``appliance.acd.busy_hour.measure``, batch means), set against Erlang A (Erlang C when
``patience`` is infinite) for the same λ, AHT, N and θ.

**What drives what.** The carrier (``TelcoSim``) and the N phones (``Handset``) run *in
this process*, on one asyncio loop, driven through their own command interfaces (a
command line into their queue) and read through their own JSON event lines; pbxd runs as
the daemon it is on a box (``python -m appliance.cli pbxd``), in a process of its own.
In-process because the callers' and agents' decisions (hang up now, lift now) are then
taken on one clock, in one order, milliseconds after the event they answer — with N + 1
tool processes their events would come over pipes and reader threads, and on a 2-core
machine N + 2 Python processes would compete with pbxd for the CPU whose delays are
being measured. The core (``BusyHourScript``) only sees the tools' JSON events, so the
same script could drive the ``anxin-sim`` processes.

**Knowing "answered".** Call *k* carries its own calling number (``139`` + *k*, 8 digits).
The box rings a phone with that number as caller ID (cid, then ring); the agent of that
phone lifts ``ring_delay`` later unless the ring stopped, and from then on the caller
counts as answered and will not hang up. Because the decision to lift and the decision to
hang up are taken in this one loop, a call gets exactly one of them: a caller whose
patience ends first hangs up and the pending lift is dropped (the box then stops the ring);
an agent who lifts first cancels the caller's patience. The box's own log decides every
figure; the generator's view is only used to count what went wrong.

**The ring delay, precisely.** The agent's phone is taken from the box's offer (the ring)
until it is put down, so the model's handle time is ``ring + aht`` (no wrap-up: the
queue's is 0) and λ·(ring + aht) is the offered traffic. The log's ``wait_s`` runs from
joining the queue to the lift (``connected``), so it holds the ring too: the model's wait
(join → an agent is seized) is shifted by the ring (``busy_hour.predict`` does both). The
ring used in the prediction is the mean ``ring_s`` the box logged (the planned delay plus
the few milliseconds the ring and the hook take over the sockets). A caller may still hang
up while the phone rings — Erlang A would have them served then — and the ring is a
constant part of the handle time: the prediction is an approximation there. Its size for
this plan is measured, not guessed: the same plan, as many calls long, is replayed
``runs`` times on the engine-level simulation (``busy_hour.simulate``, which models the
ring exactly), and the mean of those replays minus the Erlang figure is the model's bias.

**Two comparisons, one tolerance rule.** (1) Against Erlang at the plan's λ and AHT, what
a planner predicts: σ = max(batch-means s.e. of the run, s.d. of (figure − Erlang) over
the replays of the same length). (2) "As offered": Erlang at the λ̂ (calls that joined in
the window ÷ its length) and the mean talk the box logged — the hour that came, which a
short run's luck moves well away from the plan; σ = s.d. over the replays of (figure −
their own as-offered Erlang). Either way a figure agrees when |measured − Erlang| ≤ k·σ +
|bias|, the bias being the replays' mean difference. The replays guard against batch
means that underestimate: at 80–90 % load the queue's memory is tens of seconds, as long
as a batch of a short run. Patience is counted from the box's answer (CONNECT), when the
caller starts to hear ringback in the queue.

    plan = LoadPlan.at_load("Erlang A", agents=4, load=0.9, aht=2.0, patience=4.0, duration=110)
    run = run_busy_hour(plan)          # its own box: box.toml, pbxd, telco, phones
    print(run.table())
    run.agrees("service_level")

``python -m provisioning.busy_hour --help`` runs one from the command line; with
``--span-dir/--port/--db`` it drives a box that is already running (its flow must send
calls straight to a queue without wrap-up, or the waits measured are not the queue's).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import io
import json
import math
import random
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from appliance.acd import events as ev
from appliance.acd.busy_hour import (
    RING_TIMEOUT,
    BusyHourError,
    BusyHourLog,
    BusyHourResult,
    Measured,
    Prediction,
    Scenario,
    measure,
    predict,
    simulate,
)
from appliance.acd.erlang import ErlangError
from appliance.acd.events import QueueEvent
from appliance.pbx.queue_log import load_events

MAX_AGENTS = 30              # an E1 carries 30 calls: more agents than channels is no busy hour
FIGURES = ("service_level", "asa", "abandon_rate")
ALL_FIGURES = ("service_level", "asa", "abandon_rate", "p_wait", "occupancy")
NUMBER_PREFIX = "139"        # call k calls from 139 + k in 8 digits: its caller ID on the phone


class BusyHourLoadError(ValueError):
    """A bad plan or a box that would not come up: says which field or what failed."""


# --- the plan ---------------------------------------------------------------------------------


def _positive(name: str, value: object, *, zero: bool = False, infinite: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise BusyHourLoadError(f"{name}: must be a number, got {value!r}")
    if math.isinf(value) and not (infinite and value > 0):
        raise BusyHourLoadError(f"{name}: must be finite, got {value!r}")
    if value < 0 or (value == 0 and not zero):
        raise BusyHourLoadError(f"{name}: must be {'≥' if zero else '>'} 0, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class LoadPlan:
    """One busy hour: N agents, λ calls a second, talk and patience exponential."""

    name: str
    agents: int
    rate: float                     # λ, calls per second
    aht: float                      # mean talk, seconds: lift → put down (exponential)
    patience: float = math.inf      # mean, seconds from the box's answer; inf: nobody hangs up
    ring_delay: float = 0.1         # the agent lifts this long after the ring starts
    target: float = 2.0             # service-level target, seconds of wait (ring included)
    duration: float = 120.0         # seconds during which calls arrive
    warmup: float = 15.0            # seconds at the start left out of the figures
    batches: int = 10               # for the batch-means standard errors
    seed: int = 1
    runs: int = 60                  # engine-level replays of the same length (σ and bias)
    called: str = "12349"           # the centre's number the carrier delivers
    drain_timeout: float = 60.0     # after the last arrival: every call must have ended by then
    startup_timeout: float = 30.0   # for the D-channel and every phone

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise BusyHourLoadError(f"name: must be a non-empty string, got {self.name!r}")
        if isinstance(self.agents, bool) or not isinstance(self.agents, int) \
                or not 1 <= self.agents <= MAX_AGENTS:
            raise BusyHourLoadError(f"agents: must be a whole number 1..{MAX_AGENTS}, got {self.agents!r}")
        for name in ("rate", "aht", "target", "duration", "drain_timeout", "startup_timeout"):
            _positive(name, getattr(self, name))
        _positive("patience", self.patience, infinite=True)
        _positive("warmup", self.warmup, zero=True)
        if not 0 <= _positive("ring_delay", self.ring_delay, zero=True) < RING_TIMEOUT:
            raise BusyHourLoadError(f"ring_delay: must be < the ring timeout ({RING_TIMEOUT:g} s), "
                                    f"got {self.ring_delay!r}")
        for name, low in (("batches", 2), ("seed", 0), ("runs", 2)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise BusyHourLoadError(f"{name}: must be a whole number ≥ {low}, got {value!r}")
        if self.warmup > self.duration / 2:
            raise BusyHourLoadError(f"warmup: {self.warmup:g} s is more than half of the "
                                    f"{self.duration:g} s of arrivals")
        if self.expected_calls < 20 * self.batches:
            raise BusyHourLoadError(f"duration: {self.expected_calls:.0f} calls expected, fewer than 20 a "
                                    f"batch ({self.batches} batches): lengthen it or use fewer batches")
        if math.isinf(self.patience) and self.traffic >= self.agents:
            raise BusyHourLoadError(f"rate: {self.traffic:.2f} Erlangs on {self.agents} agents with "
                                    "patience = inf: the queue grows without bound")
        if not self.called.isdigit():
            raise BusyHourLoadError(f"called: must be digits, got {self.called!r}")

    @classmethod
    def at_load(cls, name: str, agents: int, load: float, aht: float, **fields: Any) -> LoadPlan:
        """The plan whose agents are LOAD busy (traffic ÷ N, ring included): λ from it."""
        ring = fields.get("ring_delay", cls.ring_delay)
        return cls(name, agents, _positive("load", load) * agents / (aht + ring), aht, **fields)

    @property
    def handle(self) -> float:
        """Seconds a phone is taken per answered call, as planned: ring + talk."""
        return self.ring_delay + self.aht

    @property
    def traffic(self) -> float:
        return self.rate * self.handle

    @property
    def load(self) -> float:
        return self.traffic / self.agents

    @property
    def expected_calls(self) -> float:
        return self.rate * self.duration

    @property
    def model(self) -> str:
        return "Erlang C" if math.isinf(self.patience) else "Erlang A"


# --- the core: what callers and agents do (sans I/O) ----------------------------------------------


@dataclass(frozen=True)
class ToTelco:
    line: str


@dataclass(frozen=True)
class ToPhone:
    phone: int      # index into the ports
    line: str


Command = ToTelco | ToPhone

# A caller's states, in order.
PENDING, DIALLING, QUEUED, TALKING, AGENT_GONE, HANGING_UP, ENDED = (
    "pending", "dialling", "queued", "talking", "agent_gone", "hanging_up", "ended")
# A phone's.
IDLE, RINGING, OFF_HOOK, DEAD = "idle", "ringing", "off_hook", "dead"


@dataclass
class Caller:
    index: int
    id: str                      # the telco's call id
    number: str                  # calling number: the caller ID the agent's phone shows
    arrives: float               # seconds after the start
    patience: float
    talk: float
    state: str = PENDING
    placed_at: float | None = None
    answered_at: float | None = None   # the box answered: in the queue, hearing ringback
    deadline: float | None = None      # hangs up then unless an agent lifted
    lifted_at: float | None = None
    phone: int | None = None
    hung_up_at: float | None = None    # the caller gave up
    released_at: float | None = None
    cause: int | None = None


@dataclass
class Phone:
    index: int
    state: str = IDLE
    cid: str | None = None
    caller: Caller | None = None
    lift_at: float | None = None
    put_down_at: float | None = None
    connected: bool = False
    lifts: int = 0


class BusyHourScript:
    """The callers on one telco and the agents on N phones, sans I/O.

    ``start(now)``, then feed the tools' JSON events (``on_telco``, ``on_phone``) and
    ``on_timer(now)`` at ``next_timer()``; carry out ``actions()`` in order. ``now`` is
    any clock in seconds; the shell gives epoch seconds so that ``work_changes`` (when
    phones were taken) lines up with the box's queue log.
    """

    def __init__(self, plan: LoadPlan, phones: int) -> None:
        self.plan = plan
        # One stream per source of chance (as busy_hour.py): the same callers whatever N.
        arrivals = random.Random(f"{plan.seed}:arrivals")
        patience = random.Random(f"{plan.seed}:patience")
        talk = random.Random(f"{plan.seed}:talk")
        self.callers: list[Caller] = []
        at = arrivals.expovariate(plan.rate)
        while at < plan.duration:
            k = len(self.callers)
            wait = math.inf if math.isinf(plan.patience) else patience.expovariate(1 / plan.patience)
            self.callers.append(Caller(k, f"h{k + 1}", f"{NUMBER_PREFIX}{k + 1:08d}", at, wait,
                                       talk.expovariate(1 / plan.aht)))
            at += arrivals.expovariate(plan.rate)
        self._talk = talk  # for a call that rings with a caller ID not ours
        self.by_id = {c.id: c for c in self.callers}
        self.by_number = {c.number: c for c in self.callers}
        self.phones = [Phone(i) for i in range(phones)]
        self.origin: float | None = None
        self.next_arrival = 0
        self.anomalies: Counter[str] = Counter()
        self.work_changes: list[tuple[float, int]] = []  # (at, phones taken from then on)
        self.aborted = False
        self._out: list[Command] = []

    # -- verbs ----------------------------------------------------------------------------
    def start(self, now: float) -> None:
        self.origin = now

    def actions(self) -> list[Command]:
        out, self._out = self._out, []
        return out

    @property
    def placing_done(self) -> bool:
        return self.next_arrival >= len(self.callers)

    @property
    def finished(self) -> bool:
        return (self.placing_done and all(c.state == ENDED for c in self.callers)
                and all(p.state in (IDLE, DEAD) for p in self.phones))

    def next_timer(self) -> float | None:
        if self.origin is None:
            return None
        times = [c.deadline for c in self.callers if c.state == QUEUED and c.deadline is not None]
        times += [t for p in self.phones for t in (p.lift_at, p.put_down_at) if t is not None]
        if not self.placing_done and not self.aborted:
            times.append(self.origin + self.callers[self.next_arrival].arrives)
        return min(times, default=None)

    def on_timer(self, now: float) -> None:
        if self.origin is None:
            return
        while not self.placing_done and not self.aborted \
                and self.origin + self.callers[self.next_arrival].arrives <= now:
            self._place(self.callers[self.next_arrival], now)
            self.next_arrival += 1
        for phone in self.phones:
            if phone.lift_at is not None and phone.lift_at <= now:
                phone.lift_at = None
                self._lift(phone, now)
            if phone.put_down_at is not None and phone.put_down_at <= now:
                phone.put_down_at = None
                self._put_down(phone, now)
        for caller in self.callers:
            if caller.state == QUEUED and caller.deadline is not None and caller.deadline <= now:
                self._give_up(caller, now)

    def abort(self, now: float) -> None:
        """Out of time: no more calls; the callers still on the line hang up, phones go down."""
        self.aborted = True
        for caller in self.callers[self.next_arrival:]:
            caller.state = ENDED  # never placed
        self.next_arrival = len(self.callers)
        for caller in self.callers:
            if caller.state in (DIALLING, QUEUED, TALKING, AGENT_GONE):
                self.anomalies["still on the line at the end"] += 1
                self._give_up(caller, now, force=True)
        for phone in self.phones:
            if phone.state == OFF_HOOK:
                self._put_down(phone, now)
            elif phone.state == RINGING:
                self._work(now, -1)
                phone.state, phone.lift_at, phone.caller = IDLE, None, None

    # -- the carrier's events ---------------------------------------------------------------
    def on_telco(self, event: Mapping[str, Any], now: float) -> None:
        kind = event.get("event")
        if kind == "error":
            self.anomalies[f"telco error: {event.get('message')}"] += 1
            words = str(event.get("command", "")).split()
            if words[:1] == ["call"] and len(words) > 1 and words[1] in self.by_id:
                self.by_id[words[1]].state = ENDED  # never on the line
            return
        caller = self.by_id.get(str(event.get("id", "")))
        if caller is None:
            if kind == "incoming":
                self.anomalies["the box called out"] += 1
            return
        if kind == "answered" and caller.state == DIALLING:
            caller.state, caller.answered_at = QUEUED, now
            caller.deadline = now + caller.patience if math.isfinite(caller.patience) else None
        elif kind == "hangup":
            # The box clears a call once its agent has put the phone down (the flow ends there).
            if caller.state in (DIALLING, QUEUED, TALKING):
                self.anomalies[f"box cleared a call while {caller.state} (cause {event.get('cause')})"] += 1
            caller.cause = event.get("cause")
            if caller.state != ENDED:
                caller.state = HANGING_UP
            caller.deadline = None
        elif kind == "released":
            caller.state, caller.released_at, caller.deadline = ENDED, now, None
            if caller.cause is None:
                caller.cause = event.get("cause")
            self._caller_gone(caller, now)

    # -- the phones' events ---------------------------------------------------------------------
    def on_phone(self, index: int, event: Mapping[str, Any], now: float) -> None:
        phone = self.phones[index]
        kind = event.get("event")
        if kind == "connected":
            phone.connected = True
        elif kind == "cid":
            phone.cid = str(event.get("number") or "")
        elif kind == "ring" and event.get("on"):
            if phone.state == OFF_HOOK:
                self.anomalies["a phone rang while off hook"] += 1
                return
            if phone.state == IDLE:
                self._work(now, +1)
            caller = self.by_number.get(phone.cid or "")
            if caller is None:
                self.anomalies["a phone rang with a caller ID not ours"] += 1
            phone.state, phone.caller = RINGING, caller
            phone.lift_at = now + self.plan.ring_delay
            phone.cid = None  # each ring comes with its own
        elif kind == "ring":  # off: the caller left, or the ring went to another phone
            if phone.state == RINGING:
                self._work(now, -1)
                phone.state, phone.caller, phone.lift_at = IDLE, None, None
        elif kind == "tone" and phone.state == OFF_HOOK:
            name = event.get("name")
            if name == "dial":  # the box took the lift for a call of its own: none was ringing
                self.anomalies["lifted, but the box gave dial tone"] += 1
                caller = phone.caller
                if caller is not None and caller.state == TALKING:  # still waiting, as the box sees it
                    caller.state, caller.lifted_at, caller.phone = QUEUED, None, None
                    if math.isfinite(caller.patience) and caller.answered_at is not None:
                        caller.deadline = caller.answered_at + caller.patience
                self._put_down(phone, now)
                if caller is not None and caller.deadline is not None and caller.deadline <= now:
                    self._give_up(caller, now)
            elif name == "busy":  # the caller left the bridge first
                self.anomalies["the caller left during the talk"] += 1
                self._put_down(phone, now)
        elif kind == "disconnected":
            self.anomalies["a phone lost its port"] += 1
            if phone.state != IDLE:
                self._work(now, -1)
            phone.state, phone.lift_at, phone.put_down_at, phone.caller = DEAD, None, None, None
        elif kind == "error":
            self.anomalies[f"phone error: {event.get('message')}"] += 1

    # -- steps ----------------------------------------------------------------------------------
    def _place(self, caller: Caller, now: float) -> None:
        caller.state, caller.placed_at = DIALLING, now
        self._out.append(ToTelco(f"call {caller.id} {self.plan.called} {caller.number}"))

    def _lift(self, phone: Phone, now: float) -> None:
        caller = phone.caller
        if phone.state != RINGING:
            return
        if caller is not None and caller.state != QUEUED:
            return  # the caller already hung up: the ring is about to stop
        phone.state, phone.lifts = OFF_HOOK, phone.lifts + 1
        self._out.append(ToPhone(phone.index, "off"))
        talk = caller.talk if caller is not None else self._talk.expovariate(1 / self.plan.aht)
        phone.put_down_at = now + talk
        if caller is not None:
            caller.state, caller.lifted_at, caller.phone, caller.deadline = TALKING, now, phone.index, None

    def _put_down(self, phone: Phone, now: float) -> None:
        if phone.state != OFF_HOOK:
            return
        self._work(now, -1)
        caller = phone.caller
        phone.state, phone.caller, phone.put_down_at = IDLE, None, None
        self._out.append(ToPhone(phone.index, "on"))
        if caller is not None and caller.state == TALKING:
            caller.state = AGENT_GONE  # the box clears the call now

    def _give_up(self, caller: Caller, now: float, *, force: bool = False) -> None:
        if caller.state not in (QUEUED,) and not force:
            return
        caller.state, caller.hung_up_at, caller.deadline = HANGING_UP, now, None
        self._out.append(ToTelco(f"hangup {caller.id} 16"))
        for phone in self.phones:
            if phone.caller is caller and phone.state == RINGING:
                phone.lift_at = None  # the agent will not lift: the box stops the ring

    def _caller_gone(self, caller: Caller, now: float) -> None:
        for phone in self.phones:
            if phone.caller is caller and phone.state == OFF_HOOK:
                self.anomalies["the call was released with the agent still on it"] += 1
                self._put_down(phone, now)

    def _work(self, now: float, step: int) -> None:
        taken = (self.work_changes[-1][1] if self.work_changes else 0) + step
        self.work_changes.append((now, taken))


# --- the shell: telco and phones on one loop -------------------------------------------------------


class _JsonLines(io.TextIOBase):
    """A tool's stdout: each JSON line it prints goes to ON_EVENT as a dict."""

    def __init__(self, on_event: Callable[[dict[str, Any]], None], trace: TextIO | None, source: str) -> None:
        super().__init__()
        self.on_event, self.trace, self.source = on_event, trace, source
        self._buffer = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._buffer += text
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            if not line.strip():
                continue
            event = json.loads(line)
            if self.trace is not None:
                self.trace.write(json.dumps({"t": round(time.time(), 6), "from": self.source, **event},
                                            ensure_ascii=False) + "\n")
            self.on_event(event)
        return len(text)


@dataclass(frozen=True)
class LoadLog:
    """What the generator saw: its callers, the phones' working time, what went wrong."""

    plan: LoadPlan
    callers: tuple[Caller, ...]
    work_changes: tuple[tuple[float, int], ...]
    anomalies: Mapping[str, int]
    started_at: float            # epoch: the arrivals' time 0
    ended_at: float
    phones_idle: bool            # every handset on hook and not ringing at the end
    calls_left: int              # calls the telco still had at the end
    aborted: bool                # the drain timed out

    @property
    def placed(self) -> list[Caller]:
        return [c for c in self.callers if c.placed_at is not None]


async def drive(plan: LoadPlan, span_dir: Path, ports: Sequence[Path], *,
                on_telco_ready: Callable[[], None] | None = None,
                box_alive: Callable[[], bool] | None = None,
                trace: TextIO | None = None) -> LoadLog:
    """Be the carrier on SPAN_DIR and the agents' phones on PORTS for one busy hour.

    ON_TELCO_READY is called once the carrier listens (start the box's pbxd there);
    BOX_ALIVE, if given, is polled while waiting for the box to come up.
    """
    from drivers.e1_card.handset import Handset
    from drivers.e1_card.telco import TelcoSim

    loop = asyncio.get_running_loop()
    offset = time.time() - loop.time()  # epoch by the loop clock: one offset, fixed here

    def now() -> float:
        return loop.time() + offset

    script = BusyHourScript(plan, len(ports))
    failures: list[BaseException] = []
    telco_ready, link_up, wake = asyncio.Event(), asyncio.Event(), asyncio.Event()
    timer: list[asyncio.TimerHandle | None] = [None]
    commands: list[asyncio.Queue[str]] = [asyncio.Queue() for _ in range(len(ports) + 1)]

    def settle() -> None:
        for command in script.actions():
            if isinstance(command, ToTelco):
                commands[0].put_nowait(command.line)
            else:
                commands[command.phone + 1].put_nowait(command.line)
        if timer[0] is not None:
            timer[0].cancel()
        deadline = script.next_timer()
        timer[0] = loop.call_at(deadline - offset, on_timer) if deadline is not None else None
        if script.finished:
            wake.set()

    def on_timer() -> None:
        timer[0] = None
        guarded(lambda: script.on_timer(now()))

    def guarded(step: Callable[[], None]) -> None:
        # Called from inside the tools' own code: our fault must not become theirs.
        try:
            step()
            settle()
        except Exception as exc:  # noqa: BLE001 - re-raised when the run ends
            failures.append(exc)
            wake.set()

    def on_telco(event: dict[str, Any]) -> None:
        if event.get("event") == "ready":
            telco_ready.set()
        elif event.get("event") == "link":
            (link_up.set if event.get("up") else link_up.clear)()
        guarded(lambda: script.on_telco(event, now()))

    def on_phone(index: int, event: dict[str, Any]) -> None:
        guarded(lambda: script.on_phone(index, event, now()))

    telco = TelcoSim(span_dir, out=_JsonLines(on_telco, trace, "telco"))
    phones = [Handset(port, out=_JsonLines(lambda e, i=i: on_phone(i, e), trace, f"phone{i + 1}"))
              for i, port in enumerate(ports)]
    tasks = [asyncio.ensure_future(telco.run(commands[0]))]
    try:
        await _until(telco_ready.wait, plan.startup_timeout, "the simulated carrier to listen", tasks[0])
        if on_telco_ready is not None:
            on_telco_ready()
        tasks += [asyncio.ensure_future(p.run(commands[i + 1])) for i, p in enumerate(phones)]
        deadline = loop.time() + plan.startup_timeout
        while not (link_up.is_set() and all(p.connected for p in script.phones)):
            if box_alive is not None and not box_alive():
                raise BusyHourLoadError("pbxd exited before the span and the phones came up")
            if loop.time() > deadline:
                missing = [str(ports[p.index]) for p in script.phones if not p.connected]
                raise BusyHourLoadError(
                    f"within {plan.startup_timeout:g} s: D-channel {'up' if link_up.is_set() else 'down'}, "
                    f"phones not connected: {', '.join(missing) or 'none'}")
            await asyncio.sleep(0.05)
        started = now()
        script.start(started)
        guarded(lambda: script.on_timer(started))
        end_by = loop.time() + plan.duration + plan.drain_timeout
        while not script.finished and not failures and loop.time() < end_by:
            wake.clear()
            try:
                await asyncio.wait_for(wake.wait(), timeout=max(0.0, min(1.0, end_by - loop.time())))
            except TimeoutError:
                pass
            if tasks[0].done():
                failures.append(BusyHourLoadError("the simulated carrier stopped during the busy hour"))
            elif box_alive is not None and not box_alive():
                failures.append(BusyHourLoadError("pbxd exited during the busy hour"))
        if not script.finished and not failures:
            guarded(lambda: script.abort(now()))
            grace = loop.time() + 10.0
            while not script.finished and loop.time() < grace:
                await asyncio.sleep(0.1)
        if failures:
            raise failures[0]
        await asyncio.sleep(0.2)  # the last hook and ring messages settle in the handsets
        return LoadLog(plan, tuple(script.callers), tuple(script.work_changes), dict(script.anomalies),
                       started, now(), all(not p.off_hook and not p.ringing for p in phones),
                       len(telco.calls), script.aborted)
    finally:
        if timer[0] is not None:
            timer[0].cancel()
        telco.stop()
        for phone in phones:
            phone.stop()
        done, pending = await asyncio.wait(tasks, timeout=5.0)
        for task in pending:
            task.cancel()  # a handset still waiting for its port
        for task in done:
            if not task.cancelled():
                task.exception()  # retrieved: a tool that fails as it closes changes no figure


async def _until(wait: Callable[[], Any], timeout: float, what: str, task: asyncio.Task[Any]) -> None:
    waiter = asyncio.ensure_future(wait())
    done, _ = await asyncio.wait({waiter, task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    if waiter not in done:
        waiter.cancel()
        if task in done and task.exception() is not None:
            raise BusyHourLoadError(f"waiting for {what}: {task.exception()}")
        raise BusyHourLoadError(f"timed out after {timeout:g} s waiting for {what}")


# --- a box of its own ----------------------------------------------------------------------------


QUEUE = "busy_hour"


def box_config(plan: LoadPlan, data_dir: Path, span_dir: Path, ports: Sequence[Path]) -> str:
    """box.toml for the busy hour: one span, N phones (each its own agent), one queue without
    wrap-up, and a flow that sends every call straight to it (no prompt, no survey)."""
    phones = "".join(f'[[telephony.fxs]]\nurl = "sim://{port}"\nextension = "{8001 + k}"\n\n'
                     for k, port in enumerate(ports))
    return (
        f'[box]\nid = "busy-hour-001"\ndata_dir = "{data_dir}"\n\n'
        # No broker: the bus retries quietly; the figures come from box.db.
        '[bus]\nmqtt_url = "mqtt://127.0.0.1:1"\n\n'
        f'[[telephony.spans]]\nname = "span1"\nurl = "sim://{span_dir}"\n\n{phones}'
        # Wrap-up 0: the handle time is ring + talk. No autopause: one missed ring must not take
        # an agent out for the rest of the run (it is counted as ring_no_answer instead).
        f'[[acd.queues]]\nname = "{QUEUE}"\nwrapup = 0\nring_timeout = {RING_TIMEOUT:g}\n'
        f'short_abandon = 0\nservice_level_target = {plan.target:g}\nautopause = false\n\n'
        f'[ivr]\ndefault_flow = "{QUEUE}"\n[ivr.flows.{QUEUE}]\nstart = "queue"\n'
        f'[ivr.flows.{QUEUE}.nodes.queue]\ntype = "queue"\nqueue = "{QUEUE}"\n')


class SimBox:
    """A box for one busy hour: its box.toml, and the real pbxd daemon as a process.

    The span's and the phones' sockets live under /tmp (AF_UNIX paths are short). No
    recording key: calls are not recorded (pbxd says so in its log), which keeps the CPU
    for the calls themselves.
    """

    def __init__(self, plan: LoadPlan, workdir: Path | None = None) -> None:
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="anxin-busy-hour-"))
        self.data_dir = self.workdir / "box"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.span_dir = Path(tempfile.mkdtemp(prefix="anxin-bh-", dir="/tmp"))
        self.ports = [self.span_dir / f"fxs{k}" for k in range(1, plan.agents + 1)]
        self.config_path = self.workdir / "box.toml"
        self.config_path.write_text(box_config(plan, self.data_dir, self.span_dir, self.ports),
                                    encoding="utf-8")
        self.log_path = self.workdir / "pbxd.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def db_path(self) -> Path:
        return self.data_dir / "box.db"

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "appliance.cli", "pbxd", "--config", str(self.config_path)],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> int | None:
        code = None
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(5)
            code = self.process.returncode
        shutil.rmtree(self.span_dir, ignore_errors=True)
        return code

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> SimBox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def read_queue_log(db_path: Path) -> list[QueueEvent]:
    """box.db's queue log, read-only (pbxd may still be running)."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10.0)
    try:
        return load_events(conn)
    finally:
        conn.close()


# --- the figures -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spread:
    """A quantity over ``runs`` engine-level replays of the plan, each as many calls long."""

    mean: float
    sd: float
    runs: int


@dataclass(frozen=True)
class Comparison:
    """One figure of the run against one Erlang prediction.

    ``spread`` is (figure − that prediction) over the replays: its mean is what the model
    leaves out (the ring, a short run's start), its s.d. the run-to-run scatter. The
    figure agrees when |measured − predicted| ≤ sigmas·σ + |spread.mean|.
    """

    figure: str
    predicted: float
    measured: float
    se: float                 # batch means, of the measured figure
    spread: Spread
    sigma: float              # the yardstick: max(se, spread.sd) against the plan, spread.sd as offered
    sigmas: float

    @property
    def difference(self) -> float:
        return self.measured - self.predicted

    @property
    def tolerance(self) -> float:
        return self.sigmas * self.sigma + abs(self.spread.mean)

    @property
    def ok(self) -> bool:
        return abs(self.difference) <= self.tolerance

    @property
    def deviation(self) -> float:
        """(measured − predicted − the model's bias) ÷ σ."""
        return (self.difference - self.spread.mean) / self.sigma if self.sigma > 0 else 0.0

    @property
    def ratio(self) -> float:
        if self.predicted:
            return self.measured / self.predicted
        return 1.0 if self.measured == 0 else math.inf


@dataclass(frozen=True)
class ServiceChecks:
    """How the ACD served, from its own log: what a broken ACD could not hide."""

    overtakes: int               # offers of a call while one that joined earlier still waited
    idle_while_waiting_s: float  # seconds an agent was READY while a call waited unoffered
    answered_by_agent: Mapping[str, int]
    ring_no_answer: int


@dataclass(frozen=True)
class Timing:
    """The box's log against what the generator did, call by call, in milliseconds
    (mean error, 95th percentile and largest |error|): the box's clock and the lines'
    latency, measured."""

    talk_ms: tuple[float, float, float]      # talk_s logged − the talk the agent was given
    patience_ms: tuple[float, float, float]  # abandoned wait_s − the caller's patience
    ring_ms: tuple[float, float, float]      # ring_s logged − ring_delay


@dataclass(frozen=True)
class BusyHourRun:
    """A busy hour's outcome: the box's figures, the Erlang predictions, the checks."""

    plan: LoadPlan
    result: BusyHourResult       # measured (batch means) vs Erlang at the plan's λ and AHT
    as_offered: Prediction | None  # Erlang at the hour that came: its λ and talk (None: unstable)
    offered_rate: float          # λ̂: calls that joined in the window ÷ its length
    offered_talk: float          # mean talk the box logged for them
    placed: int
    answered: int                # by the box's log
    abandoned: int
    lost: tuple[str, ...]        # placed calls the log does not end as completed or abandoned
    ring_s: float                # mean ring the box logged (offer → lift): the model's ring
    vs_plan: Mapping[str, Spread]
    vs_offered: Mapping[str, Spread]
    one_agent_fewer: Prediction | None   # the plan on N − 1 agents (None: unstable)
    fewer_as_offered: Prediction | None  # the hour that came on N − 1 agents
    checks: ServiceChecks
    anomalies: Mapping[str, int]
    phones_idle: bool
    calls_left: int
    aborted: bool
    timing: Timing
    cpu_s: Mapping[str, float] = field(default_factory=dict)  # pbxd's and the generator's

    def compare(self, name: str, sigmas: float = 4.0) -> Comparison:
        """Figure NAME against Erlang at the plan's λ and AHT (what the brief asks)."""
        estimate = self.result.measured.figure(name)
        spread = self.vs_plan[name]
        return Comparison(name, self.result.predicted.figure(name), estimate.value, estimate.se, spread,
                          max(estimate.se, spread.sd), sigmas)

    def compare_as_offered(self, name: str, sigmas: float = 4.0) -> Comparison | None:
        """Figure NAME against Erlang at the λ and talk that came: the hour's own luck left out."""
        if self.as_offered is None or name not in self.vs_offered:
            return None
        estimate = self.result.measured.figure(name)
        spread = self.vs_offered[name]
        return Comparison(name, self.as_offered.figure(name), estimate.value, estimate.se, spread,
                          spread.sd, sigmas)

    def agrees(self, name: str, sigmas: float = 4.0) -> bool:
        return self.compare(name, sigmas).ok

    def table(self, sigmas: float = 4.0) -> str:
        p, s, m = self.plan, self.result.scenario, self.result.measured
        patience = "∞" if math.isinf(p.patience) else f"{p.patience:g} s"
        offered = (f"as offered: λ̂ = {self.offered_rate:.3f}/s, talk {self.offered_talk:.3f} s"
                   if self.as_offered is not None else "as offered: unstable (λ̂·handle ≥ N)")
        lines = [
            f"忙时测试 busy hour through pbxd — {p.name}: {self.result.predicted.model}, N = {p.agents}, "
            f"λ = {p.rate:.3f}/s, talk {p.aht:g} s, ring {p.ring_delay:g} s (box: {self.ring_s:.3f}), "
            f"patience {patience}, A = {s.traffic:.2f} Erl (load {s.traffic / p.agents:.2f}), "
            f"{p.duration:g} s of arrivals, warm-up {p.warmup:g} s, seed {p.seed}",
            f"calls placed {self.placed}, answered {self.answered}, abandoned {self.abandoned}, "
            f"lost {len(self.lost)}; measured {m.calls} calls in [{m.start:.0f}, {m.end:.0f}) s "
            f"({offered}); phones idle at the end: {'yes' if self.phones_idle else 'NO'}, calls left on "
            f"the line {self.calls_left}",
            f"{'':<12}{'—— against Erlang at the plan ——':^63}  {'—— as offered ——':^27}",
            f"{'figure':<12}{'Erlang':>8}{'measured':>9}{'s.e.':>7}{'replays':>13}{'ratio':>7}{'Δ/σ':>6}"
            f"{'±tol':>7}{'':>4}{'Erlang':>8}{'ratio':>7}{'±tol':>7}{'':>4}",
        ]
        labels = {"service_level": f"SL ≤ {p.target:g} s", "asa": "ASA s", "abandon_rate": "abandon",
                  "p_wait": "P(wait)", "occupancy": "occupancy"}
        for name in ALL_FIGURES:
            c = self.compare(name, sigmas)
            o = self.compare_as_offered(name, sigmas)
            replays = f"{c.predicted + c.spread.mean:.3f}±{c.spread.sd:.3f}"
            line = (f"{labels[name]:<12}{c.predicted:>8.3f}{c.measured:>9.3f}{c.se:>7.3f}{replays:>13}"
                    f"{c.ratio:>7.3f}{c.deviation:>+6.1f}{c.tolerance:>7.3f}"
                    f"{('  ✓' if c.ok else '  ✗') if name in FIGURES else '':<4}")
            if o is not None:
                line += (f"{o.predicted:>8.3f}{o.ratio:>7.3f}{o.tolerance:>7.3f}"
                         f"{('  ✓' if o.ok else '  ✗') if name in FIGURES else ''}")
            lines.append(line)
        lines.append(f"s.e.: batch means ({p.batches} batches); replays: Erlang + mean ± s.d. of (figure − "
                     f"Erlang) over {p.runs} engine-level replays of {self.placed} calls; ±tol = "
                     f"{sigmas:g}σ + |mean| (σ = max(s.e., s.d.); as offered σ = s.d.)")
        c = self.checks
        agents = ", ".join(f"{a}: {n}" for a, n in sorted(c.answered_by_agent.items()))
        lines.append(f"service order: {c.overtakes} overtakes (FIFO), {c.idle_while_waiting_s:.3f} s with an "
                     f"agent idle while a call waited, {c.ring_no_answer} rings unanswered; answered per "
                     f"agent {agents}")
        t = self.timing
        lines.append("box log vs plan (error ms: mean / 95 % / largest): " + ", ".join(
            f"{label} {e[0]:+.1f} / {e[1]:.1f} / {e[2]:.1f}"
            for label, e in (("talk", t.talk_ms), ("patience", t.patience_ms), ("ring", t.ring_ms))))
        if self.cpu_s:
            lines.append("CPU: " + ", ".join(f"{k} {v:.1f} s ({1000 * v / max(1, self.placed):.0f} ms a call)"
                                             for k, v in self.cpu_s.items()))
        for label, f in (("at the plan", self.one_agent_fewer), ("as offered", self.fewer_as_offered)):
            if f is not None:
                lines.append(f"with one agent fewer Erlang {label} would say: SL {f.service_level:.3f}, "
                             f"ASA {f.asa:.3f} s, abandon {f.abandon_rate:.3f}")
        if self.lost:
            lines.append("lost: " + "; ".join(self.lost[:10]) + (" …" if len(self.lost) > 10 else ""))
        if self.anomalies:
            lines.append("anomalies: " + "; ".join(f"{k} ×{v}" for k, v in sorted(self.anomalies.items())))
        return "\n".join(lines)


def service_checks(events: Iterable[QueueEvent]) -> ServiceChecks:
    """FIFO and work conservation from the queue log of one queue without wrap-up.

    Walks the log in order, keeping which calls wait unoffered and which agents are READY.
    Steps the engine takes in one input share one time stamp, so a served queue shows no
    idle agent time at all; an overtake is an offer while an earlier caller still waited.
    """
    waiting: dict[str, float] = {}      # call → joined at
    joined: dict[str, float] = {}
    agents: dict[str, str] = {}         # agent → ready / ringing / busy / wrapup / paused / out
    answered: Counter[str] = Counter()
    overtakes = rna = 0
    idle = 0.0
    last: float | None = None
    for event in events:
        at, kind, call, agent = event.at, event.kind, event.call_id, event.agent_id
        if last is not None and at > last and waiting and "ready" in agents.values():
            idle += at - last
        last = at if last is None else max(last, at)
        if kind == ev.JOINED and call is not None:
            waiting[call] = joined[call] = at
        elif kind == ev.OFFERED and call is not None:
            mine = joined.get(call, at)
            if any(t < mine for c, t in waiting.items() if c != call):
                overtakes += 1
            waiting.pop(call, None)
            if agent is not None:
                agents[agent] = "ringing"
        elif kind == ev.CONNECTED and agent is not None:
            agents[agent] = "busy"
            answered[agent] += 1
        elif kind == ev.RING_NO_ANSWER:
            rna += 1
            if agent is not None:
                agents[agent] = "ready"
            if call in joined:
                waiting[call] = joined[call]
        elif kind in (ev.ABANDONED, ev.OVERFLOWED, ev.CALLBACK_REQUESTED):
            waiting.pop(call or "", None)
            if agent is not None and agents.get(agent) == "ringing":
                agents[agent] = "ready"
        elif kind in (ev.COMPLETED, ev.TRANSFERRED, ev.CALLBACK_FAILED, ev.WRAPUP_ENDED, ev.UNPAUSED,
                      ev.LOGGED_IN) and agent is not None:
            agents[agent] = "ready"
        elif kind == ev.WRAPUP_STARTED and agent is not None:
            agents[agent] = "wrapup"
        elif kind == ev.PAUSED and agent is not None:
            agents[agent] = "paused"
        elif kind == ev.LOGGED_OUT and agent is not None:
            agents[agent] = "out"
    return ServiceChecks(overtakes, idle, dict(answered), rna)


def as_offered(scenario: Scenario, measured: Measured, *, agents: int | None = None) -> Prediction | None:
    """Erlang for the hour that came: λ̂ and the mean talk of the window's calls, on AGENTS
    (default the scenario's); None when that traffic would overload Erlang C or nothing
    was answered."""
    talk = measured.metrics.aht
    if not talk or measured.end <= measured.start or not measured.calls:
        return None
    rate = measured.calls / (measured.end - measured.start)
    try:
        return predict(dataclasses.replace(scenario, traffic=rate * (talk + scenario.ring_delay), aht=talk,
                                           agents=agents or scenario.agents))
    except (BusyHourError, ErlangError):
        return None


def replicate(scenario: Scenario, calls: int, runs: int) -> tuple[dict[str, Spread], dict[str, Spread]]:
    """(figure − Erlang at the plan) and (figure − Erlang as offered) over RUNS engine-level
    replays of SCENARIO, CALLS calls each (the ring is modelled there exactly)."""
    planned = predict(scenario)
    vs_plan: dict[str, list[float]] = {name: [] for name in ALL_FIGURES}
    vs_offered: dict[str, list[float]] = {name: [] for name in ALL_FIGURES}
    base = dataclasses.replace(scenario, calls=max(calls, 40), batches=2)
    for i in range(runs):
        measured = simulate(dataclasses.replace(base, seed=scenario.seed * 1000 + i + 1)).measured
        offered = as_offered(scenario, measured)
        for name in ALL_FIGURES:
            value = measured.figure(name).value
            vs_plan[name].append(value - planned.figure(name))
            if offered is not None and math.isfinite(offered.figure(name)):
                vs_offered[name].append(value - offered.figure(name))

    def spread(values: list[float]) -> Spread:
        return Spread(statistics.fmean(values), statistics.stdev(values), len(values))

    return ({name: spread(v) for name, v in vs_plan.items()},
            {name: spread(v) for name, v in vs_offered.items() if len(v) >= 2})


def _ours(events: Sequence[QueueEvent], numbers: set[str]) -> tuple[list[QueueEvent], dict[str, str]]:
    """The events of our calls (by caller number) and every agent's own; call id → number."""
    ours: dict[str, str] = {}
    for event in events:
        if event.kind == ev.JOINED and event.call_id and event.data.get("caller") in numbers:
            ours[event.call_id] = str(event.data["caller"])
    return [e for e in events if e.call_id is None or e.call_id in ours], ours


def analyse(log: LoadLog, events: Sequence[QueueEvent]) -> BusyHourRun:
    """The run's figures from the box's queue log, and everything they are set against."""
    plan = log.plan
    placed = log.placed
    events, ours = _ours(list(events), {c.number for c in placed})
    by_number = {c.number: c for c in placed}
    ended: dict[str, str] = {}
    ring: list[float] = []
    errors: dict[str, list[float]] = {"talk": [], "patience": [], "ring": []}
    for event in events:
        if event.call_id not in ours:
            continue
        caller = by_number[ours[event.call_id]]
        if event.kind == ev.CONNECTED:
            ring.append(float(event.data.get("ring_s", 0.0)))
            errors["ring"].append(ring[-1] - plan.ring_delay)
            ended.setdefault(event.call_id, "connected")
        elif event.kind == ev.COMPLETED:
            errors["talk"].append(float(event.data.get("talk_s", 0.0)) - caller.talk)
            if ended.get(event.call_id) == "connected":
                ended[event.call_id] = "completed"
        elif event.kind in ev.CALL_ENDS:
            if event.kind == ev.ABANDONED and math.isfinite(caller.patience):
                errors["patience"].append(float(event.data.get("wait_s", 0.0)) - caller.patience)
            ended.setdefault(event.call_id, event.kind)
    call_of = {number: call_id for call_id, number in ours.items()}
    lost = []
    for caller in placed:
        call_id = call_of.get(caller.number)
        outcome = ended.get(call_id or "")
        if call_id is None:
            lost.append(f"{caller.number}: never joined the queue (cause {caller.cause})")
        elif outcome not in ("completed", ev.ABANDONED):
            lost.append(f"{caller.number} ({call_id}): {outcome or 'no outcome'}")
    ring_s = statistics.fmean(ring) if ring else plan.ring_delay
    # The model: the ring the box saw is the constant part of the handle time.
    scenario = Scenario(plan.name, agents=plan.agents, traffic=plan.rate * (plan.aht + ring_s), aht=plan.aht,
                        patience=plan.patience, ring_delay=ring_s, target=plan.target, short_abandon=0.0,
                        calls=max(len(placed), 20 * plan.batches), seed=plan.seed, batches=plan.batches,
                        warmup=plan.warmup)
    origin = log.started_at
    shifted = [dataclasses.replace(e, at=e.at - origin) for e in events]
    joins = [e.at for e in shifted if e.kind == ev.JOINED and e.call_id in ours]
    if not joins:
        raise BusyHourLoadError("no call of ours is in the queue log: does the box's flow send calls "
                                "to a queue?")
    work = tuple((at - origin, n) for at, n in log.work_changes) or ((0.0, 0),)
    measured = measure(scenario, BusyHourLog(tuple(shifted), work, max(joins)))
    offered = as_offered(scenario, measured)
    try:
        fewer = predict(dataclasses.replace(scenario, agents=plan.agents - 1)) if plan.agents > 1 else None
    except (BusyHourError, ErlangError):
        fewer = None  # Erlang C on one agent fewer: the queue would grow without bound
    vs_plan, vs_offered = replicate(scenario, len(placed), plan.runs)
    outcomes = Counter(ended.values())
    return BusyHourRun(
        plan=plan, result=BusyHourResult(scenario, scenario, measured, predict(scenario)),
        as_offered=offered, offered_rate=measured.calls / (measured.end - measured.start),
        offered_talk=measured.metrics.aht or math.nan, placed=len(placed),
        answered=outcomes["completed"] + outcomes["connected"], abandoned=outcomes[ev.ABANDONED],
        lost=tuple(lost), ring_s=ring_s, vs_plan=vs_plan, vs_offered=vs_offered, one_agent_fewer=fewer,
        fewer_as_offered=as_offered(scenario, measured, agents=plan.agents - 1) if plan.agents > 1 else None,
        checks=service_checks(events), anomalies=dict(log.anomalies), phones_idle=log.phones_idle,
        calls_left=log.calls_left, aborted=log.aborted,
        timing=Timing(*(_error_ms(errors[k]) for k in ("talk", "patience", "ring"))))


def _error_ms(errors: list[float]) -> tuple[float, float, float]:
    if not errors:
        return (0.0, 0.0, 0.0)
    sizes = sorted(abs(e) for e in errors)
    return (1000 * statistics.fmean(errors), 1000 * sizes[int(0.95 * (len(sizes) - 1))], 1000 * sizes[-1])


def run_busy_hour(plan: LoadPlan, *, workdir: Path | None = None, trace: Path | None = None) -> BusyHourRun:
    """PLAN on a box of its own (SimBox: box.toml, the pbxd daemon), then its figures."""
    box = SimBox(plan, workdir)
    trace_file = open(trace, "w", encoding="utf-8") if trace else None  # noqa: SIM115 - closed below
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = resource.getrusage(resource.RUSAGE_SELF)
    try:
        log = asyncio.run(drive(plan, box.span_dir, box.ports, on_telco_ready=box.start,
                                box_alive=box.alive, trace=trace_file))
    except BusyHourLoadError as exc:
        raise BusyHourLoadError(f"{exc}\n--- pbxd log ({box.log_path}) ---\n{box.log_tail()}") from exc
    finally:
        if trace_file is not None:
            trace_file.close()
        box.stop()
    # pbxd is our only child: its CPU over its whole life, start-up included.
    cpu = {"pbxd": _cpu(resource.getrusage(resource.RUSAGE_CHILDREN)) - _cpu(children),
           "generator": _cpu(resource.getrusage(resource.RUSAGE_SELF)) - _cpu(own)}
    return dataclasses.replace(analyse(log, read_queue_log(box.db_path)), cpu_s=cpu)


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def attach_busy_hour(plan: LoadPlan, span_dir: Path, ports: Sequence[Path], db_path: Path, *,
                     trace: Path | None = None) -> BusyHourRun:
    """PLAN on a running box whose span (sim://SPAN_DIR: we are its carrier) and phones are given."""
    trace_file = open(trace, "w", encoding="utf-8") if trace else None  # noqa: SIM115 - closed below
    try:
        log = asyncio.run(drive(plan, span_dir, ports, trace=trace_file))
    finally:
        if trace_file is not None:
            trace_file.close()
    return analyse(log, read_queue_log(db_path))


# --- the command ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m provisioning.busy_hour",
                                description="A busy hour through pbxd, set against Erlang C / Erlang A.")
    p.add_argument("--name", default="busy hour")
    p.add_argument("--agents", type=int, default=4)
    load = p.add_mutually_exclusive_group()
    load.add_argument("--load", type=float, default=0.9, help="agents' load, ring included (sets λ)")
    load.add_argument("--rate", type=float, help="λ, calls per second")
    p.add_argument("--aht", type=float, default=2.0, help="mean talk time, seconds")
    p.add_argument("--patience", type=float, default=math.inf, help="mean patience, seconds (inf: Erlang C)")
    p.add_argument("--ring-delay", type=float, default=0.1, help="seconds before an agent lifts")
    p.add_argument("--target", type=float, default=2.0, help="service-level target, seconds")
    p.add_argument("--duration", type=float, default=120.0, help="seconds of arrivals")
    p.add_argument("--warmup", type=float, default=15.0)
    p.add_argument("--batches", type=int, default=10)
    p.add_argument("--runs", type=int, default=60, help="engine-level replays for σ and the model's bias")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--sigmas", type=float, default=4.0)
    p.add_argument("--workdir", type=Path, help="box.toml, box.db and pbxd.log (default: a temp dir)")
    p.add_argument("--trace", type=Path, help="every telco and phone event, one JSON line each")
    p.add_argument("--span-dir", type=Path, help="drive a running box: its sim:// span directory")
    p.add_argument("--port", type=Path, action="append", default=[], help="… each agent's FXS port")
    p.add_argument("--db", type=Path, help="… and its box.db")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    fields = dict(patience=args.patience, ring_delay=args.ring_delay, target=args.target,
                  duration=args.duration, warmup=args.warmup, batches=args.batches, runs=args.runs,
                  seed=args.seed)
    attach = args.span_dir is not None
    agents = len(args.port) if attach else args.agents
    try:
        if attach and (not args.port or args.db is None):
            raise BusyHourLoadError("--span-dir needs --port (one per agent's phone) and --db")
        plan = (LoadPlan(args.name, agents, args.rate, args.aht, **fields) if args.rate is not None
                else LoadPlan.at_load(args.name, agents, args.load, args.aht, **fields))
        workdir = None if attach else args.workdir or Path(tempfile.mkdtemp(prefix="anxin-busy-hour-"))
        where = f"; box.toml, box.db, pbxd.log in {workdir}" if workdir else ""
        print(f"忙时测试 {plan.name}: {plan.expected_calls:.0f} calls expected over {plan.duration:g} s"
              f"{where} …", flush=True)
        run = (attach_busy_hour(plan, args.span_dir, args.port, args.db, trace=args.trace) if attach
               else run_busy_hour(plan, workdir=workdir, trace=args.trace))
    except BusyHourLoadError as exc:
        print(f"busy_hour: {exc}", file=sys.stderr)
        return 2
    print(run.table(args.sigmas))
    ok = (not run.lost and run.phones_idle and all(run.agrees(n, args.sigmas) for n in FIGURES))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
