"""The ACD engine under load: routing latency, calls lost at full load, Erlang agreement.

    .venv/bin/python bench/acd.py [--ops 4000] [--calls 100000] [--no-erlang]

(a) **Routing decision latency.** 200 agents with mixed skills over 5 queues (longest
idle, skills, fewest calls, round robin, ring-all for emergencies), 60 calls kept
waiting (every call that leaves the queue is replaced at once), talk, ring delays,
wrap-up, pauses and ring-no-answer on a virtual clock. Each engine input that makes the
engine match — join, answered, completed, abandon, set_ready, handle_timer — is timed
alone with ``time.perf_counter_ns`` (the shell's work around it is not); p50 and p99
per kind and over all. The baseline, in the same run on the same states: a naive
matcher written here that, for each waiting call in arrival order, scans all agents and
picks the longest-idle READY one with the skill (no priorities or ageing, no penalty
steps, no strategies, no events). engine / naive says what the richer rules cost.

(b) **Calls lost under a 60-channel full load (must be 0).** 60 calls on the line at
every moment (a call that ends or leaves the line is replaced at once) on 30 agents,
so queues build; random abandons, max-wait overflows (to another queue, callback,
mobile, message), callbacks that keep their place, transfers, declines, ring-no-answer
autopause, pauses and log-outs. Counted from the engine's queue log and actions: calls
that did not end exactly once, offers to an agent not READY (by the engine's own state
changes) or whose phone is ringing or off-hook (by the simulated phones), a second
offer of a call still ringing, and calls or agents stuck when everything has drained.

(c) The Erlang comparison table of appliance.acd.busy_hour.compare (its default
scenarios, on the real engine).
"""

from __future__ import annotations

import argparse
import heapq
import os
import platform
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from appliance.acd import events as ev  # noqa: E402 - after the path setup
from appliance.acd.actions import (  # noqa: E402
    Action,
    AgentStateChanged,
    CallbackDue,
    CancelOffer,
    Connected,
    Offer,
    Overflow,
)
from appliance.acd.busy_hour import compare, comparison_table  # noqa: E402
from appliance.acd.engine import AcdEngine  # noqa: E402
from appliance.acd.model import (  # noqa: E402
    RING_NO_ANSWER,
    AgentConfig,
    AgentState,
    OverflowRule,
    PenaltyStep,
    Priority,
    QueueConfig,
)

S = AgentState
ROUTING_QUEUES = ("general", "elder", "health", "service", "emergency")
QUEUE_SHARE = (0.40, 0.25, 0.15, 0.15, 0.05)


def routing_queues(*, overflows: bool) -> list[QueueConfig]:
    """The five queues, each with its own strategy; with OVERFLOWS, max waits and where to."""
    emergency = QueueConfig("emergency", strategy="ring_all", penalty_steps=(PenaltyStep(0, 9),),
                            autopause=False)
    if not overflows:
        return [QueueConfig("general"), QueueConfig("elder", strategy="skills"),
                QueueConfig("health", strategy="fewest_calls"),
                QueueConfig("service", strategy="round_robin"), emergency]
    return [
        QueueConfig("general", max_wait=60.0, overflow=OverflowRule("queue", "elder")),
        QueueConfig("elder", strategy="skills", max_wait=120.0, overflow=OverflowRule("callback")),
        QueueConfig("health", strategy="fewest_calls", max_wait=90.0,
                    overflow=OverflowRule("mobile", "13900000000")),
        QueueConfig("service", strategy="round_robin", max_wait=45.0, overflow=OverflowRule("message"),
                    announce_every=30.0),
        emergency,
    ]


def agents(count: int, rng: random.Random) -> list[AgentConfig]:
    """A primary skill (penalty 0) among the four queues, one or two others at penalty 1-2,
    a quarter of them on emergencies; some keep a wrap-up of their own."""
    out = []
    for i in range(count):
        primary = ROUTING_QUEUES[i % 4]
        skills = {primary: 0}
        for other in rng.sample([q for q in ROUTING_QUEUES[:4] if q != primary], rng.randint(1, 2)):
            skills[other] = rng.randint(1, 2)
        if i % 4 == 0:
            skills["emergency"] = 0
        wrapup = 5.0 if i % 7 == 0 else None
        out.append(AgentConfig(str(1001 + i), f"坐席{i + 1}", skills=skills, wrapup=wrapup))
    return out


