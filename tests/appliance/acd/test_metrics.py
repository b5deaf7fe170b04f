"""Queue and agent figures on hand-built queue logs whose answers are worked out by hand."""

from __future__ import annotations

import pytest

from appliance.acd.events import QueueEvent
from appliance.acd.metrics import (
    AgentOccupancy,
    MetricsError,
    agent_occupancy,
    overall_occupancy,
    queue_metrics,
)


def ev(at: float, kind: str, call: str | None = None, queue: str | None = None,
       agent: str | None = None, **data: object) -> QueueEvent:
    return QueueEvent(at, kind, call, queue, agent, dict(data))


def served(call: str, queue: str, joined: float, agent: str, rang: float, answered: float, ended: float,
           wrapup: float | None, *, enqueued: float | None = None) -> list[QueueEvent]:
    """A call answered by ``agent`` and talked to the end, with ``wrapup`` s of wrap-up (None:
    none). Its wait counts from ``enqueued`` (the first queue's join; default ``joined``)."""
    wait = answered - (joined if enqueued is None else enqueued)
    events = [ev(joined, "joined", call, queue, priority=2, caller="13800000000", position=1),
              ev(rang, "offered", call, queue, agent, callback=False),
              ev(answered, "connected", call, queue, agent, wait_s=wait, ring_s=answered - rang),
              ev(ended, "completed", call, queue, agent, by="caller", wait_s=wait, talk_s=ended - answered)]
    if wrapup is not None:
        events += [ev(ended, "wrapup_started", call, queue, agent),
                   ev(ended + wrapup, "wrapup_ended", call, queue, agent, wrapup_s=wrapup)]
    return events


def day() -> list[QueueEvent]:
    """Eight calls to queue A (one moves on to B), worked out in the tests below.

    c1 answered after 8 s, talk 120 + wrap-up 10      c5 answered after 30 s, talk 60 + wrap-up 15
    c2 hangs up after 3 s (short abandon)            c6 asks for a callback after 10 s; the callback
    c3 hangs up after 30 s                              fails: 30 s with the agent, 5 s wrap-up
    c4 hangs up after 10 s while 1002's phone rings  c7 overflows to B after 60 s, answered there at
    c8 still waiting when the log ends                  90 s, talk 30, no wrap-up
    """
    events = [
        *served("c1", "A", 0, "1001", 2, 8, 128, 10),
        ev(10, "joined", "c2", "A"), ev(13, "abandoned", "c2", "A", wait_s=3, position=2,
                                        original_position=2),
        ev(20, "joined", "c3", "A"), ev(50, "abandoned", "c3", "A", wait_s=30, position=1,
                                        original_position=2),
        ev(30, "joined", "c4", "A"), ev(31, "offered", "c4", "A", "1002", callback=False),
        ev(40, "abandoned", "c4", "A", wait_s=10, position=1, original_position=3),
        *served("c5", "A", 40, "1002", 69, 70, 130, 15),
        ev(50, "joined", "c6", "A"), ev(60, "callback_requested", "c6", "A", number="13900000000", wait_s=10),
        ev(140, "offered", "c6", "A", "1001", callback=True),
        ev(171, "callback_failed", "c6", "A", "1001", number="13900000000"),
        ev(171, "wrapup_started", "c6", "A", "1001"), ev(176, "wrapup_ended", "c6", "A", "1001", wrapup_s=5),
        ev(60, "joined", "c7", "A"),
        ev(120, "overflowed", "c7", "A", reason="max_wait", target="queue:B", wait_s=60),
        *served("c7", "B", 120, "1002", 148, 150, 180, None, enqueued=60),
        ev(70, "joined", "c8", "A"),
    ]
    # The log as a database would return it: in time order (same-time events kept in order).
    return sorted(events, key=lambda e: e.at)


