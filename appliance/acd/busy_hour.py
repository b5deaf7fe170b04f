"""A busy hour on the real AcdEngine, measured from its queue log and set against Erlang C / A.

A seeded discrete-event simulation on a virtual clock (sans-I/O: nothing sleeps) plays
the callers and the agents' phones around an ``AcdEngine`` with one queue: calls arrive
as a Poisson stream, each caller hangs up after an exponential patience if no agent has
answered by then, the offered agent lifts the phone ``ring_delay`` seconds after the
ring starts, talks for an exponential time of mean ``aht``, and goes through the queue's
wrap-up. The engine's own timers (penalty steps, wrap-up ends) are handled when due.
The queue log it writes goes to ``metrics.queue_metrics`` and ``metrics.agent_occupancy``
— the figures a centre would report — and the same parameters go to ``erlang``: Erlang C
when nobody hangs up (``patience = math.inf``), Erlang A otherwise.

**The model's handle time** is ``aht + wrapup + ring_delay``, the seconds an agent is
taken per answered call, and ``traffic`` (Erlangs) = arrival rate × that. The waits the
log reports run to the answer, so the model's are shifted by ``ring_delay``. With
``wrapup = ring_delay = 0`` the simulation *is* M/M/N(+M) and the prediction is exact;
otherwise part of the handle time is constant, not exponential, and callers may hang up
while a phone rings — the prediction is then an approximation, shown as such.

**Standard errors** are batch means: the measured window (after a warm-up, up to the
last arrival) is cut into ``batches`` equal spans of time, each figure is computed per
span over the calls that joined in it, and s.e. = their standard deviation ÷ √batches.
Successive callers' waits are correlated, so a binomial s.e. would be too small. Every
call that joined in the window is followed to its end, so none is left "waiting".

    result = simulate(Scenario("C 10/8", agents=10, traffic=8.0))
    result.measured.service_level      # Estimate(value=…, se=…)
    result.deviation("service_level")  # (measured − predicted) ÷ s.e.
    print(comparison_table(compare()))

``python -m appliance.acd.busy_hour`` prints the comparison table of ``DEFAULT_SCENARIOS``.
"""

from __future__ import annotations

import heapq
import math
import random
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from appliance.acd import events as ev
from appliance.acd.actions import AgentStateChanged, CancelOffer, Connected, Offer
from appliance.acd.engine import AcdEngine
from appliance.acd.erlang import ErlangA, erlang_c, erlang_c_asa, erlang_c_service_level
from appliance.acd.events import QueueEvent
from appliance.acd.metrics import QueueMetrics, agent_occupancy, overall_occupancy, queue_metrics
from appliance.acd.model import AgentConfig, AgentState, QueueConfig

QUEUE = "busy_hour"
RING_TIMEOUT = 15.0          # the queue's ring timeout; an agent always answers before it
WARMUP_HANDLE_TIMES = 50     # default warm-up: the system forgets its empty start long before
FIGURES = ("service_level", "asa", "abandon_rate", "p_wait", "occupancy")
_WORKING = frozenset({AgentState.RINGING, AgentState.BUSY, AgentState.WRAPUP})
_ARRIVE, _ANSWER, _HANG_UP, _END = 0, 1, 2, 3  # simulation event kinds (heap entries)


class BusyHourError(ValueError):
    """A bad scenario parameter: the message names the field and says why."""