def new_call(rng: random.Random) -> tuple[str, Priority]:
    queue = rng.choices(ROUTING_QUEUES, QUEUE_SHARE)[0]
    if queue == "emergency":
        return queue, Priority.EMERGENCY
    return queue, Priority.ELDER if rng.random() < 0.3 else Priority.NORMAL


def percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


# --- (a) routing decision latency -----------------------------------------------------------


def naive_match(agents_now: list[tuple[str, frozenset[str], bool, float]], calls: list[str]) -> int:
    """For each waiting call (its queue), in arrival order: scan every agent, take the
    longest-idle READY one with the skill. Returns the number of offers it would make."""
    taken: set[str] = set()
    offers = 0
    for queue in calls:
        best_id, best_idle = None, 0.0
        for agent_id, skills, ready, idle_since in agents_now:
            if (ready and queue in skills and agent_id not in taken
                    and (best_id is None or idle_since < best_idle)):
                best_id, best_idle = agent_id, idle_since
        if best_id is not None:
            taken.add(best_id)
            offers += 1
    return offers


class RoutingLoad:
    """200 agents, 5 queues, 60 calls waiting; times each matching input."""

    WAITING = 60

    def __init__(self, n_agents: int = 200, seed: int = 11) -> None:
        self.rng = random.Random(seed)
        self.configs = agents(n_agents, self.rng)
        self.skills = {a.agent_id: frozenset(a.skills) for a in self.configs}
        self.engine = AcdEngine(routing_queues(overflows=False), self.configs)
        self.heap: list[tuple[float, int, str, str, str, int]] = []
        self.seq = self.calls = self.offer_no = 0
        self.waiting: dict[str, str] = {}               # call → queue, until answered or abandoned
        self.ringing: dict[str, tuple[tuple[str, ...], int]] = {}
        self.talking: dict[str, str] = {}               # call → agent
        self.timings: dict[str, list[int]] = {}
        self.naive: list[int] = []
        self.waiting_seen: list[int] = []
        self.get_timer: list[int] = []
        self.with_offer: list[int] = []     # inputs whose matching offered a call
        self.without_offer: list[int] = []  # … and those where no agent could take one
        self.measuring = False

    def push(self, at: float, kind: str, call_id: str = "", agent_id: str = "", number: int = 0) -> None:
        heapq.heappush(self.heap, (at, self.seq, kind, call_id, agent_id, number))
        self.seq += 1

    def timed(self, kind: str, now: float, call: Callable[[], None]) -> None:
        start = time.perf_counter_ns()
        call()
        elapsed = time.perf_counter_ns() - start
        actions = self.engine.actions()
        if self.measuring:
            self.timings.setdefault(kind, []).append(elapsed)
            offered = any(isinstance(a, Offer) for a in actions)
            (self.with_offer if offered else self.without_offer).append(elapsed)
            self.baseline(actions)
        self.carry_out(actions, now)

    def baseline(self, actions: list[Action]) -> None:
        """Time the naive matcher on the state this input's matching saw (its offers undone)."""
        offered_agents = {a for x in actions if isinstance(x, Offer) for a in x.agent_ids}
        offered_calls = {x.call_id for x in actions if isinstance(x, Offer)}
        views = [self.engine.agent(a.agent_id) for a in self.configs]
        agents_now = [(v.agent_id, self.skills[v.agent_id],
                       v.state is S.READY or v.agent_id in offered_agents, v.idle_since or 0.0)
                      for v in views]
        calls = sorted((w for w in self.engine.waiting() if not w.offered_to or w.call_id in offered_calls),
                       key=lambda w: w.enqueued_at)
        queues = [w.queue for w in calls]
        self.waiting_seen.append(len(queues))
        start = time.perf_counter_ns()
        naive_match(agents_now, queues)
        self.naive.append(time.perf_counter_ns() - start)

    def join(self, now: float) -> None:
        self.calls += 1
        call_id = f"r{self.calls}"
        queue, priority = new_call(self.rng)
        self.waiting[call_id] = queue
        self.timed("join", now, lambda: self.engine.join(call_id, queue, now, priority=priority))
        self.push(now + self.rng.expovariate(1 / 600), "hang_up", call_id)

    def carry_out(self, actions: list[Action], now: float) -> None:
        for action in actions:
            if isinstance(action, Offer):
                self.offer_no += 1
                self.ringing[action.call_id] = (action.agent_ids, self.offer_no)
                if self.rng.random() < 0.02:
                    continue  # nobody lifts the phone: the ring times out (a timer)
                agent_id = self.rng.choice(action.agent_ids)
                self.push(now + self.rng.uniform(1, 4), "answer", action.call_id, agent_id, self.offer_no)
            elif isinstance(action, CancelOffer):
                self.ringing.pop(action.call_id, None)
            elif isinstance(action, Connected):
                self.waiting.pop(action.call_id, None)
                self.talking[action.call_id] = action.agent_id
                self.push(now + self.rng.expovariate(1 / 180), "end", action.call_id)
            elif isinstance(action, AgentStateChanged) and action.state is S.NOT_READY:
                self.push(now + self.rng.uniform(20, 90), "ready", agent_id=action.agent_id)

    def step(self, now: float, kind: str, call_id: str, agent_id: str, number: int) -> None:
        engine = self.engine
        if kind == "answer":
            ringing = self.ringing.get(call_id)
            if ringing is not None and ringing[1] == number and agent_id in ringing[0]:
                del self.ringing[call_id]
                self.timed("answered", now, lambda: engine.answered(call_id, agent_id, now))
        elif kind == "end":
            agent = self.talking.pop(call_id)
            self.timed("completed", now, lambda: engine.completed(call_id, now, by="agent"))
            if self.rng.random() < 0.03 and engine.agent(agent).state in (S.WRAPUP, S.READY):
                engine.set_not_ready(agent, "休息", now)  # a break after this call
                self.carry_out(engine.actions(), now)
        elif kind == "hang_up":
            if call_id in self.waiting:
                del self.waiting[call_id]
                self.ringing.pop(call_id, None)
                self.timed("abandon", now, lambda: engine.abandon(call_id, now))
        elif kind == "ready" and engine.agent(agent_id).state is S.NOT_READY:
            self.timed("set_ready", now, lambda: engine.set_ready(agent_id, now))

    def run(self, ops: int, warmup: float = 600.0) -> None:
        engine = self.engine
        for a in self.configs:
            engine.login(a.agent_id, 0.0)
        engine.actions()
        now = 0.0
        for _ in range(len(self.configs) + self.WAITING):
            self.join(now)
        while sum(len(v) for v in self.timings.values()) < ops:
            self.measuring = now >= warmup
            start = time.perf_counter_ns()
            timer = engine.get_timer()
            if self.measuring:
                self.get_timer.append(time.perf_counter_ns() - start)
            if self.heap and (timer is None or self.heap[0][0] < timer):
                now, _, kind, call_id, agent_id, number = heapq.heappop(self.heap)
                self.step(now, kind, call_id, agent_id, number)
            else:
                assert timer is not None
                now = timer
                self.timed("handle_timer", now, lambda at=now: engine.handle_timer(at))
            while len(self.waiting) < self.WAITING:
                self.join(now)


