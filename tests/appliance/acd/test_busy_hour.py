"""The real AcdEngine in a simulated busy hour, measured from its queue log, against Erlang C / A.

Each scenario must agree with its prediction in every figure both within 4 batch-means
standard errors and within the absolute tolerance stated next to it. The tolerances are
what the run lengths can honestly support (about 4 s.e. — Erlang C near 80 % load has
long, correlated excursions of the queue), and each s.e. must itself be at most half its
tolerance, so that neither check is vacuous. A planner's wrong assumption (agents slower
than planned) must be rejected by the same comparison.
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import cache

import pytest

from appliance.acd.busy_hour import (
    FIGURES,
    BusyHourError,
    BusyHourResult,
    Scenario,
    comparison_table,
    measure,
    predict,
    row,
    run_busy_hour,
    simulate,
)
from appliance.acd.erlang import ErlangA, erlang_c
from appliance.acd.metrics import queue_metrics

# Absolute tolerances: fractions, ASA in seconds.
ERLANG_C = Scenario("Erlang C 10/8", agents=10, traffic=8.0, aht=180.0, calls=40_000)
ERLANG_C_TOLERANCE = {"service_level": 0.06, "asa": 12.0, "abandon_rate": 0.0, "p_wait": 0.06,
                      "occupancy": 0.025}
OVERLOAD = Scenario("Erlang A 10/11, patience 120 s", agents=10, traffic=11.0, patience=120.0,
                    calls=30_000)
OVERLOAD_TOLERANCE = {"service_level": 0.04, "asa": 2.5, "abandon_rate": 0.02, "p_wait": 0.04,
                      "occupancy": 0.015}
SMALL = Scenario("Erlang C 3/2", agents=3, traffic=2.0, calls=20_000)
SMALL_TOLERANCE = {"service_level": 0.04, "asa": 20.0, "abandon_rate": 0.0, "p_wait": 0.04,
                   "occupancy": 0.025}
CASES = [(ERLANG_C, ERLANG_C_TOLERANCE), (OVERLOAD, OVERLOAD_TOLERANCE), (SMALL, SMALL_TOLERANCE)]


@cache
def run(scenario: Scenario) -> BusyHourResult:
    return simulate(scenario)


@pytest.mark.parametrize(("scenario", "tolerance"), CASES, ids=[s.name for s, _ in CASES])
def test_measured_agrees_with_erlang(scenario: Scenario, tolerance: dict[str, float]) -> None:
    result = run(scenario)
    assert result.measured.calls > 0.9 * scenario.calls
    for name in FIGURES:
        measured, predicted = result.measured.figure(name), result.predicted.figure(name)
        where = (f"{scenario.name} {name}: measured {measured.value:.4f} ± {measured.se:.4f}, "
                 f"predicted {predicted:.4f}")
        if tolerance[name] == 0:  # nobody hangs up: no abandons, exactly
            assert measured.value == predicted == 0, where
            continue
        assert measured.se <= tolerance[name] / 2, where
        assert abs(result.deviation(name)) <= 4, where
        assert abs(measured.value - predicted) <= tolerance[name], where
        assert result.agrees(name, tolerance=tolerance[name]), where


def test_predictions_are_the_erlang_formulas() -> None:
    c, a = predict(ERLANG_C), predict(OVERLOAD)
    assert (c.model, a.model) == ("Erlang C", "Erlang A")
    assert c.p_wait == pytest.approx(erlang_c(8.0, 10))
    assert c.asa == pytest.approx(erlang_c(8.0, 10) * 180 / 2)
    assert c.service_level == pytest.approx(1 - erlang_c(8.0, 10) * math.exp(-2 * 20 / 180))
    model = ErlangA(11 / 180, 180, 10, 120)
    assert a.service_level == pytest.approx(model.service_level(20, short_abandon=5))
    assert a.p_wait == pytest.approx(model.p_wait)
    assert 0 < a.abandon_rate < model.p_abandon  # short abandons left out, as queue_metrics does


def test_batches_partition_the_window_and_every_call_ends() -> None:
    result = run(SMALL)
    m = result.measured
    assert m.metrics.waiting == 0  # each call that joined in the window was followed to its end
    assert m.metrics.offered == m.calls == m.metrics.answered  # Erlang C: everyone is answered
    # Two independent views of the agents agree: the queue log and the engine's state changes.
    assert m.occupancy.value == pytest.approx(m.phones_occupancy, abs=1e-9)
    assert m.metrics.aht == pytest.approx(SMALL.aht, rel=0.03)


def test_wrapup_runs_through_the_engines_timers() -> None:
    # A constant wrap-up: Erlang is an approximation for the waits, but occupancy is λ·handle/N
    # whatever the handle-time distribution, and AHT is talk + wrap-up.
    scenario = Scenario("wrap-up 30 s", agents=5, traffic=3.0, aht=150.0, wrapup=30.0, calls=10_000)
    result = simulate(scenario)
    assert not scenario.exact
    assert result.measured.metrics.aht == pytest.approx(180.0, rel=0.03)
    assert abs(result.deviation("occupancy")) <= 4
    assert result.agrees("occupancy", tolerance=0.03)
    assert result.measured.occupancy.value == pytest.approx(result.measured.phones_occupancy, abs=1e-9)


def test_ring_delay_counts_in_the_wait_and_callers_may_hang_up_while_it_rings() -> None:
    scenario = Scenario("ring 4 s", agents=5, traffic=4.5, aht=176.0, ring_delay=4.0, patience=60.0,
                        calls=5_000, batches=10)
    log = run_busy_hour(scenario)
    connected = [e for e in log.events if e.kind == "connected"]
    assert all(e.data["ring_s"] == pytest.approx(4.0) for e in connected)
    assert min(e.data["wait_s"] for e in connected) == pytest.approx(4.0)
    assert any(e.kind == "abandoned" and e.agent_id is not None for e in log.events)  # while ringing
    m = measure(scenario, log)
    assert m.metrics.waiting == 0
    assert m.occupancy.value == pytest.approx(m.phones_occupancy, abs=1e-9)


def test_agents_slower_than_planned_are_caught() -> None:
    planned = Scenario("planned", agents=10, traffic=8.0, aht=180.0, calls=20_000)
    # The same callers, but every call takes 10 % longer than the plan says.
    actual = replace(planned, name="slower agents", aht=198.0, traffic=8.8)
    result = simulate(actual, model=planned)
    assert result.deviation("service_level") < -4
    assert result.deviation("occupancy") > 4
    assert not result.agrees("service_level", tolerance=0.06)
    assert not result.agrees("p_wait", tolerance=0.06)
    # It is the plan that is wrong, not the measurement: the truth predicts it.
    truth = BusyHourResult(actual, actual, result.measured, predict(actual))
    for name in ("service_level", "p_wait", "occupancy"):
        assert abs(truth.deviation(name)) <= 4, name
    assert not row(result).exact


def test_same_seed_same_hour_other_seed_another() -> None:
    small = replace(SMALL, calls=2_000, batches=10)
    first, again = simulate(small), simulate(small)
    other = simulate(replace(small, seed=2))
    assert first.measured == again.measured
    assert other.measured.service_level != first.measured.service_level


def test_comparison_rows_print_as_a_table() -> None:
    rows = [row(run(SMALL)), row(run(OVERLOAD))]
    table = comparison_table(rows)
    lines = table.splitlines()
    assert len(lines) == 2 + len(rows)
    assert "Erlang C 3/2" in lines[2] and "Erlang A" in lines[3]
    assert rows[0].service_level.measured == run(SMALL).measured.service_level.value
    assert rows[1].abandon_rate.deviation == run(OVERLOAD).deviation("abandon_rate")
    with pytest.raises(BusyHourError, match="^figure: 'aht' is not one of"):
        run(SMALL).deviation("aht")


def test_window_metrics_are_queue_metrics_of_the_log() -> None:
    small = replace(SMALL, calls=3_000, batches=5)
    result = simulate(small)
    m, log = result.measured, run_busy_hour(small)
    assert (m.start, m.end) == (small.warmup_s, log.last_arrival)
    assert (m.metrics.service_level, m.metrics.asa) == (m.service_level.value, m.asa.value)
    # The window's figures are queue_metrics over the whole log of a fresh run of the same seed.
    assert m.metrics == queue_metrics(log.events, start=m.start, end=m.end, service_level_target=20,
                                      short_abandon=5)
    assert measure(small, log) == m


@pytest.mark.parametrize(("change", "field"), [
    ({"agents": 0}, "agents"),
    ({"traffic": 10.0}, "traffic"),                 # = agents with nobody hanging up
    ({"patience": -1.0}, "patience"),
    ({"ring_delay": 15.0}, "ring_delay"),           # the ring would time out first
    ({"aht": math.nan}, "aht"),
    ({"calls": 10}, "calls"),
    ({"agents": True}, "agents"),
])
def test_bad_scenarios_name_the_field(change: dict, field: str) -> None:
    with pytest.raises(BusyHourError, match=f"^{field}: "):
        replace(SMALL, **change)


def test_a_warmup_longer_than_the_hour_is_refused() -> None:
    with pytest.raises(BusyHourError, match="^warmup: "):
        simulate(replace(SMALL, calls=400, warmup=1e9))