def _number(name: str, value: object, *, low: float, inclusive: bool, infinite: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise BusyHourError(f"{name}: must be a number, got {value!r}")
    if math.isinf(value) and not (infinite and value > 0):
        raise BusyHourError(f"{name}: must be finite, got {value!r}")
    if value < low or (value == low and not inclusive):
        raise BusyHourError(f"{name}: must be {'≥' if inclusive else '>'} {low:g}, got {value!r}")
    return float(value)


def _figure(name: str) -> str:
    if name not in FIGURES:
        raise BusyHourError(f"figure: {name!r} is not one of {', '.join(FIGURES)}")
    return name


def _whole(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise BusyHourError(f"{name}: must be a whole number ≥ {low}, got {value!r}")
    return value


@dataclass(frozen=True)
class Scenario:
    """One queue's busy hour: N agents, ``traffic`` Erlangs offered, exponential talk of mean
    ``aht`` s, exponential patience of mean ``patience`` s (``math.inf``: nobody hangs up)."""

    name: str
    agents: int
    traffic: float                  # Erlangs: arrival rate × (aht + wrapup + ring_delay)
    aht: float = 180.0              # mean talk time, seconds
    patience: float = math.inf
    wrapup: float = 0.0             # constant, the queue's wrap-up
    ring_delay: float = 0.0         # the agent lifts the phone this long after the ring starts
    target: float = 20.0            # service level target, seconds
    short_abandon: float = 5.0      # as QueueConfig: shorter abandons are not judged
    calls: int = 40_000             # arrivals simulated, warm-up included
    seed: int = 1
    batches: int = 20
    warmup: float | None = None     # seconds left out at the start (None: 50 handle times)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise BusyHourError(f"name: must be a non-empty string, got {self.name!r}")
        _whole("agents", self.agents, 1)
        _number("traffic", self.traffic, low=0.0, inclusive=False)
        _number("aht", self.aht, low=0.0, inclusive=False)
        _number("patience", self.patience, low=0.0, inclusive=False, infinite=True)
        _number("wrapup", self.wrapup, low=0.0, inclusive=True)
        _number("ring_delay", self.ring_delay, low=0.0, inclusive=True)
        if self.ring_delay >= RING_TIMEOUT:
            raise BusyHourError(f"ring_delay: must be < the ring timeout ({RING_TIMEOUT:g} s), "
                                f"got {self.ring_delay!r}")
        _number("target", self.target, low=0.0, inclusive=False)
        _number("short_abandon", self.short_abandon, low=0.0, inclusive=True)
        _whole("batches", self.batches, 2)
        _whole("calls", self.calls, 20 * self.batches)
        _whole("seed", self.seed, 0)
        if self.warmup is not None:
            _number("warmup", self.warmup, low=0.0, inclusive=True)
        if math.isinf(self.patience) and self.traffic >= self.agents:
            raise BusyHourError(f"traffic: {self.traffic:g} Erlangs on {self.agents} agents with "
                                "patience = inf grows the queue without bound (must be < agents)")

    @property
    def handle(self) -> float:
        """Seconds an agent is taken per answered call: the model's handle time."""
        return self.aht + self.wrapup + self.ring_delay

    @property
    def rate(self) -> float:
        """Arrivals per second."""
        return self.traffic / self.handle

    @property
    def warmup_s(self) -> float:
        return WARMUP_HANDLE_TIMES * self.handle if self.warmup is None else float(self.warmup)

    @property
    def exact(self) -> bool:
        """True when the simulation is the model itself (no constant part in the handle time)."""
        return self.wrapup == 0 and self.ring_delay == 0


@dataclass(frozen=True)
class Prediction:
    model: str                # "Erlang C" or "Erlang A"
    service_level: float      # answered within target ÷ (calls − short abandons)
    asa: float                # mean wait of the answered, seconds
    abandon_rate: float       # (abandoned − short) ÷ (calls − short abandons)
    p_wait: float             # an arriving call finds no agent free
    occupancy: float          # agents' time ringing, talking, wrapping up

    def figure(self, name: str) -> float:
        return float(getattr(self, _figure(name)))


@dataclass(frozen=True)
class Estimate:
    value: float
    se: float                 # batch-means standard error


@dataclass(frozen=True)
class Measured:
    calls: int                # calls that joined in the window, each followed to its end
    service_level: Estimate
    asa: Estimate
    abandon_rate: Estimate
    p_wait: Estimate
    occupancy: Estimate       # agent_occupancy over the window; s.e. from the phones' view
    phones_occupancy: float   # the same figure from the engine's AgentStateChanged actions
    metrics: QueueMetrics     # queue_metrics over the window
    start: float              # the window, virtual seconds
    end: float

    def figure(self, name: str) -> Estimate:
        value = getattr(self, _figure(name))
        assert isinstance(value, Estimate)
        return value


@dataclass(frozen=True)
class BusyHourResult:
    scenario: Scenario        # what was simulated
    model: Scenario           # what was predicted (the planner's assumption)
    measured: Measured
    predicted: Prediction

    def deviation(self, name: str) -> float:
        """(measured − predicted) ÷ s.e. of figure NAME (0 when both agree exactly)."""
        estimate, predicted = self.measured.figure(name), self.predicted.figure(name)
        difference = estimate.value - predicted
        if estimate.se > 0:
            return difference / estimate.se
        return 0.0 if abs(difference) < 1e-12 else math.copysign(math.inf, difference)

    def agrees(self, name: str, *, tolerance: float, sigmas: float = 4.0) -> bool:
        """Measured within SIGMAS s.e. of the prediction and within TOLERANCE (absolute, in
        the figure's unit: a fraction, or seconds for ASA) of it."""
        difference = abs(self.measured.figure(name).value - self.predicted.figure(name))
        return abs(self.deviation(name)) <= sigmas and difference <= tolerance


def predict(scenario: Scenario) -> Prediction:
    """Erlang C (patience = inf) or Erlang A for SCENARIO, in the queue log's terms."""
    s = scenario
    shift = s.ring_delay                  # the log's waits run to the answer
    target = s.target - shift             # < 0: the ring alone outlasts the target
    if math.isinf(s.patience):
        level = erlang_c_service_level(s.rate, s.handle, s.agents, target) if target >= 0 else 0.0
        return Prediction("Erlang C", level, erlang_c_asa(s.rate, s.handle, s.agents) + shift, 0.0,
                          erlang_c(s.traffic, s.agents), s.traffic / s.agents)
    model = ErlangA(s.rate, s.handle, s.agents, s.patience)
    short = model.p_abandoned_within(s.short_abandon)
    level = model.service_level(target, short_abandon=s.short_abandon) if target >= 0 else 0.0
    return Prediction("Erlang A", level, model.asa + shift, (model.p_abandon - short) / (1.0 - short),
                      model.p_wait, model.occupancy)


# --- the simulation ------------------------------------------------------------------------


class _BusyHour:
    """The callers and the agents' phones around one AcdEngine, on a virtual clock."""

    def __init__(self, s: Scenario) -> None:
        self.s = s
        queue = QueueConfig(QUEUE, wrapup=s.wrapup, ring_timeout=RING_TIMEOUT,
                            short_abandon=s.short_abandon, service_level_target=s.target)
        self.agent_ids = [str(1001 + i) for i in range(s.agents)]
        self.engine = AcdEngine([queue], [AgentConfig(agent_id, f"坐席{i + 1}", skills={QUEUE: 0})
                                          for i, agent_id in enumerate(self.agent_ids)])
        # One stream per source of chance: changing N or the patience keeps the same callers.
        arrivals = random.Random(f"{s.seed}:arrivals")
        self.talk = random.Random(f"{s.seed}:talk")
        self.patience = random.Random(f"{s.seed}:patience")
        at, self.arrivals = 0.0, []
        for _ in range(s.calls):
            at += arrivals.expovariate(s.rate)
            self.arrivals.append(at)
        self.heap: list[tuple[float, int, int, str, str, int]] = []
        self.seq = 0
        self.waiting: set[str] = set()                 # joined, not yet answered: may hang up
        self.ringing: dict[str, tuple[str, int]] = {}  # call → (agent, offer number)
        self.offers = 0
        self.working: dict[str, bool] = {}
        self.work_changes: list[tuple[float, int]] = []  # (at, agents working from then on)

    def push(self, at: float, kind: int, call_id: str, agent_id: str = "", number: int = 0) -> None:
        """NUMBER: the arrival's index for _ARRIVE, the offer's for _ANSWER."""
        heapq.heappush(self.heap, (at, self.seq, kind, call_id, agent_id, number))
        self.seq += 1

    def run(self) -> list[QueueEvent]:
        engine = self.engine
        for agent_id in self.agent_ids:
            engine.login(agent_id, 0.0)
        self.carry_out(0.0)
        self.push(self.arrivals[0], _ARRIVE, "c0", number=0)
        while True:
            timer = engine.get_timer()
            if self.heap and (timer is None or self.heap[0][0] < timer):
                now, _, kind, call_id, agent_id, number = heapq.heappop(self.heap)
                self.step(now, kind, call_id, agent_id, number)
            elif timer is not None:
                now = timer
                engine.handle_timer(now)
            else:
                break
            self.carry_out(now)
        return engine.events()

    def step(self, now: float, kind: int, call_id: str, agent_id: str, number: int) -> None:
        engine = self.engine
        if kind == _ARRIVE:
            if number + 1 < self.s.calls:
                self.push(self.arrivals[number + 1], _ARRIVE, f"c{number + 1}", number=number + 1)
            self.waiting.add(call_id)
            engine.join(call_id, QUEUE, now)
            if not math.isinf(self.s.patience):
                self.push(now + self.patience.expovariate(1.0 / self.s.patience), _HANG_UP, call_id)
        elif kind == _ANSWER:
            if self.ringing.get(call_id) == (agent_id, number):
                del self.ringing[call_id]
                engine.answered(call_id, agent_id, now)
        elif kind == _HANG_UP:
            if call_id in self.waiting:
                self.waiting.discard(call_id)
                self.ringing.pop(call_id, None)
                engine.abandon(call_id, now)
        else:
            engine.completed(call_id, now, by="caller")

    def carry_out(self, now: float) -> None:
        for action in self.engine.actions():
            if isinstance(action, AgentStateChanged):
                working = action.state in _WORKING
                if working != self.working.get(action.agent_id, False):
                    self.working[action.agent_id] = working
                    count = self.work_changes[-1][1] if self.work_changes else 0
                    self.work_changes.append((now, count + (1 if working else -1)))
            elif isinstance(action, Offer):
                self.offers += 1
                agent_id = action.agent_ids[0]
                self.ringing[action.call_id] = (agent_id, self.offers)
                self.push(now + self.s.ring_delay, _ANSWER, action.call_id, agent_id, self.offers)
            elif isinstance(action, CancelOffer):
                self.ringing.pop(action.call_id, None)
            elif isinstance(action, Connected):
                self.waiting.discard(action.call_id)
                self.push(now + self.talk.expovariate(1.0 / self.s.aht), _END, action.call_id)
            else:  # no max wait, announcements or callbacks in this queue
                raise AssertionError(f"busy hour: unexpected action {action!r}")


def _work_by_batch(changes: Sequence[tuple[float, int]], edges: Sequence[float]) -> list[float]:
    """Agent-seconds of work in each span [edges[i], edges[i + 1]) from the step function CHANGES."""
    spans = [0.0] * (len(edges) - 1)
    for (at, count), (until, _) in zip(changes, [*changes[1:], (edges[-1], 0)], strict=True):
        if count == 0 or until <= edges[0] or at >= edges[-1]:
            continue
        lo, hi = max(at, edges[0]), min(until, edges[-1])
        i = max(0, min(len(spans) - 1, int((lo - edges[0]) / (edges[1] - edges[0]))))
        while i < len(spans) and lo < hi:
            top = min(hi, edges[i + 1])
            if top > lo:
                spans[i] += count * (top - lo)
                lo = top
            i += 1
    return spans


def _estimate(value: float, per_batch: Iterable[float | None]) -> Estimate:
    values = [v for v in per_batch if v is not None]
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) >= 2 else math.inf
    return Estimate(value, se)


@dataclass(frozen=True)
class BusyHourLog:
    """What a run left: the engine's queue log and the phones' view of the agents."""

    events: tuple[QueueEvent, ...]
    work_changes: tuple[tuple[float, int], ...]  # (at, agents ringing/busy/in wrap-up from then on)
    last_arrival: float                           # the measured window ends here


def run_busy_hour(scenario: Scenario) -> BusyHourLog:
    """Simulate SCENARIO on a fresh AcdEngine until every call has ended."""
    hour = _BusyHour(scenario)
    events = hour.run()
    return BusyHourLog(tuple(events), tuple(hour.work_changes), hour.arrivals[-1])


def measure(scenario: Scenario, run: BusyHourLog) -> Measured:
    """The figures of a busy hour's queue log over its window, with batch-means s.e."""
    s, log, work_changes = scenario, run.events, run.work_changes
    start, end = s.warmup_s, run.last_arrival
    if end - start < 0.5 * end:
        raise BusyHourError(f"warmup: {start:g} s is more than half of the {end:g} s simulated "
                            "(raise calls or lower warmup)")
    width = (end - start) / s.batches
    edges = [start + i * width for i in range(s.batches)] + [end]
    batch_of: dict[str, int] = {}
    first_offer: dict[str, float | None] = {}
    joined_at: dict[str, float] = {}
    per_batch: list[list[QueueEvent]] = [[] for _ in range(s.batches)]
    for event in log:
        call_id = event.call_id
        if call_id is None:
            continue
        if event.kind == ev.JOINED and start <= event.at < end:
            batch_of[call_id] = min(s.batches - 1, int((event.at - start) / width))
            joined_at[call_id], first_offer[call_id] = event.at, None
        elif event.kind == ev.OFFERED and call_id in first_offer and first_offer[call_id] is None:
            first_offer[call_id] = event.at
        batch = batch_of.get(call_id)
        if batch is not None:
            per_batch[batch].append(event)

    def judged(m: QueueMetrics) -> dict[str, float | None]:
        return {"service_level": m.service_level, "asa": m.asa, "abandon_rate": m.abandon_rate}

    overall = queue_metrics(log, start=start, end=end, service_level_target=s.target,
                            short_abandon=s.short_abandon)
    batches = [judged(queue_metrics(events, service_level_target=s.target, short_abandon=s.short_abandon))
               for events in per_batch]
    # Waited: not offered the moment it joined (an agent free at once is offered in the same input).
    waited = [[0, 0] for _ in range(s.batches)]
    for call_id, batch in batch_of.items():
        offered = first_offer[call_id]
        waited[batch][0] += offered is None or offered > joined_at[call_id]
        waited[batch][1] += 1
    total_waited = sum(w for w, _ in waited)
    work = _work_by_batch(work_changes, edges)
    occupancy = overall_occupancy(agent_occupancy(log, start=start, end=end)).occupancy
    est = {name: _estimate(float(getattr(overall, name) or 0.0), [b[name] for b in batches])
           for name in ("service_level", "asa", "abandon_rate")}
    return Measured(
        calls=overall.offered,
        p_wait=_estimate(total_waited / len(batch_of), [w / n if n else None for w, n in waited]),
        occupancy=_estimate(float(occupancy or 0.0),
                            [w / (s.agents * (edges[i + 1] - edges[i])) for i, w in enumerate(work)]),
        phones_occupancy=sum(work) / (s.agents * (end - start)),
        metrics=overall, start=start, end=end, **est)


def simulate(scenario: Scenario, *, model: Scenario | None = None) -> BusyHourResult:
    """Run SCENARIO on the real engine; predict from MODEL (default: the same scenario).

    A MODEL different from what was simulated is a planner's wrong assumption (agents
    slower than planned, callers less patient): the comparison should then fail.
    """
    if not isinstance(scenario, Scenario) or (model is not None and not isinstance(model, Scenario)):
        raise BusyHourError("scenario/model: must be Scenario objects")
    measured = measure(scenario, run_busy_hour(scenario))
    return BusyHourResult(scenario, model or scenario, measured, predict(model or scenario))


# --- the comparison table ------------------------------------------------------------------


# Each row its own seed, so that the rows' deviations are independent of one another.
DEFAULT_SCENARIOS = (
    Scenario("Erlang C, 80 % load", agents=10, traffic=8.0, seed=1),
    Scenario("Erlang A, overload, patience 120 s", agents=10, traffic=11.0, patience=120.0, seed=2),
    Scenario("Erlang A, patience 300 s", agents=10, traffic=9.0, patience=300.0, seed=3),
    Scenario("Erlang C, small team", agents=3, traffic=2.0, calls=20_000, seed=4),
    Scenario("Erlang C, wrap-up 30 s (approx.)", agents=10, traffic=8.0, aht=150.0, wrapup=30.0, seed=5),
    Scenario("Erlang A, ring 4 s (approx.)", agents=10, traffic=9.0, aht=176.0, ring_delay=4.0,
             patience=180.0, seed=6),
)


@dataclass(frozen=True)
class Compared:
    predicted: float
    measured: float
    se: float
    deviation: float          # (measured − predicted) ÷ s.e.


@dataclass(frozen=True)
class ComparisonRow:
    scenario: str
    model: str
    agents: int
    traffic: float
    calls: int                # measured calls
    exact: bool               # the simulation is the model (no constant handle time)
    service_level: Compared
    asa: Compared
    abandon_rate: Compared


def row(result: BusyHourResult) -> ComparisonRow:
    def compared(name: str) -> Compared:
        estimate = result.measured.figure(name)
        return Compared(result.predicted.figure(name), estimate.value, estimate.se, result.deviation(name))

    s = result.scenario
    return ComparisonRow(s.name, result.predicted.model, s.agents, s.traffic, result.measured.calls,
                         s.exact and result.model == s, compared("service_level"), compared("asa"),
                         compared("abandon_rate"))


def compare(scenarios: Iterable[Scenario] = DEFAULT_SCENARIOS) -> list[ComparisonRow]:
    """Simulate each scenario and set it against its own prediction: the rows of the table."""
    return [row(simulate(s)) for s in scenarios]


def comparison_table(rows: Iterable[ComparisonRow]) -> str:
    """The rows as a fixed-width text table (SL at each scenario's target, ASA in seconds)."""
    rows = list(rows)
    lines = ["Erlang 对照表 / Erlang comparison table — predicted vs measured on the real AcdEngine "
             "(Δ = (measured − predicted) ÷ batch-means s.e.)",
             f"{'scenario':<36} {'model':<8} {'N':>3} {'A (Erl)':>7} {'calls':>6}  "
             f"{'SL pred':>7} {'SL meas':>7} {'Δ s.e.':>6}  {'ASA pred':>8} {'ASA meas':>8} {'Δ s.e.':>6}  "
             f"{'aband pred':>10} {'aband meas':>10} {'Δ s.e.':>6}"]
    for r in rows:
        sl, asa, ab = r.service_level, r.asa, r.abandon_rate
        lines.append(
            f"{r.scenario:<36} {r.model:<8} {r.agents:>3} {r.traffic:>7.2f} {r.calls:>6}  "
            f"{sl.predicted:>7.3f} {sl.measured:>7.3f} {sl.deviation:>+6.1f}  "
            f"{asa.predicted:>8.1f} {asa.measured:>8.1f} {asa.deviation:>+6.1f}  "
            f"{ab.predicted:>10.3f} {ab.measured:>10.3f} {ab.deviation:>+6.1f}")
    if any(not r.exact for r in rows):
        lines.append("(approx.): constant wrap-up or ring time — the Erlang model is an approximation there")
    return "\n".join(lines)


if __name__ == "__main__":
    print(comparison_table(compare()))