def bench_routing(ops: int) -> None:
    load = RoutingLoad()
    started = time.perf_counter()
    load.run(ops)
    everything = [t for values in load.timings.values() for t in values]
    print(f"(a) routing decision latency: 200 agents, 5 queues (longest_idle, skills, fewest_calls, "
          f"round_robin, ring_all), {len(everything)} matching inputs timed "
          f"({time.perf_counter() - started:.1f} s)")
    print(f"    calls waiting when the engine matched: median {statistics.median(load.waiting_seen):.0f} "
          f"(min {min(load.waiting_seen)}, max {max(load.waiting_seen)})")
    print(f"    {'input':<14}{'count':>7}{'p50 µs':>10}{'p99 µs':>10}")
    for kind in ("join", "answered", "completed", "abandon", "set_ready", "handle_timer"):
        values = load.timings.get(kind, [])
        if values:
            print(f"    {kind:<14}{len(values):>7}{percentile(values, 0.5) / 1000:>10.1f}"
                  f"{percentile(values, 0.99) / 1000:>10.1f}")
    p50, p99 = percentile(everything, 0.5), percentile(everything, 0.99)
    n50, n99 = percentile(load.naive, 0.5), percentile(load.naive, 0.99)
    print(f"    {'all inputs':<14}{len(everything):>7}{p50 / 1000:>10.1f}{p99 / 1000:>10.1f}")
    print(f"    {'get_timer':<14}{len(load.get_timer):>7}{percentile(load.get_timer, 0.5) / 1000:>10.1f}"
          f"{percentile(load.get_timer, 0.99) / 1000:>10.1f}   (the shell asks after every input)")
    for label, values in (("made an offer", load.with_offer), ("offered nothing", load.without_offer)):
        if values:
            print(f"    {label:<16}{len(values):>5}{percentile(values, 0.5) / 1000:>10.1f}"
                  f"{percentile(values, 0.99) / 1000:>10.1f}")
    print(f"    baseline, naive scan-all-agents longest-idle pass on the same states: "
          f"p50 {n50 / 1000:.1f} µs, p99 {n99 / 1000:.1f} µs")
    print(f"    engine / naive: p50 {p50 / n50:.2f}x, p99 {p99 / n99:.2f}x")