def test_one_queue_counts_each_outcome() -> None:
    m = queue_metrics(day(), queue="A")
    assert (m.offered, m.overflowed_in, m.answered, m.answered_within_target) == (8, 0, 2, 1)
    assert (m.abandoned, m.short_abandoned, m.overflowed, m.callbacks_requested, m.waiting) == (3, 1, 1, 1, 1)
    assert m.offered == m.answered + m.abandoned + m.overflowed + m.callbacks_requested + m.waiting
    # Judged: 8 offered − 1 short abandon − 1 still waiting = 6.
    assert m.service_level == pytest.approx(1 / 6)
    assert m.abandon_rate == pytest.approx(2 / 6)
    assert m.asa == pytest.approx((8 + 30) / 2)
    # c1 130 s, c5 75 s; the failed callback had no talk, and c7 was handled in B.
    assert m.aht == pytest.approx((130 + 75) / 2)
    assert m.max_wait == 60


def test_the_queue_a_call_overflowed_into() -> None:
    m = queue_metrics(day(), queue="B")
    assert (m.offered, m.overflowed_in, m.answered, m.answered_within_target) == (1, 1, 1, 0)
    # Its wait counts from when the caller first entered the ACD (90 s), not from B (30 s).
    assert (m.service_level, m.asa, m.aht, m.abandon_rate, m.max_wait) == (0.0, 90, 30, 0.0, 90)


def test_the_whole_acd_counts_each_call_once() -> None:
    m = queue_metrics(day())
    assert m.queue is None
    assert (m.offered, m.overflowed_in, m.answered, m.answered_within_target) == (8, 0, 3, 1)
    # c7 moved to B and was answered there: not an overflow out of the ACD.
    assert (m.abandoned, m.short_abandoned, m.overflowed, m.callbacks_requested, m.waiting) == (3, 1, 0, 1, 1)
    assert m.service_level == pytest.approx(1 / 6)
    assert m.asa == pytest.approx((8 + 30 + 90) / 3)
    assert m.aht == pytest.approx((130 + 75 + 30) / 3)
    assert m.max_wait == 90


def test_a_reached_callback_is_agent_work_but_not_an_answer() -> None:
    events = [ev(0, "joined", "c1", "A"),
              ev(12, "callback_requested", "c1", "A", number="13900000000", wait_s=12),
              ev(100, "offered", "c1", "A", "1001", callback=True),
              ev(110, "connected", "c1", "A", "1001", wait_s=110, ring_s=10),
              ev(170, "completed", "c1", "A", "1001", by="agent", wait_s=110, talk_s=60),
              ev(170, "wrapup_started", "c1", "A", "1001"),
              ev(185, "wrapup_ended", "c1", "A", "1001", wrapup_s=15)]
    m = queue_metrics(events, queue="A")
    assert (m.offered, m.answered, m.callbacks_requested) == (1, 0, 1)
    assert (m.service_level, m.asa, m.aht, m.max_wait) == (0.0, None, 75, 12)


def test_callback_stays_a_callback_after_an_overflow() -> None:
    events = [ev(0, "joined", "c1", "A"),
              ev(10, "callback_requested", "c1", "A", number="139", wait_s=10),
              ev(120, "overflowed", "c1", "A", reason="max_wait", target="queue:B", wait_s=120),
              ev(120, "joined", "c1", "B")]
    b = queue_metrics(events, queue="B")
    assert (b.offered, b.overflowed_in, b.callbacks_requested, b.waiting) == (1, 1, 1, 0)
    whole = queue_metrics(events)
    assert (whole.offered, whole.callbacks_requested, whole.overflowed) == (1, 1, 0)


def test_the_window_takes_calls_by_when_they_joined() -> None:
    # [25, 60): c4 (30), c5 (40), c6 (50); c7 joined at 60, outside the half-open window.
    m = queue_metrics(day(), queue="A", start=25, end=60)
    assert (m.offered, m.answered, m.abandoned, m.callbacks_requested, m.overflowed) == (3, 1, 1, 1, 0)
    # c5 was answered after 30 s, beyond the target, and its end after 60 still counts.
    assert (m.answered_within_target, m.service_level, m.aht) == (0, 0.0, 75)
    # The whole ACD for [60, 61): c7 alone, its answer in B included.
    assert queue_metrics(day(), start=60, end=61).answered == 1
    # The call moved to B at 120: in B's window by that time.
    assert queue_metrics(day(), queue="B", start=100, end=121).offered == 1
    assert queue_metrics(day(), queue="B", start=0, end=100).offered == 0


