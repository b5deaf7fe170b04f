"""Erlang B, Erlang C and Erlang A (M/M/N+M): how many agents a queue needs.

For planners (how many agents for 80 % answered within 20 s) and for our tests (the
ACD engine, driven by random calls, must agree with these). Units are the caller's: if
``rate`` is calls per second then ``aht``, ``target`` and ``patience`` are seconds.

- **Erlang B** (M/M/N/N): the probability that a call finds all N lines busy and is lost.
- **Erlang C** (M/M/N): callers wait for ever; ``erlang_c`` is the probability of waiting.
- **Erlang A** (M/M/N+M): callers wait, but each hangs up after an exponential patience
  of mean ``patience`` if no agent has answered by then — the model that fits real
  centres, where the queue never grows without bound. Computed from the birth–death
  chain of the number of calls in the centre; waiting times from the death process seen
  by one arriving caller (see ``ErlangA``).

Every figure is the long-run (stationary) value. Bad input raises ``ErlangError``
naming the argument.
"""

from __future__ import annotations

import math
import numbers
from typing import NoReturn

import numpy as np

# The birth–death chain is cut where the probability of a longer queue is below this.
TAIL_PROBABILITY = 1e-12
# A chain longer than this means a patience so long, against an overload so heavy, that
# the queue is effectively unbounded: Erlang A is the wrong question then.
MAX_QUEUE_STATES = 1_000_000
# Uniformisation stops when the Poisson tail, or the mass still waiting, is below this.
_UNIFORMISATION_EPS = 1e-14


class ErlangError(ValueError):
    """A bad argument to an Erlang formula; the message names it and says why."""


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ErlangError(f"{name}: must be a number, got {value!r}")
    if math.isnan(value):
        raise ErlangError(f"{name}: must be a number, got NaN")
    return float(value)


def _non_negative(name: str, value: object) -> float:
    number = _number(name, value)
    if number < 0 or math.isinf(number):
        raise ErlangError(f"{name}: must be finite and ≥ 0, got {value!r}")
    return number


def _positive(name: str, value: object) -> float:
    number = _number(name, value)
    if number <= 0 or math.isinf(number):
        raise ErlangError(f"{name}: must be finite and > 0, got {value!r}")
    return number


