"""Erlang B/C against exact rational arithmetic and printed tables; Erlang A against an
independent simulation, an independent solve of the chain, closed forms and its limits."""

from __future__ import annotations

import heapq
import math
from decimal import Decimal, getcontext
from fractions import Fraction

import numpy as np
import pytest

from appliance.acd.erlang import (
    ErlangA,
    ErlangError,
    agents_for_service_level,
    erlang_b,
    erlang_c,
    erlang_c_asa,
    erlang_c_service_level,
)

# --- independent oracles -------------------------------------------------------------------


def exact_erlang_c(traffic: int | Fraction, agents: int) -> Fraction:
    """The textbook formula, in exact rationals: (A^N/N!·N/(N−A)) / (Σ_{k<N} A^k/k! + same)."""
    a = Fraction(traffic)
    top = a**agents / math.factorial(agents) * Fraction(agents) / (agents - a)
    return top / (sum(a**k / math.factorial(k) for k in range(agents)) + top)


def exact_erlang_b(traffic: int | Fraction, agents: int) -> Fraction:
    a = Fraction(traffic)
    top = a**agents / math.factorial(agents)
    return top / sum(a**k / math.factorial(k) for k in range(agents + 1))


def simulate_mmn_m(rate: float, aht: float, agents: int, patience: float, customers: int,
                   seed: int, warmup: int = 2000, batches: int = 20) -> dict[str, np.ndarray]:
    """M/M/N+M, first come first served, by each caller's offered wait.

    Under FCFS a caller is answered when the earliest agent is free after everyone ahead
    of it who stayed has been placed; it stays iff that offered wait is within its
    patience, and then takes that agent. Returns, per batch of callers, each figure.
    """
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1.0 / rate, customers)).tolist()
    services = rng.exponential(aht, customers).tolist()
    patiences = rng.exponential(patience, customers).tolist()
    free = [0.0] * agents  # a heap of the times the agents become free
    offered = np.empty(customers)
    served = np.empty(customers, dtype=bool)
    for i, (t, service, limit) in enumerate(zip(arrivals, services, patiences, strict=True)):
        wait = max(0.0, free[0] - t)
        offered[i] = wait
        served[i] = wait <= limit
        if served[i]:
            heapq.heapreplace(free, t + wait + service)
    waited = np.where(served, offered, np.asarray(patiences))
    service_time = np.where(served, np.asarray(services), 0.0)
    t_arrive = np.asarray(arrivals)
    figures: dict[str, list[float]] = {k: [] for k in (
        "p_wait", "p_abandon", "asa", "mean_wait", "sl20", "sl20_short5", "abandon_in_30", "occupancy")}
    for chunk in np.array_split(np.arange(warmup, customers), batches):
        s, o, w = served[chunk], offered[chunk], waited[chunk]
        figures["p_wait"].append(float(np.mean(o > 0)))
        figures["p_abandon"].append(float(np.mean(~s)))
        figures["asa"].append(float(o[s].mean()))
        figures["mean_wait"].append(float(w.mean()))
        within = float(np.mean(s & (o <= 20.0)))
        figures["sl20"].append(within)
        figures["sl20_short5"].append(within / (1.0 - float(np.mean(~s & (w < 5.0)))))
        figures["abandon_in_30"].append(float(np.mean(~s & (w <= 30.0))))
        span = t_arrive[chunk[-1]] - t_arrive[chunk[0]]
        figures["occupancy"].append(float(service_time[chunk].sum()) / (agents * span))
    return {k: np.asarray(v) for k, v in figures.items()}


# --- Erlang B and C ------------------------------------------------------------------------


@pytest.mark.parametrize(("traffic", "agents"), [(0.5, 1), (3, 5), (10, 10), (10, 11), (50, 60),
                                                 (180, 200), (290, 300)])
def test_erlang_b_matches_the_exact_formula(traffic: float, agents: int) -> None:
    assert erlang_b(traffic, agents) == pytest.approx(float(exact_erlang_b(Fraction(traffic), agents)),
                                                      rel=1e-12)


@pytest.mark.parametrize(("agents", "traffic"), [(1, 0.0101), (5, 1.36), (10, 4.46), (20, 12.03)])
def test_erlang_b_reproduces_the_printed_one_percent_table(agents: int, traffic: float) -> None:
    # The classic Erlang B table at 1 % blocking; its traffic is printed to 2–3 figures,
    # which moves the blocking by a few 1e-5.
    assert erlang_b(traffic, agents) == pytest.approx(0.01, abs=5e-5)