def test_the_targets_are_inclusive_and_the_short_abandon_strict() -> None:
    events = [*served("c1", "A", 0, "1001", 0, 20, 30, None),  # wait exactly 20 s
              *served("c2", "A", 0, "1002", 0, 20.5, 30, None),
              ev(0, "joined", "c3", "A"), ev(5, "abandoned", "c3", "A", wait_s=5),  # exactly 5 s
              ev(0, "joined", "c4", "A"), ev(4.9, "abandoned", "c4", "A", wait_s=4.9)]
    m = queue_metrics(events, queue="A")
    assert (m.answered_within_target, m.short_abandoned) == (1, 1)
    assert m.service_level == pytest.approx(1 / 3)
    assert m.abandon_rate == pytest.approx(1 / 3)
    # With other thresholds, the same calls count differently.
    wider = queue_metrics(events, queue="A", service_level_target=21, short_abandon=0)
    assert (wider.answered_within_target, wider.short_abandoned, wider.service_level) == (2, 0, 0.5)


def test_an_overflow_whose_join_is_not_in_the_log_is_still_offered() -> None:
    events = [ev(5, "overflowed", "c1", "A", reason="no_agents", target="mobile:13900000000", wait_s=0)]
    m = queue_metrics(events, queue="A")
    assert (m.offered, m.overflowed, m.service_level, m.abandon_rate, m.max_wait) == (1, 1, 0.0, 0.0, 0)
    assert queue_metrics(events).overflowed == 1


def test_wrapup_counts_only_once_ended_and_zero_when_there_is_none() -> None:
    events = [*served("c1", "A", 0, "1001", 1, 2, 62, None),  # no wrap-up at all
              *served("c2", "A", 0, "1002", 1, 2, 42, None),
              ev(42, "wrapup_started", "c2", "A", "1002")]  # still in wrap-up at the end
    assert queue_metrics(events).aht == 60
    # The agent's next call shows its wrap-up ended even though no wrapup_ended was logged.
    events += [ev(50, "offered", "c3", "A", "1002")]
    assert queue_metrics(events).aht == pytest.approx((60 + 48) / 2)
    # A transfer ends the talk as a completion does.
    transferred = [ev(0, "joined", "c9", "A"), ev(1, "offered", "c9", "A", "1001"),
                   ev(3, "connected", "c9", "A", "1001", wait_s=3, ring_s=2),
                   ev(33, "transferred", "c9", "A", "1001", to="8001", talk_s=30),
                   ev(33, "wrapup_started", "c9", "A", "1001"),
                   ev(40, "wrapup_ended", "c9", "A", "1001", wrapup_s=7)]
    assert queue_metrics(transferred).aht == 37


def test_missing_data_falls_back_on_the_event_times() -> None:
    events = [ev(100, "joined", "c1", "A"), ev(101, "offered", "c1", "A", "1001"),
              ev(112, "connected", "c1", "A", "1001"), ev(172, "completed", "c1", "A", "1001"),
              ev(172, "wrapup_started", None, None, "1001"), ev(180, "wrapup_ended", None, None, "1001")]
    m = queue_metrics(events)
    assert (m.asa, m.aht, m.answered_within_target) == (12, 68, 1)


def test_no_calls_give_none_not_errors() -> None:
    m = queue_metrics([])
    assert (m.offered, m.answered, m.abandoned) == (0, 0, 0)
    assert (m.service_level, m.asa, m.aht, m.abandon_rate, m.max_wait) == (None, None, None, None, None)
    # Only short abandons: nothing to judge.
    only_short = queue_metrics([ev(0, "joined", "c1", "A"), ev(2, "abandoned", "c1", "A", wait_s=2)])
    assert (only_short.offered, only_short.short_abandoned) == (1, 1)
    assert (only_short.service_level, only_short.abandon_rate, only_short.asa) == (None, None, None)
    assert queue_metrics(day(), queue="nobody").offered == 0


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"service_level_target": -1}, "service_level_target"),
    ({"short_abandon": float("nan")}, "short_abandon"),
    ({"start": 10, "end": 10}, "end"),
    ({"start": "today"}, "start"),
])
def test_bad_arguments_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(MetricsError, match=f"^{field}:"):
        queue_metrics(day(), **kwargs)