# --- (b) calls lost under a 60-channel full load ----------------------------------------------


class FullLoad:
    """60 calls on the line at every moment; checks that each call ends exactly once."""

    CHANNELS = 60

    def __init__(self, calls: int, n_agents: int = 30, seed: int = 23) -> None:
        self.rng = random.Random(seed)
        self.total = calls
        self.configs = agents(n_agents, self.rng)
        self.engine = AcdEngine(routing_queues(overflows=True), self.configs)
        self.heap: list[tuple[float, int, str, str, str, int]] = []
        self.seq = self.joined = self.offer_no = 0
        self.on_line: set[str] = set()                 # callers holding a channel
        self.waiting: set[str] = set()                 # not yet answered, caller on the line
        self.ringing: dict[str, tuple[tuple[str, ...], int]] = {}
        self.phone: dict[str, str] = {}                # agent → "ringing" | "off_hook" (absent: idle)
        self.state: dict[str, AgentState] = {}         # by the engine's AgentStateChanged
        self.connected: dict[str, str] = {}            # call → agent, talking
        self.dialing: dict[str, str] = {}              # callback call → agent
        self.ends: Counter[str] = Counter()
        self.joined_ids: set[str] = set()
        self.bad = Counter()
        self.kinds = Counter()
        self.inputs = 0

    def push(self, at: float, kind: str, call_id: str = "", agent_id: str = "", number: int = 0) -> None:
        heapq.heappush(self.heap, (at, self.seq, kind, call_id, agent_id, number))
        self.seq += 1

    def leave_line(self, call_id: str, now: float) -> None:
        """The caller's channel is free: the next call takes it at once."""
        self.on_line.discard(call_id)
        self.waiting.discard(call_id)
        if self.joined < self.total:
            self.join(now)

    def join(self, now: float) -> None:
        self.joined += 1
        call_id = f"f{self.joined}"
        queue, priority = new_call(self.rng)
        self.on_line.add(call_id)
        self.waiting.add(call_id)
        self.engine.join(call_id, queue, now, priority=priority, caller="13800000000")
        self.inputs += 1
        self.push(now + self.rng.expovariate(1 / 150), "hang_up", call_id)
        if self.rng.random() < 0.03:
            self.push(now + 20, "callback", call_id)

    def drain(self, now: float) -> None:
        """Carry out what the engine asked, until it asks nothing more (a freed channel's
        new call is itself an input), and read its queue log."""
        while True:
            for event in self.engine.events():
                self.kinds[event.kind] += 1
                if event.kind == ev.JOINED:
                    self.joined_ids.add(event.call_id or "")
                elif event.kind in ev.CALL_ENDS and not (
                        event.kind == ev.OVERFLOWED and str(event.data["target"]).startswith("queue:")):
                    self.ends[event.call_id or ""] += 1  # an overflow into another queue is no end
            actions = self.engine.actions()
            if not actions:
                return
            for action in actions:
                self.act(action, now)

    def act(self, action: Action, now: float) -> None:
        if isinstance(action, AgentStateChanged):
            self.state[action.agent_id] = action.state
            if action.state is S.NOT_READY and action.reason == RING_NO_ANSWER:
                self.push(now + self.rng.uniform(10, 60), "ready", agent_id=action.agent_id)
        elif isinstance(action, Offer):
            if action.call_id in self.ringing:
                self.bad["second offer of a call still ringing"] += 1
            for agent_id in action.agent_ids:
                if self.state.get(agent_id) is not S.READY:
                    self.bad["offer to an agent not READY"] += 1
                if agent_id in self.phone:
                    self.bad["offer to a phone ringing or off-hook"] += 1
                self.phone[agent_id] = "ringing"
            self.offer_no += 1
            self.ringing[action.call_id] = (action.agent_ids, self.offer_no)
            for agent_id in action.agent_ids:
                luck = self.rng.random()
                if luck < 0.03:
                    continue  # this phone rings out
                kind = "decline" if luck < 0.05 else "answer"
                self.push(now + self.rng.uniform(0.5, 6), kind, action.call_id, agent_id, self.offer_no)
        elif isinstance(action, CancelOffer):
            for agent_id in action.agent_ids:
                self.phone.pop(agent_id, None)
            ringing = self.ringing.get(action.call_id)
            if ringing is not None:
                left = tuple(a for a in ringing[0] if a not in action.agent_ids)
                if left:
                    self.ringing[action.call_id] = (left, ringing[1])
                else:
                    del self.ringing[action.call_id]
        elif isinstance(action, Connected):
            self.waiting.discard(action.call_id)
            self.dialing.pop(action.call_id, None)
            self.connected[action.call_id] = action.agent_id
            self.push(now + self.rng.expovariate(1 / 90), "end", action.call_id)
        elif isinstance(action, CallbackDue):
            self.dialing[action.call_id] = action.agent_id
            self.push(now + self.rng.uniform(3, 20), "callback_result", action.call_id,
                      number=int(self.rng.random() < 0.7))
        elif isinstance(action, Overflow) and action.rule.kind != "queue":
            if action.call_id in self.on_line:
                self.leave_line(action.call_id, now)

    def step(self, now: float, kind: str, call_id: str, agent_id: str, number: int) -> None:
        engine = self.engine
        ringing = self.ringing.get(call_id)
        if kind in ("answer", "decline"):
            if ringing is None or ringing[1] != number or agent_id not in ringing[0]:
                return  # that ring already ended
            if kind == "answer":
                del self.ringing[call_id]
                for other in ringing[0]:
                    self.phone.pop(other, None)
                self.phone[agent_id] = "off_hook"
                engine.answered(call_id, agent_id, now)
            else:
                left = tuple(a for a in ringing[0] if a != agent_id)
                if left:
                    self.ringing[call_id] = (left, number)
                else:
                    del self.ringing[call_id]
                self.phone.pop(agent_id, None)
                engine.declined(call_id, agent_id, now)
        elif kind == "end":
            agent = self.connected.pop(call_id)
            self.phone.pop(agent, None)
            if self.rng.random() < 0.05:
                engine.transferred(call_id, now, to="8001")
            else:
                engine.completed(call_id, now, by=self.rng.choice(("caller", "agent")))
            if call_id in self.on_line:
                self.leave_line(call_id, now)
        elif kind in ("hang_up", "callback"):
            if call_id not in self.waiting:  # answered, gone, or already a callback
                return
            self.ringing.pop(call_id, None)
            if kind == "hang_up":
                engine.abandon(call_id, now)
            else:
                engine.request_callback(call_id, "13912345678", now)
            self.leave_line(call_id, now)
        elif kind == "callback_result":
            agent = self.dialing.pop(call_id)
            engine.callback_result(call_id, now, reached=bool(number))
            if not number:
                self.phone.pop(agent, None)
        elif kind == "ready":
            if self.state.get(agent_id) is S.NOT_READY:
                engine.set_ready(agent_id, now)
        elif kind == "break":
            self.take_break(now)
        elif kind == "login":
            engine.login(agent_id, now)
        self.inputs += 1

    def take_break(self, now: float) -> None:
        """Some agent pauses for a while, or logs out and back in (not during a call)."""
        if self.joined >= self.total:
            return
        self.push(now + self.rng.expovariate(1 / 20), "break")
        agent_id = self.rng.choice(self.configs).agent_id
        state = self.state.get(agent_id)
        if state in (S.READY, S.WRAPUP, S.RINGING) and self.rng.random() < 0.2:
            self.engine.logout(agent_id, now)
            self.push(now + self.rng.uniform(30, 300), "login", agent_id=agent_id)
        elif state in (S.READY, S.WRAPUP):
            self.engine.set_not_ready(agent_id, "休息", now)
            self.push(now + self.rng.uniform(30, 180), "ready", agent_id=agent_id)

    def run(self) -> float:
        engine = self.engine
        for a in self.configs:
            engine.login(a.agent_id, 0.0)
        self.drain(0.0)
        now = 0.0
        for _ in range(self.CHANNELS):
            self.join(now)
        self.drain(now)
        self.push(1.0, "break")
        while True:
            timer = engine.get_timer()
            if self.heap and (timer is None or self.heap[0][0] < timer):
                now, _, kind, call_id, agent_id, number = heapq.heappop(self.heap)
                self.step(now, kind, call_id, agent_id, number)
            elif timer is not None:
                now = timer
                engine.handle_timer(now)
                self.inputs += 1
            else:
                break
            self.drain(now)
        return now