def test_erlang_b_edges() -> None:
    assert erlang_b(5.0, 0) == 1.0  # no line: every call is lost
    assert erlang_b(0.0, 3) == 0.0


@pytest.mark.parametrize(("traffic", "agents"), [(1, 2), (10, 11), (10, 14), (45, 50), (99, 100),
                                                 (200, 230), (280, 300)])
def test_erlang_c_matches_the_exact_formula(traffic: int, agents: int) -> None:
    # Up to a few hundred agents, where A^N and N! overflow a float: the recursion must hold.
    assert erlang_c(traffic, agents) == pytest.approx(float(exact_erlang_c(traffic, agents)), rel=1e-11)


def test_the_worked_example_ten_erlangs() -> None:
    # 100 calls per 30 minutes, 180 s each: A = 10 Erlangs. The rounded figures below were
    # computed independently (exact fractions here, and by hand from the formula):
    # N = 11: P(wait) 0.6821, 20-s service level 0.3896, ASA 122.8 s;
    # N = 14: P(wait) 0.1741, service level 0.8884, ASA 7.84 s.
    rate, aht = 100 / 1800, 180.0
    for agents, p_wait, level, asa in ((11, 0.6821, 0.3896, 122.78), (14, 0.1741, 0.8884, 7.836)):
        exact = float(exact_erlang_c(10, agents))
        assert exact == pytest.approx(p_wait, abs=5e-5)
        assert erlang_c(rate * aht, agents) == pytest.approx(exact, rel=1e-12)
        assert erlang_c_service_level(rate, aht, agents, 20) == pytest.approx(
            1 - exact * math.exp(-(agents - 10) * 20 / 180), rel=1e-12)
        assert erlang_c_service_level(rate, aht, agents, 20) == pytest.approx(level, abs=5e-5)
        assert erlang_c_asa(rate, aht, agents) == pytest.approx(exact * 180 / (agents - 10), rel=1e-12)
        assert erlang_c_asa(rate, aht, agents) == pytest.approx(asa, abs=5e-3)
    # 80 % within 20 s: 13 agents give 79.6 %, 14 give 88.8 %.
    assert agents_for_service_level(rate, aht, 20, 0.8) == 14


@pytest.mark.parametrize(("rate", "aht", "target", "level"), [
    (100 / 1800, 180, 20, 0.8), (1 / 60, 300, 15, 0.9), (2.0, 240, 30, 0.95), (0.0, 180, 20, 0.8),
    (0.5, 200, 0, 0.5)])
def test_agents_for_service_level_is_the_fewest(rate: float, aht: float, target: float,
                                                 level: float) -> None:
    agents = agents_for_service_level(rate, aht, target, level)
    assert erlang_c_service_level(rate, aht, agents, target) >= level
    if agents > 1:
        assert erlang_c_service_level(rate, aht, agents - 1, target) < level


def test_erlang_c_overload_and_empty() -> None:
    assert erlang_c(10, 10) == 1.0
    assert erlang_c(12, 10) == 1.0
    assert erlang_c_service_level(12 / 180, 180, 10, 20) == 0.0
    assert erlang_c_asa(12 / 180, 180, 10) == math.inf
    assert erlang_c(0.0, 3) == 0.0
    assert erlang_c_service_level(0.0, 180, 3, 20) == 1.0


@pytest.mark.parametrize(("call", "field"), [
    (lambda: erlang_b(-1.0, 3), "traffic"),
    (lambda: erlang_c(5.0, 0), "agents"),
    (lambda: erlang_c(5.0, 2.5), "agents"),
    (lambda: erlang_c(5.0, True), "agents"),
    (lambda: erlang_c(math.nan, 3), "traffic"),
    (lambda: erlang_c_service_level(1.0, 0.0, 3, 20), "aht"),
    (lambda: erlang_c_service_level(1.0, 180, 3, -1), "target"),
    (lambda: erlang_c_asa(-0.1, 180, 3), "rate"),
    (lambda: agents_for_service_level(1.0, 180, 20, 1.0), "level"),
    (lambda: agents_for_service_level(1.0, 180, 20, "80%"), "level"),
    (lambda: ErlangA(1.0, 180, 3, 0.0), "patience"),
    (lambda: ErlangA(1.0, 180, 3, math.inf), "rate"),  # 180 Erlangs, nobody hangs up
    (lambda: ErlangA(1.0, 180, 10, 1e9), "patience"),  # overload × near-infinite patience
    (lambda: ErlangA(1.0, 180, 10, 60).p_answered_within(-1), "target"),
    (lambda: ErlangA(1.0, 180, 10, 60).service_level(20, short_abandon=-5), "short_abandon"),
])
def test_bad_arguments_name_the_field(call, field: str) -> None:
    with pytest.raises(ErlangError, match=f"^{field}:"):
        call()