# --- agents ----------------------------------------------------------------------------------


def shift() -> list[QueueEvent]:
    """Agents around the window [0, 300):

    1001 logged in at −100, across the start. Rings 10–15, busy 15–75, wrap-up 75–85;
         paused 100–160 (休息); rings 200–215, no answer → paused 未接 215–230; rings
         280–290 and is busy from 290 past the end (ends at 320).
    1002 logged in 50–250. A ring-all rings it 100–104 until 1003 answers; rings 120–126
         until the caller hangs up; paused 240 and logs out, paused, at 250.
    1003 logged in 90–200. Rings 100–104, busy 104–164, no wrap-up.
    1004 logs in after the window, 1005 logged out before it.
    """
    return [
        ev(-100, "logged_in", agent="1001", device="fxs/1"),
        ev(-50, "logged_in", agent="1005", device="fxs/5"),
        ev(-10, "logged_out", agent="1005", device="fxs/5"),
        ev(10, "offered", "c1", "A", "1001", callback=False),
        ev(15, "connected", "c1", "A", "1001", wait_s=15, ring_s=5),
        ev(50, "logged_in", agent="1002", device="fxs/2"),
        ev(75, "completed", "c1", "A", "1001", by="agent", wait_s=15, talk_s=60),
        ev(75, "wrapup_started", "c1", "A", "1001"), ev(85, "wrapup_ended", "c1", "A", "1001", wrapup_s=10),
        ev(90, "logged_in", agent="1003", device="fxs/3"),
        ev(100, "paused", agent="1001", reason="休息"),
        ev(100, "offered", "c4", "A", "1002", callback=False),
        ev(100, "offered", "c4", "A", "1003", callback=False),
        ev(104, "connected", "c4", "A", "1003", wait_s=30, ring_s=4),
        ev(120, "offered", "c5", "A", "1002", callback=False),
        ev(126, "abandoned", "c5", "A", wait_s=40, position=1, original_position=1),
        ev(160, "unpaused", agent="1001", reason="休息"),
        ev(164, "completed", "c4", "A", "1003", by="caller", wait_s=30, talk_s=60),
        ev(200, "offered", "c2", "A", "1001", callback=False),
        ev(200, "logged_out", agent="1003", device="fxs/3"),
        ev(215, "ring_no_answer", "c2", "A", "1001", ring_s=15),
        ev(215, "paused", agent="1001", reason="未接"),
        ev(230, "unpaused", agent="1001", reason="未接"),
        ev(240, "paused", agent="1002", reason="会议"),
        ev(250, "logged_out", agent="1002", device="fxs/2"),
        ev(280, "offered", "c3", "A", "1001", callback=False),
        ev(290, "connected", "c3", "A", "1001", wait_s=40, ring_s=10),
        ev(320, "completed", "c3", "A", "1001", by="caller", wait_s=40, talk_s=30),
        ev(400, "logged_in", agent="1004", device="fxs/4"),
    ]


def test_each_agent_time_by_state() -> None:
    by_agent = agent_occupancy(shift(), start=0, end=300)
    assert list(by_agent) == ["1001", "1002", "1003"]
    assert by_agent["1001"] == AgentOccupancy("1001", logged_in_s=300, paused_s=75, idle_s=115,
                                              ringing_s=30, busy_s=70, wrapup_s=10)
    assert by_agent["1001"].occupancy == pytest.approx(110 / 225)
    assert by_agent["1002"] == AgentOccupancy("1002", logged_in_s=200, paused_s=10, idle_s=180,
                                              ringing_s=10, busy_s=0, wrapup_s=0)
    assert by_agent["1002"].occupancy == pytest.approx(10 / 190)
    assert by_agent["1003"] == AgentOccupancy("1003", logged_in_s=110, paused_s=0, idle_s=46,
                                              ringing_s=4, busy_s=60, wrapup_s=0)
    overall = overall_occupancy(by_agent)
    assert overall.agent_id is None
    assert (overall.logged_in_s, overall.working_s, overall.available_s) == (610, 184, 525)
    assert overall.occupancy == pytest.approx(184 / 525)