def bench_full_load(calls: int) -> None:
    load = FullLoad(calls)
    started = time.perf_counter()
    end = load.run()
    seconds = time.perf_counter() - started
    # Every call the simulated callers placed, whether or not the log shows it joining.
    not_once = sum(1 for n in range(1, load.joined + 1) if load.ends[f"f{n}"] != 1)
    unknown = sum(1 for call_id in load.ends if call_id not in load.joined_ids)
    stuck_calls = len(load.engine.waiting())
    snapshot = load.engine.snapshot(end)
    stuck_agents = sum(len(snapshot.agents[state]) for state in (S.RINGING, S.BUSY, S.WRAPUP))
    k = load.kinds
    print(f"(b) 60-channel full load: {load.joined} calls on 30 agents, 60 on the line at every moment, "
          f"{end / 3600:.0f} h simulated in {seconds:.1f} s ({load.inputs / seconds:.0f} engine inputs/s)")
    print(f"    outcomes: completed {k[ev.COMPLETED]}, transferred {k[ev.TRANSFERRED]}, abandoned "
          f"{k[ev.ABANDONED]}, overflowed {k[ev.OVERFLOWED]} (into another queue "
          f"{k[ev.JOINED] - load.joined}), callbacks requested {k[ev.CALLBACK_REQUESTED]} "
          f"(failed {k[ev.CALLBACK_FAILED]}), ring-no-answer {k[ev.RING_NO_ANSWER]}, pauses {k[ev.PAUSED]}, "
          f"log-outs {k[ev.LOGGED_OUT]}")
    print(f"    calls lost (joined, did not end exactly once): {not_once}   (must be 0)")
    for what in ("offer to an agent not READY", "offer to a phone ringing or off-hook",
                 "second offer of a call still ringing"):
        print(f"    {what}: {load.bad[what]}   (must be 0)")
    print(f"    ends of calls never joined: {unknown}; left in the engine after draining: "
          f"{stuck_calls} calls, {stuck_agents} agents ringing/busy/in wrap-up   (must be 0)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=4000, help="matching inputs timed in (a)")
    parser.add_argument("--calls", type=int, default=100_000, help="calls through (b)")
    parser.add_argument("--no-erlang", action="store_true", help="skip (c)")
    args = parser.parse_args(argv)
    print(f"bench/acd.py: Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs")
    bench_routing(args.ops)
    bench_full_load(args.calls)
    if not args.no_erlang:
        started = time.perf_counter()
        table = comparison_table(compare())
        print(f"(c) {table}\n    ({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