# --- Erlang A ------------------------------------------------------------------------------


@pytest.mark.parametrize(("rate", "aht", "agents", "target"), [
    (100 / 1800, 180, 11, 20), (100 / 1800, 180, 14, 20), (1 / 30, 240, 9, 60), (3.0, 60, 190, 5)])
def test_erlang_a_without_abandonment_is_erlang_c(rate: float, aht: float, agents: int,
                                                    target: float) -> None:
    model = ErlangA(rate, aht, agents, math.inf)
    assert model.p_abandon == 0.0
    assert model.p_wait == pytest.approx(erlang_c(rate * aht, agents), rel=1e-9)
    assert model.asa == pytest.approx(erlang_c_asa(rate, aht, agents), rel=1e-9)
    assert model.mean_wait == pytest.approx(erlang_c_asa(rate, aht, agents), rel=1e-9)
    assert model.p_answered_within(target) == pytest.approx(
        erlang_c_service_level(rate, aht, agents, target), abs=1e-9)
    assert model.occupancy == pytest.approx(rate * aht / agents, rel=1e-12)


def test_erlang_a_converges_to_erlang_c_as_patience_grows() -> None:
    rate, aht, agents = 100 / 1800, 180.0, 11
    c_wait = erlang_c(rate * aht, agents)
    c_level = erlang_c_service_level(rate, aht, agents, 20)
    c_asa = erlang_c_asa(rate, aht, agents)
    errors = []
    for patience in (1e2, 1e3, 1e4, 1e5, 1e6, 1e7):
        model = ErlangA(rate, aht, agents, patience)
        errors.append((abs(model.p_wait - c_wait), abs(model.p_answered_within(20) - c_level),
                       abs(model.asa - c_asa) / c_asa, model.p_abandon))
    for earlier, later in zip(errors, errors[1:], strict=False):
        assert all(b < a for a, b in zip(earlier, later, strict=True))
    # First order in 1/patience: ten times the patience, a tenth of the error.
    assert all(b < 0.2 * a for a, b in zip(errors[-2], errors[-1], strict=True))
    assert max(errors[-1]) < 1e-3


def test_erlang_a_chain_agrees_with_a_direct_linear_solve() -> None:
    # The stationary law of the generator, truncated far out, solved with numpy: π·Q = 0.
    rate, aht, agents, patience = 12 / 180, 180.0, 10, 120.0
    size = 400
    q = np.zeros((size, size))
    for n in range(size):
        if n + 1 < size:
            q[n, n + 1] = rate
        if n > 0:
            q[n, n - 1] = min(n, agents) / aht + max(n - agents, 0) / patience
        q[n, n] = -q[n].sum()
    a = np.vstack([q.T, np.ones(size)])
    b = np.zeros(size + 1)
    b[-1] = 1.0
    pi = np.linalg.lstsq(a, b, rcond=None)[0]
    model = ErlangA(rate, aht, agents, patience)
    assert model.p_wait == pytest.approx(pi[agents:].sum(), abs=1e-10)
    queued = np.maximum(np.arange(size) - agents, 0)
    assert model.mean_queue_length == pytest.approx(pi @ queued, rel=1e-9)


@pytest.mark.parametrize(("rate", "aht", "agents", "patience"), [
    (12 / 180, 180.0, 10, 120.0), (18 / 240, 240.0, 20, 300.0), (0.5, 120.0, 40, 30.0), (1 / 60, 100, 2, 50)])
def test_erlang_a_obeys_little_and_the_abandonment_balance(rate: float, aht: float, agents: int,
                                                            patience: float) -> None:
    model = ErlangA(rate, aht, agents, patience)
    # Little's law on the queue: E[Lq] = λ · E[time in queue] (chain vs one caller's view).
    assert model.mean_queue_length == pytest.approx(rate * model.mean_wait, rel=1e-9)
    # Abandonment flow: callers leave the queue at θ·E[Lq] per unit time.
    assert model.p_abandon == pytest.approx(model.mean_queue_length / patience / rate, rel=1e-9)
    # Everyone is eventually answered or hangs up.
    assert model.p_answered_within(1e6) + model.p_abandon == pytest.approx(1.0, abs=1e-9)
    assert model.p_abandoned_within(1e6) == pytest.approx(model.p_abandon, abs=1e-9)
    assert model.p_answered_within(0) == pytest.approx(1.0 - model.p_wait, abs=1e-15)
    # Service completions balance: busy agents = answered flow × aht.
    assert 0.0 < model.occupancy < 1.0