def test_a_window_cuts_sessions_at_both_ends() -> None:
    by_agent = agent_occupancy(shift(), start=60, end=110)
    assert list(by_agent) == ["1001", "1002", "1003"]
    # 1001: busy 60–75, wrap-up 75–85, idle 85–100, paused 100–110.
    assert by_agent["1001"] == AgentOccupancy("1001", 50, paused_s=10, idle_s=15, ringing_s=0,
                                              busy_s=15, wrapup_s=10)
    # 1002: rings 100–104 only; 120–126 is after the window.
    assert by_agent["1002"] == AgentOccupancy("1002", 50, paused_s=0, idle_s=46, ringing_s=4,
                                              busy_s=0, wrapup_s=0)
    # 1003: logged in at 90, rings 100–104, busy from 104 until the window ends.
    assert by_agent["1003"] == AgentOccupancy("1003", 20, paused_s=0, idle_s=10, ringing_s=4,
                                              busy_s=6, wrapup_s=0)


def test_work_while_a_pause_is_pending_is_work() -> None:
    events = [ev(0, "logged_in", agent="1001"), ev(10, "offered", "c1", "A", "1001"),
              ev(12, "connected", "c1", "A", "1001", wait_s=12, ring_s=2),
              ev(20, "paused", agent="1001", reason="休息"),  # asked for a break during the call
              ev(42, "completed", "c1", "A", "1001", talk_s=30), ev(42, "wrapup_started", "c1", "A", "1001"),
              ev(52, "wrapup_ended", "c1", "A", "1001", wrapup_s=10)]
    occupancy = agent_occupancy(events, start=0, end=100)["1001"]
    assert (occupancy.ringing_s, occupancy.busy_s, occupancy.wrapup_s) == (2, 30, 10)
    assert (occupancy.paused_s, occupancy.idle_s) == (48, 10)
    assert occupancy.occupancy == pytest.approx(42 / 52)


def test_an_agent_first_seen_mid_session_counts_from_its_first_event() -> None:
    events = [ev(30, "offered", "c1", "A", "1001"), ev(40, "connected", "c1", "A", "1001"),
              ev(70, "completed", "c1", "A", "1001", talk_s=30)]
    occupancy = agent_occupancy(events, start=0, end=100)["1001"]
    assert (occupancy.logged_in_s, occupancy.ringing_s) == (70, 10)
    assert (occupancy.busy_s, occupancy.idle_s) == (30, 30)


def test_a_failed_callback_ends_the_agent_s_ring_and_goes_to_wrapup() -> None:
    events = [ev(0, "logged_in", agent="1001"), ev(10, "offered", "c1", "A", "1001", callback=True),
              ev(40, "callback_failed", "c1", "A", "1001", number="139"),
              ev(40, "wrapup_started", "c1", "A", "1001"),
              ev(50, "wrapup_ended", "c1", "A", "1001", wrapup_s=10)]
    occupancy = agent_occupancy(events, start=0, end=60)["1001"]
    assert (occupancy.ringing_s, occupancy.wrapup_s, occupancy.idle_s) == (30, 10, 20)


def test_no_agents_or_only_pauses_give_none() -> None:
    assert agent_occupancy([], start=0, end=60) == {}
    assert overall_occupancy({}).occupancy is None
    paused = [ev(0, "logged_in", agent="1001"), ev(0, "paused", agent="1001", reason="培训")]
    occupancy = agent_occupancy(paused, start=0, end=60)["1001"]
    assert (occupancy.paused_s, occupancy.occupancy) == (60, None)


def test_occupancy_needs_a_window() -> None:
    with pytest.raises(MetricsError, match="^end:"):
        agent_occupancy(shift(), start=10, end=0)