def _agents(value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ErlangError(f"agents: must be a whole number, got {value!r}")
    if value < minimum:
        raise ErlangError(f"agents: must be ≥ {minimum}, got {value}")
    return int(value)


def _probability(value: float) -> float:
    """Rounding can leave a sum of probabilities a hair outside [0, 1]."""
    return min(1.0, max(0.0, value))


def erlang_b(traffic: float, agents: int) -> float:
    """Blocking probability of ``traffic`` Erlangs offered to ``agents`` lines (M/M/N/N).

    By the recursion B(0) = 1, B(k) = A·B(k−1) / (k + A·B(k−1)): no factorials, no
    powers, stable for thousands of lines.
    """
    offered = _non_negative("traffic", traffic)
    lines = _agents(agents, minimum=0)
    blocking = 1.0
    for k in range(1, lines + 1):
        blocking = offered * blocking / (k + offered * blocking)
    return blocking


def erlang_c(traffic: float, agents: int) -> float:
    """Probability that a call must wait (M/M/N, callers never hang up).

    ``traffic`` A = arrival rate × mean handle time, in Erlangs. With A ≥ N the queue
    grows without bound and every caller waits: 1.0. Computed from Erlang B as
    C = N·B / (N − A·(1 − B)).
    """
    offered = _non_negative("traffic", traffic)
    servers = _agents(agents)
    if offered >= servers:
        return 1.0
    blocking = erlang_b(offered, servers)
    return servers * blocking / (servers - offered * (1.0 - blocking))


def erlang_c_service_level(rate: float, aht: float, agents: int, target: float) -> float:
    """Fraction of calls answered within ``target`` (M/M/N): 1 − C·exp(−(Nμ − λ)·T).

    ``rate`` λ is calls per unit time, ``aht`` 1/μ the mean handle time (talk + wrap-up).
    0.0 when the centre is overloaded (λ·aht ≥ N).
    """
    arrivals = _non_negative("rate", rate)
    handle = _positive("aht", aht)
    servers = _agents(agents)
    wait_target = _non_negative("target", target)
    traffic = arrivals * handle
    if traffic >= servers:
        return 0.0
    waiting = erlang_c(traffic, servers)
    return 1.0 - waiting * math.exp(-(servers - traffic) * wait_target / handle)


def erlang_c_asa(rate: float, aht: float, agents: int) -> float:
    """Mean wait over all calls, answered at once or not (M/M/N): C·aht / (N − A).

    In Erlang C every call is answered, so this is the ASA. ``math.inf`` when overloaded.
    """
    arrivals = _non_negative("rate", rate)
    handle = _positive("aht", aht)
    servers = _agents(agents)
    traffic = arrivals * handle
    if traffic >= servers:
        return math.inf
    return erlang_c(traffic, servers) * handle / (servers - traffic)


def agents_for_service_level(rate: float, aht: float, target: float, level: float) -> int:
    """The planner's question: the fewest agents answering ``level`` of calls within ``target``.

    E.g. ``agents_for_service_level(100 / 1800, 180, 20, 0.8)`` — 100 calls per half
    hour, 3 minutes each, 80 % within 20 s. Erlang C: callers assumed never to hang up,
    which errs on the safe side (more agents than Erlang A would ask for).
    """
    arrivals = _non_negative("rate", rate)
    handle = _positive("aht", aht)
    wait_target = _non_negative("target", target)
    wanted = _number("level", level)
    if not 0.0 < wanted < 1.0:
        raise ErlangError(f"level: must be a fraction between 0 and 1 (exclusive), got {level!r}")
    servers = max(1, math.floor(arrivals * handle) + 1)
    # The service level rises towards 1 with every agent added, so this ends.
    while erlang_c_service_level(arrivals, handle, servers, wait_target) < wanted:
        servers += 1
    return servers


class ErlangA:
    """M/M/N+M: Poisson arrivals at ``rate``, N = ``agents``, exponential handle times of
    mean ``aht``, and each waiting caller hangs up after an exponential patience of mean
    ``patience`` (``math.inf``: nobody hangs up, i.e. Erlang C; then λ·aht < N is needed).

    **The chain.** With n calls in the centre the arrival rate is λ and the departure
    rate min(n, N)·μ + max(n − N, 0)·θ (μ = 1/aht, θ = 1/patience). Its stationary law
    (states ≤ N through Erlang B, the queue states by the product of λ/(Nμ + jθ)) is cut
    where the remaining tail is below ``TAIL_PROBABILITY``. Arrivals see it (PASTA).

    **One caller's wait.** A caller who arrives with j calls queued ahead of it moves up
    when one of them is served or hangs up (rate a_j = Nμ + jθ; with none ahead, a_0 = Nμ
    is the rate at which it is answered) and meanwhile hangs up itself at rate θ: a
    pure death process j → j−1 → … → answered with rates a_j, each state also left to
    "abandoned" at rate θ. Means come from it in closed form; the distribution of the
    wait (``p_answered_within``) by uniformisation of that process, accurate to ~1e-12.

    **Service level.** Call centres differ on what they divide by. Here
    ``service_level(target)`` is the fraction of *all* arriving calls answered within
    ``target`` (a caller who hangs up counts as not answered) — ``p_answered_within``;
    with ``short_abandon`` it leaves out, as ``metrics.queue_metrics`` does, callers who
    hung up within ``short_abandon`` of arriving.
    """

    __slots__ = ("_arrival", "_service", "_abandon", "_agents", "_queue", "_ahead_rate",
                 "_p_served_from", "_p_wait", "_p_abandon", "_mean_wait", "_served_wait",
                 "_mean_queue")

    def __init__(self, rate: float, aht: float, agents: int, patience: float) -> None:
        self._arrival = _non_negative("rate", rate)
        handle = _positive("aht", aht)
        self._agents = _agents(agents)
        mean_patience = _number("patience", patience)
        if mean_patience <= 0:
            raise ErlangError(f"patience: must be > 0 (math.inf: nobody hangs up), got {patience!r}")
        self._service = 1.0 / handle
        self._abandon = 0.0 if math.isinf(mean_patience) else 1.0 / mean_patience
        traffic = self._arrival * handle
        if self._abandon == 0.0 and traffic >= self._agents:
            raise ErlangError(
                f"rate: {traffic:g} Erlangs on {self._agents} agents with patience = inf —"
                " nobody hangs up, so the queue grows without bound (λ·aht must be < agents)"
            )
        self._queue = self._queue_probabilities(erlang_b(traffic, self._agents))
        ahead = np.arange(self._queue.size, dtype=float)
        self._ahead_rate = self._agents * self._service + ahead * self._abandon
        leave_rate = self._ahead_rate + self._abandon
        self._p_served_from = np.cumprod(self._ahead_rate / leave_rate)
        # Mean time in queue from j ahead: m_j = 1/b_j + (a_j/b_j)·m_{j−1}.
        time_in_queue = np.empty_like(ahead)
        previous = 0.0
        for j in range(ahead.size):
            previous = (1.0 + self._ahead_rate[j] * previous) / leave_rate[j]
            time_in_queue[j] = previous
        # Given that it is answered, the caller's wait is the sum of the holding times 1/b_i.
        served_wait = self._p_served_from * np.cumsum(1.0 / leave_rate)
        self._p_wait = _probability(float(self._queue.sum()))
        self._p_abandon = _probability(float(self._queue @ (1.0 - self._p_served_from)))
        self._mean_wait = float(self._queue @ time_in_queue)
        self._served_wait = float(self._queue @ served_wait)
        self._mean_queue = float(self._queue @ ahead)

    def _queue_probabilities(self, blocking: float) -> np.ndarray:
        """π(N + j) for j = 0, 1, … queued, from π(N + j)/π(N) = ∏ λ/(Nμ + iθ), in logs."""
        if blocking == 0.0:  # no arrivals, or so many agents that nobody ever waits
            return np.zeros(1)
        base = self._agents * self._service
        if self._abandon > 0.0 and (self._arrival - base) / self._abandon > MAX_QUEUE_STATES:
            self._too_long()
        log_ratios = [0.0]  # log q_j, q_j = π(N + j)/π(N)
        # Total mass relative to π(N): the states 0 … N sum to 1/B (Erlang B).
        log_total = -math.log(blocking)
        while True:
            j = len(log_ratios)
            ratio = self._arrival / (base + j * self._abandon)
            if ratio < 1.0:
                # Later ratios are smaller still: the tail is below a geometric series.
                log_tail = log_ratios[-1] + math.log(ratio) - math.log1p(-ratio)
                if log_tail - log_total < math.log(TAIL_PROBABILITY):
                    break
            if j >= MAX_QUEUE_STATES:
                self._too_long()
            log_ratios.append(log_ratios[-1] + math.log(ratio))
            low, high = sorted((log_total, log_ratios[-1]))
            log_total = high + math.log1p(math.exp(low - high))
        return np.exp(np.asarray(log_ratios) - log_total)

    def _too_long(self) -> NoReturn:
        raise ErlangError(
            f"patience: {1.0 / self._abandon:g} is too long for this overload — the queue would"
            f" exceed {MAX_QUEUE_STATES} calls; ask Erlang A with a realistic patience"
        )

    @property
    def p_wait(self) -> float:
        """Probability that an arriving call finds every agent busy and must wait."""
        return self._p_wait

    @property
    def p_abandon(self) -> float:
        """Probability that an arriving call hangs up before it is answered."""
        return self._p_abandon

    @property
    def asa(self) -> float:
        """Average speed of answer: mean wait of the calls that are answered (0 for those
        answered at once), as a call centre reports it."""
        answered = 1.0 - self._p_abandon
        return self._served_wait / answered if answered > 0.0 else math.inf

    @property
    def mean_wait(self) -> float:
        """Mean time in queue over all arrivals, until answered or hung up (Little: E[Lq]/λ)."""
        return self._mean_wait

    @property
    def mean_queue_length(self) -> float:
        """E[Lq], the mean number of calls waiting."""
        return self._mean_queue

    @property
    def occupancy(self) -> float:
        """Fraction of agents' time on calls: λ·(1 − P(abandon))·aht / N."""
        return self._arrival * (1.0 - self._p_abandon) / (self._service * self._agents)

    def p_answered_within(self, target: float) -> float:
        """Fraction of all arriving calls answered with a wait ≤ ``target``."""
        answered, _abandoned = self._outcome_by(_non_negative("target", target))
        return _probability((1.0 - self._p_wait) + answered)

    def p_abandoned_within(self, wait: float) -> float:
        """Fraction of all arriving calls that hang up having waited ≤ ``wait``."""
        _answered, abandoned = self._outcome_by(_non_negative("wait", wait))
        return _probability(abandoned)

    def service_level(self, target: float, *, short_abandon: float = 0.0) -> float:
        """Calls answered within ``target`` ÷ calls offered, where "offered" leaves out those
        that hung up within ``short_abandon`` (0: all calls — then it is
        ``p_answered_within(target)``). See the class docstring for why this is spelled out.
        """
        answered = self.p_answered_within(target)
        short = self.p_abandoned_within(_non_negative("short_abandon", short_abandon))
        return answered / (1.0 - short)

    def _outcome_by(self, t: float) -> tuple[float, float]:
        """(P(wait, then answered by t), P(wait, then hung up by t)) by uniformisation."""
        if t == 0.0 or self._p_wait == 0.0:
            return 0.0, 0.0
        waiting = self._queue.copy()
        leave_rate = self._ahead_rate + self._abandon
        uniform = float(leave_rate.max())
        stay = 1.0 - leave_rate / uniform
        move_up = self._ahead_rate[1:] / uniform  # from j + 1 ahead to j ahead
        answer = self._ahead_rate[0] / uniform
        hang_up = self._abandon / uniform
        mean_steps = uniform * t
        log_mean = math.log(mean_steps)
        answered = abandoned = 0.0  # after n steps of the discrete chain
        total_answered = total_abandoned = weight_sum = 0.0
        n = 0
        while True:
            weight = math.exp(-mean_steps + n * log_mean - math.lgamma(n + 1))
            total_answered += weight * answered
            total_abandoned += weight * abandoned
            weight_sum += weight
            still = float(waiting.sum())
            if n > mean_steps:
                poisson_tail = weight * mean_steps / (n + 1 - mean_steps)
                if poisson_tail < _UNIFORMISATION_EPS or still < _UNIFORMISATION_EPS:
                    break
            elif still < _UNIFORMISATION_EPS:
                break
            answered += waiting[0] * answer
            abandoned += still * hang_up
            moved = waiting[1:] * move_up
            waiting *= stay
            waiting[:-1] += moved
            n += 1
        # The Poisson weights not summed yet multiply values that no longer change (or by
        # less than the tail bound): give them the last ones.
        rest = max(0.0, 1.0 - weight_sum)
        return total_answered + rest * answered, total_abandoned + rest * abandoned