def test_erlang_a_wait_distribution_matches_the_closed_form() -> None:
    # One caller with j queued ahead is answered by t with probability
    #   s_j · P(Exp(b_0) + … + Exp(b_j) ≤ t),  b_i = Nμ + (i + 1)θ,  s_j = ∏ (b_i − θ)/b_i,
    # a hypoexponential with distinct rates, summed here in 60-digit decimals.
    getcontext().prec = 60
    rate, aht, agents, patience = Fraction(1, 60), Fraction(100), 2, Fraction(50)
    mu, theta = 1 / aht, 1 / patience
    head = sum((rate / mu) ** n / math.factorial(n) for n in range(agents + 1))  # ∝ π(0 … N)
    base = (rate / mu) ** agents / math.factorial(agents)
    queue, q = [], base
    for j in range(40):  # q_j ~ 0.83^j / j!: beyond j = 40 it is below 1e-48
        if j:
            q *= rate / (agents * mu + j * theta)
        queue.append(q)
    total = head + sum(queue[1:])
    model = ErlangA(float(rate), float(aht), agents, float(patience))
    for t in (1, 20, 200):
        answered = 1 - sum(queue) / total  # found a free agent
        for j, weight in enumerate(queue):
            rates = [agents * mu + (i + 1) * theta for i in range(j + 1)]
            served = math.prod((b - theta) / b for b in rates)
            cdf = Decimal(1)
            for i, b_i in enumerate(rates):
                coef = math.prod(b / (b - b_i) for k, b in enumerate(rates) if k != i)
                decay = (-decimal(b_i) * t).exp()
                cdf -= decimal(coef) * decay
            answered += weight / total * served * Fraction(cdf)
        assert model.p_answered_within(t) == pytest.approx(float(answered), abs=1e-10)


def decimal(value: Fraction) -> Decimal:
    return Decimal(value.numerator) / Decimal(value.denominator)


def _within(model_value: float, batches: np.ndarray) -> None:
    """The model's figure lies within 4.5 standard errors of the simulated batch means."""
    se = batches.std(ddof=1) / math.sqrt(batches.size)
    assert abs(model_value - batches.mean()) <= 4.5 * se + 1e-12, (model_value, batches.mean(), se)


@pytest.mark.parametrize(("rate", "aht", "agents", "patience", "seed"), [
    (12 / 180, 180.0, 10, 120.0, 20240611),  # overloaded: abandonment keeps it stable
    (18 / 240, 240.0, 20, 300.0, 7),  # 90 % loaded, patient callers
])
def test_erlang_a_agrees_with_a_simulation(rate: float, aht: float, agents: int, patience: float,
                                            seed: int) -> None:
    sim = simulate_mmn_m(rate, aht, agents, patience, 200_000, seed)
    model = ErlangA(rate, aht, agents, patience)
    _within(model.p_wait, sim["p_wait"])
    _within(model.p_abandon, sim["p_abandon"])
    _within(model.asa, sim["asa"])
    _within(model.mean_wait, sim["mean_wait"])
    _within(model.service_level(20), sim["sl20"])
    _within(model.service_level(20, short_abandon=5), sim["sl20_short5"])
    _within(model.p_abandoned_within(30), sim["abandon_in_30"])
    _within(model.occupancy, sim["occupancy"])
    # The simulation is sharp enough to tell callers twice as patient apart.
    other = ErlangA(rate, aht, agents, 2 * patience)
    with pytest.raises(AssertionError):
        _within(other.p_abandon, sim["p_abandon"])


def test_erlang_a_with_no_calls_or_ample_agents() -> None:
    idle = ErlangA(0.0, 180, 3, 60)
    assert (idle.p_wait, idle.p_abandon, idle.mean_wait, idle.asa) == (0.0, 0.0, 0.0, 0.0)
    assert idle.service_level(20) == 1.0
    ample = ErlangA(0.01, 60, 400, 60)  # Erlang B underflows to 0: nobody ever waits
    assert ample.p_wait == 0.0
    assert ample.p_answered_within(0) == 1.0
