"""AcdEngine rule by rule with a fake clock (plain floats), then a seeded random walk
checking the invariants over a few thousand operations."""

import json
import random

import pytest

from appliance.acd.actions import (
    AgentStateChanged,
    Announce,
    CallbackDue,
    CancelOffer,
    Connected,
    Offer,
    Overflow,
)
from appliance.acd.engine import AcdEngine, AcdError
from appliance.acd.events import CALL_ENDS, DATA_KEYS, SHELL_KINDS, QueueEvent
from appliance.acd.model import (
    AcdConfigError,
    AgentConfig,
    AgentState,
    OverflowRule,
    PenaltyStep,
    Priority,
    QueueConfig,
    default_acd,
)

S = AgentState
ANY = (PenaltyStep(0, 9),)   # penalty steps that let every skilled agent take a call at once


def agent(agent_id: str, wrapup: float | None = None, **skills: int) -> AgentConfig:
    return AgentConfig(agent_id, f"坐席{agent_id}", "1234", skills or {"general": 0}, wrapup)


def make(queues: list[QueueConfig], agents: list[AgentConfig], ready: tuple[str, ...] = (),
         paused: tuple[str, ...] = ()) -> AcdEngine:
    """READY agents log in at t = 0, 1, 2 … (the first is the longest idle); PAUSED at 0, then pause."""
    e = AcdEngine(queues, agents)
    for i, a in enumerate(ready):
        e.login(a, float(i))
    for a in paused:
        e.login(a, 0.0)
        e.set_not_ready(a, "休息", 0.0)
    drain(e)
    return e


def drain(e: AcdEngine) -> tuple[list, list[QueueEvent]]:
    return e.actions(), e.events()


def offers(actions: list) -> list[tuple[str, tuple[str, ...]]]:
    return [(a.call_id, a.agent_ids) for a in actions if isinstance(a, Offer)]


def kinds(events: list[QueueEvent]) -> list[str]:
    return [x.kind for x in events]


def only(events: list[QueueEvent], kind: str) -> QueueEvent:
    found = [x for x in events if x.kind == kind]
    assert len(found) == 1, (kind, events)
    return found[0]


def take(e: AcdEngine, call_id: str, agent_id: str, start: float, end: float) -> None:
    """AGENT answers CALL at START and the caller hangs up at END."""
    e.answered(call_id, agent_id, start)
    e.completed(call_id, end, by="caller")


def general(**kw) -> QueueConfig:
    return QueueConfig("general", **kw)


# ---- strategies through the engine ----------------------------------------------------------

def test_longest_idle_offers_the_agent_idle_longest() -> None:
    e = make([general()], [agent("1001"), agent("1002"), agent("1003")], ready=("1003", "1001", "1002"))
    e.join("c1", "general", 10)
    assert e.actions() == [Offer("c1", ("1003",), 15.0),
                           AgentStateChanged("1003", S.RINGING)]
    e.answered("c1", "1003", 11)
    e.join("c2", "general", 12)
    assert offers(e.actions()) == [("c2", ("1001",))]


def test_round_robin_remembers_the_last_offered_member() -> None:
    e = make([general(strategy="round_robin", wrapup=0)], [agent("1001"), agent("1002"), agent("1003")],
             ready=("1001", "1002", "1003"))
    e.join("c1", "general", 1)
    take(e, "c1", "1001", 1, 2)                     # 1001 idle since 2
    e.set_not_ready("1003", "休息", 3)
    e.set_ready("1003", 5)                          # 1003 idle since 5: longest idle would pick 1001
    drain(e)
    got = []
    for i, call in enumerate(("c2", "c3", "c4")):
        e.join(call, "general", 10 + 2 * i)
        (offer,) = offers(e.actions())
        got.append(offer[1][0])
        take(e, call, offer[1][0], 10 + 2 * i, 11 + 2 * i)
    assert got == ["1002", "1003", "1001"]


def test_round_robin_memory_is_per_queue() -> None:
    queues = [general(strategy="round_robin", wrapup=0),
              QueueConfig("elder", strategy="round_robin", wrapup=0)]
    agents = [agent("1001", general=0, elder=0), agent("1002", general=0, elder=0)]
    e = make(queues, agents, ready=("1001", "1002"))
    e.join("g1", "general", 5)
    take(e, "g1", "1001", 5, 6)
    drain(e)
    e.join("e1", "elder", 7)                         # elder has offered nobody yet: its first member
    assert offers(e.actions()) == [("e1", ("1001",))]


def test_fewest_calls_prefers_the_agent_with_fewer_calls_over_the_longest_idle() -> None:
    e = make([general(strategy="fewest_calls", wrapup=0)], [agent("1001"), agent("1002")],
             ready=("1001", "1002"))
    e.join("c1", "general", 1)
    e.join("c2", "general", 1)
    assert offers(e.actions()) == [("c1", ("1001",)), ("c2", ("1002",))]
    e.answered("c1", "1001", 2)
    e.answered("c2", "1002", 2)
    e.completed("c1", 3, by="agent")
    e.join("c3", "general", 4)
    take(e, "c3", "1001", 4, 5)                      # 1001: 2 calls, idle since 5
    e.completed("c2", 6, by="caller")                # 1002: 1 call, idle since 6
    drain(e)
    e.join("c4", "general", 7)
    assert offers(e.actions()) == [("c4", ("1002",))]
    assert e.agent("1001").calls_taken == 2 and e.agent("1002").calls_taken == 1


def test_skills_offers_the_best_skill_first() -> None:
    e = make([general(strategy="skills", penalty_steps=ANY)],
             [agent("1001", general=2), agent("1002", general=0), agent("1003", general=1)],
             ready=("1001", "1002", "1003"))
    e.join("c1", "general", 5)
    e.join("c2", "general", 6)
    e.join("c3", "general", 7)
    assert offers(e.actions()) == [("c1", ("1002",)), ("c2", ("1003",)), ("c3", ("1001",))]


def test_ring_all_first_answer_wins_and_the_others_stop_ringing() -> None:
    e = make([general(strategy="ring_all")], [agent("1001"), agent("1002"), agent("1003")],
             ready=("1001", "1002", "1003"))
    e.join("c1", "general", 10, caller="13912345678")
    actions, events = drain(e)
    assert offers(actions) == [("c1", ("1001", "1002", "1003"))]
    assert [(x.kind, x.agent_id) for x in events if x.kind == "offered"] == [
        ("offered", "1001"), ("offered", "1002"), ("offered", "1003")]
    assert all(e.agent(a).state is S.RINGING for a in ("1001", "1002", "1003"))
    e.answered("c1", "1002", 13)
    actions, events = drain(e)
    assert Connected("c1", "1002") in actions and CancelOffer("c1", ("1001", "1003")) in actions
    assert only(events, "connected").agent_id == "1002"
    assert only(events, "connected").data == {"wait_s": 3, "ring_s": 3}
    assert [e.agent(a).state for a in ("1001", "1002", "1003")] == [S.READY, S.BUSY, S.READY]
    assert e.agent("1001").idle_since == 0 and e.agent("1003").idle_since == 2   # kept their place
    with pytest.raises(AcdError, match="1001 is ready"):
        e.answered("c1", "1001", 14)


def test_ring_all_timeout_pauses_every_ringing_agent() -> None:
    e = make([general(strategy="ring_all")], [agent("1001"), agent("1002")], ready=("1001", "1002"))
    e.join("c1", "general", 0)
    drain(e)
    e.handle_timer(15)
    actions, events = drain(e)
    assert actions[0] == CancelOffer("c1", ("1001", "1002"))
    assert kinds(events) == ["ring_no_answer", "paused", "ring_no_answer", "paused"]
    assert {e.agent(a).reason for a in ("1001", "1002")} == {"未接"}


# ---- priorities and ageing ------------------------------------------------------------------

def waiting_ids(e: AcdEngine, queue: str | None = None) -> list[str]:
    return [w.call_id for w in e.waiting(queue)]


def test_elder_credit_beats_a_normal_call_that_waited_less_than_the_credit() -> None:
    e = make([general()], [agent("1001")])
    e.join("normal", "general", 0)
    e.join("elder", "general", 59, priority=Priority.ELDER)
    assert waiting_ids(e) == ["elder", "normal"]
    e.login("1001", 100)
    assert offers(e.actions()) == [("elder", ("1001",))]


def test_a_normal_call_that_waited_longer_than_the_credit_goes_first() -> None:
    e = make([general()], [agent("1001")])
    e.join("normal", "general", 0)
    e.join("elder", "general", 61, priority=Priority.ELDER)
    e.join("level", "general", 60, priority=Priority.ELDER)     # ranks level with "normal": earlier wins
    assert waiting_ids(e) == ["normal", "level", "elder"]
    assert [w.position for w in e.waiting()] == [1, 2, 3]
    e.login("1001", 100)
    assert offers(e.actions()) == [("normal", ("1001",))]


def test_emergency_goes_first_across_queues() -> None:
    queues = [QueueConfig("emergency"), general()]
    e = make(queues, [agent("1001", general=0, emergency=0)])
    e.join("n", "general", 0)
    e.join("e", "general", 0, priority=Priority.ELDER)
    e.join("sos", "emergency", 500, priority=Priority.EMERGENCY)
    assert waiting_ids(e) == ["sos", "e", "n"]
    assert [(w.queue, w.position) for w in e.waiting()] == [("emergency", 1), ("general", 1), ("general", 2)]
    e.login("1001", 501)
    assert offers(e.actions()) == [("sos", ("1001",))]


# ---- ring-no-answer, decline ----------------------------------------------------------------

def test_ring_no_answer_autopauses_and_the_caller_keeps_its_place() -> None:
    e = make([general()], [agent("1001"), agent("1002")], ready=("1001",), paused=("1002",))
    e.join("c1", "general", 10)
    e.join("c2", "general", 12)
    assert offers(e.actions()) == [("c1", ("1001",))] and e.get_timer() == 25
    drain(e)
    e.handle_timer(24.9)
    assert drain(e) == ([], [])
    e.handle_timer(25)
    actions, events = drain(e)
    assert actions == [CancelOffer("c1", ("1001",)), AgentStateChanged("1001", S.NOT_READY, "未接")]
    assert [(x.kind, x.agent_id, x.data) for x in events] == [
        ("ring_no_answer", "1001", {"ring_s": 15}), ("paused", "1001", {"reason": "未接"})]
    assert waiting_ids(e) == ["c1", "c2"] and e.waiting()[0].offered_to == ()
    e.set_ready("1002", 30)
    assert offers(e.actions()) == [("c1", ("1002",))]


def test_without_autopause_the_call_tries_the_other_agents_first() -> None:
    e = make([general(autopause=False)], [agent("1001"), agent("1002")], ready=("1001", "1002"))
    e.join("c1", "general", 5)
    assert offers(e.actions()) == [("c1", ("1001",))]
    e.handle_timer(20)
    actions, events = drain(e)
    assert offers(actions) == [("c1", ("1002",))] and "paused" not in kinds(events)
    assert e.agent("1001").state is S.READY
    e.handle_timer(35)                               # both tried: round again, longest idle first
    assert offers(e.actions()) == [("c1", ("1001",))]


def test_emergency_ring_all_keeps_ringing_everyone() -> None:
    cfg = default_acd()
    e = make(list(cfg.queues), [agent("1001", emergency=0), agent("1002", emergency=5)],
             ready=("1001", "1002"))
    e.join("sos", "emergency", 10, priority=Priority.EMERGENCY)
    assert offers(e.actions()) == [("sos", ("1001", "1002"))]
    e.handle_timer(25)
    assert offers(e.actions()) == [("sos", ("1001", "1002"))]


def test_a_declined_call_goes_to_the_next_agent_and_never_back() -> None:
    e = make([general()], [agent("1001"), agent("1002")], ready=("1001", "1002"))
    e.join("c1", "general", 5)
    drain(e)
    e.declined("c1", "1001", 7)
    actions, events = drain(e)
    assert kinds(events) == ["ring_no_answer", "offered"] and events[0].data == {"ring_s": 2}
    assert offers(actions) == [("c1", ("1002",))] and e.agent("1001").state is S.READY
    e.declined("c1", "1002", 8)
    assert e.waiting()[0].declined_by == ("1001", "1002") and offers(e.actions()) == []
    e.join("c2", "general", 9)                       # the decliners still take other calls
    assert offers(e.actions()) == [("c2", ("1001",))]


# ---- wrap-up ----------------------------------------------------------------------------------

def test_wrapup_the_agents_own_length_wins_over_the_queues() -> None:
    e = make([general(wrapup=10)], [agent("1001", wrapup=3), agent("1002")], ready=("1001", "1002"))
    e.join("c1", "general", 1)
    e.join("c2", "general", 1)
    e.answered("c1", "1001", 2)
    e.answered("c2", "1002", 2)
    drain(e)
    e.completed("c1", 50, by="agent")
    e.completed("c2", 50, by="caller")
    actions, events = drain(e)
    assert kinds(events) == ["completed", "wrapup_started", "completed", "wrapup_started"]
    assert events[1].call_id == "c1" and events[1].data == {}
    assert e.agent("1001").wrapup_until == 53 and e.agent("1002").wrapup_until == 60
    assert e.get_timer() == 53
    e.handle_timer(53)
    actions, events = drain(e)
    assert actions == [AgentStateChanged("1001", S.READY)]
    assert [(x.kind, x.call_id, x.queue, x.data) for x in events] == [
        ("wrapup_ended", "c1", "general", {"wrapup_s": 3})]
    assert e.agent("1001").idle_since == 53 and e.get_timer() == 60


def test_set_ready_ends_wrapup_early_and_takes_the_next_call() -> None:
    e = make([general(wrapup=10)], [agent("1001")], ready=("1001",))
    e.join("c1", "general", 1)
    e.answered("c1", "1001", 2)
    e.join("c2", "general", 3)
    e.completed("c1", 20, by="caller")
    drain(e)
    e.set_ready("1001", 24)
    actions, events = drain(e)
    assert kinds(events) == ["wrapup_ended", "offered"] and events[0].data == {"wrapup_s": 4}
    assert offers(actions) == [("c2", ("1001",))] and e.agent("1001").idle_since == 24


def test_zero_wrapup_makes_the_agent_ready_at_once() -> None:
    e = make([general(wrapup=0)], [agent("1001")], ready=("1001",))
    e.join("c1", "general", 1)
    e.answered("c1", "1001", 2)
    e.join("c2", "general", 3)
    drain(e)
    e.completed("c1", 20, by="caller")
    actions, events = drain(e)
    assert kinds(events) == ["completed", "offered"] and offers(actions) == [("c2", ("1001",))]


def test_transferred_leaves_the_agent_in_wrapup() -> None:
    e = make([general()], [agent("1001")], ready=("1001",))
    e.join("c1", "general", 0)
    e.answered("c1", "1001", 5)
    drain(e)
    e.transferred("c1", 65, to="13900000000")
    _, events = drain(e)
    assert [(x.kind, x.agent_id, x.data) for x in events] == [
        ("transferred", "1001", {"to": "13900000000", "talk_s": 60}), ("wrapup_started", "1001", {})]
    assert e.agent("1001").state is S.WRAPUP and e.waiting() == []


# ---- max wait and overflow --------------------------------------------------------------------

def test_max_wait_overflow_to_a_queue_keeps_the_callers_wait() -> None:
    queues = [general(max_wait=60, overflow=OverflowRule("queue", "elder"), penalty_steps=ANY),
              QueueConfig("elder", max_wait=30, overflow=OverflowRule("callback"), penalty_steps=ANY)]
    e = make(queues, [agent("1001", elder=0)], paused=("1001",))
    e.join("g", "general", 0, caller="13912345678")
    e.join("e", "elder", 45, caller="02988888888")
    drain(e)
    assert e.get_timer() == 60
    e.handle_timer(60)
    actions, events = drain(e)
    assert actions == [Overflow("g", OverflowRule("queue", "elder"), "max_wait")]
    assert [(x.kind, x.queue, x.data) for x in events] == [
        ("overflowed", "general", {"reason": "max_wait", "target": "queue:elder", "wait_s": 60}),
        ("joined", "elder", {"priority": 2, "caller": "13912345678", "position": 1})]
    (g, e2) = e.waiting("elder")                      # g waited longer: ahead of e
    assert (g.call_id, g.enqueued_at, g.queue_joined_at, e2.call_id) == ("g", 0, 60, "e")
    # "e" overflows 30 s after it joined elder; "g" 30 s after it entered elder, not at once.
    assert e.get_timer() == 75
    e.handle_timer(75)
    assert drain(e)[0] == [Overflow("e", OverflowRule("callback"), "max_wait")]
    assert e.get_timer() == 90
    e.set_ready("1001", 80)
    e.answered("g", "1001", 81)
    assert only(e.events(), "connected").data == {"wait_s": 81, "ring_s": 1}


def test_overflow_to_mobile_and_callback_end_the_call_in_the_acd() -> None:
    mobile = OverflowRule("mobile", "13900000000")
    e = make([general(max_wait=20, overflow=mobile), QueueConfig("elder", max_wait=40, overflow="callback")],
             [agent("1001")])
    e.join("c1", "general", 0)
    e.join("c2", "elder", 0)
    drain(e)
    e.handle_timer(20)
    assert e.actions() == [Overflow("c1", mobile, "max_wait")]
    assert only(e.events(), "overflowed").data == {"reason": "max_wait", "target": "mobile:13900000000",
                                                    "wait_s": 20}
    e.handle_timer(45)
    assert e.actions() == [Overflow("c2", OverflowRule("callback"), "max_wait")]
    assert only(e.events(), "overflowed").data["wait_s"] == 45   # a late timer reports the real wait
    assert e.waiting() == [] and e.get_timer() is None
    with pytest.raises(AcdError, match="no call 'c1'"):
        e.abandon("c1", 50)


def test_default_general_queue_overflows_to_callback_after_two_minutes() -> None:
    e = AcdEngine.from_config(default_acd())
    e.join("c1", "general", 1000)
    e.handle_timer(1119.9)
    assert e.actions() == [] and e.get_timer() == 1120
    e.handle_timer(1120)
    assert e.actions() == [Overflow("c1", OverflowRule("callback"), "max_wait")]


def test_max_wait_does_not_cut_a_ringing_call_it_overflows_when_the_ring_ends() -> None:
    e = make([general(max_wait=20, overflow="callback", penalty_steps=ANY)], [agent("1001")], ready=("1001",))
    e.join("c1", "general", 0)
    e.handle_timer(15)                                # ring-no-answer: 1001 paused
    e.set_ready("1001", 18)                           # rings again until 33
    drain(e)
    assert e.get_timer() == 33
    e.handle_timer(33)
    actions, events = drain(e)
    assert kinds(events) == ["ring_no_answer", "paused", "overflowed"]
    assert actions[-1] == Overflow("c1", OverflowRule("callback"), "max_wait")


def test_join_empty_false_overflows_at_once_when_nobody_can_serve() -> None:
    mobile = OverflowRule("mobile", "13900000000")
    e = make([general(join_empty=False, overflow=mobile), QueueConfig("elder")],
             [agent("1001"), agent("2001", elder=0)])
    e.join("c1", "general", 5, caller="13912345678")
    actions, events = drain(e)
    assert actions == [Overflow("c1", mobile, "no_agents")]
    assert [(x.kind, x.data) for x in events] == [
        ("joined", {"priority": 2, "caller": "13912345678", "position": 1}),
        ("overflowed", {"reason": "no_agents", "target": "mobile:13900000000", "wait_s": 0})]
    e.login("1001", 6)
    e.set_not_ready("1001", "会议", 6)                  # logged in, able, though paused: the call waits
    e.join("c2", "general", 7)
    assert not [a for a in e.actions() if isinstance(a, Overflow)] and waiting_ids(e) == ["c2"]


def test_leave_when_empty_overflows_the_callers_when_the_last_able_agent_logs_out() -> None:
    queues = [general(leave_when_empty=True, overflow="queue:elder"), QueueConfig("elder")]
    e = make(queues, [agent("1001"), agent("1002"), agent("3001", elder=0)], paused=("1001", "1002", "3001"))
    e.join("c1", "general", 1)
    e.join("c2", "general", 2)
    e.join("cb", "general", 3)
    e.request_callback("cb", "13912345678", 4)
    drain(e)
    e.logout("1001", 10)
    _, events = drain(e)
    assert kinds(events) == ["logged_out"]             # 1002 can still serve general
    e.logout("3001", 11)                               # not a general agent
    e.logout("1002", 12)
    actions, events = drain(e)
    assert [a for a in actions if isinstance(a, Overflow)] == [
        Overflow("c1", OverflowRule("queue", "elder"), "queue_empty"),
        Overflow("c2", OverflowRule("queue", "elder"), "queue_empty")]
    assert [x.data["reason"] for x in events if x.kind == "overflowed"] == ["queue_empty", "queue_empty"]
    assert waiting_ids(e, "elder") == ["c1", "c2"] and waiting_ids(e, "general") == ["cb"]  # callback stays


def test_an_overflow_cycle_keeps_moving_the_call() -> None:
    queues = [QueueConfig("a", max_wait=10, overflow="queue:b"),
              QueueConfig("b", max_wait=10, overflow="queue:a")]
    e = make(queues, [agent("1001", a=0)])
    e.join("c1", "a", 0)
    for t, queue in ((10, "b"), (20, "a"), (30, "b")):
        assert e.get_timer() == t
        e.handle_timer(t)
        assert waiting_ids(e, queue) == ["c1"] and e.waiting()[0].enqueued_at == 0
    assert kinds(e.events()) == ["joined"] + ["overflowed", "joined"] * 3


def test_a_chain_of_empty_queues_stops_at_the_first_queue_entered_twice() -> None:
    queues = [QueueConfig("a", join_empty=False, overflow="queue:b"),
              QueueConfig("b", join_empty=False, overflow="queue:a")]
    e = make(queues, [agent("1001", a=0)])
    e.join("c1", "a", 0)
    _, events = drain(e)
    assert [(x.kind, x.queue) for x in events] == [
        ("joined", "a"), ("overflowed", "a"), ("joined", "b"), ("overflowed", "b"), ("joined", "a")]
    assert waiting_ids(e, "a") == ["c1"]
    e.login("1001", 5)
    assert offers(e.actions()) == [("c1", ("1001",))]


# ---- penalty steps --------------------------------------------------------------------------

def test_penalty_relaxes_with_the_wait_and_the_call_is_matched_at_that_moment() -> None:
    e = make([general()], [agent("1001", general=1), agent("1002", general=5)], ready=("1001", "1002"))
    e.join("c1", "general", 10)
    e.join("c2", "general", 10)
    assert offers(e.actions()) == [] and e.waiting()[0].max_penalty == 0
    assert e.get_timer() == 40
    e.handle_timer(39.9)
    assert offers(e.actions()) == [] and e.waiting()[0].max_penalty == 0
    e.handle_timer(40)
    assert offers(e.actions()) == [("c1", ("1001",))]   # c2 may take 1001 too, but 1001 is ringing
    assert e.get_timer() == 55                           # c1's ring timeout comes before the next step
    e.answered("c1", "1001", 41)
    assert e.get_timer() == 70
    e.handle_timer(70)
    assert offers(e.actions()) == [("c2", ("1002",))]


def test_a_late_timer_still_relaxes_every_due_step() -> None:
    e = make([general()], [agent("1002", general=5)], ready=("1002",))
    e.join("c1", "general", 0)
    e.handle_timer(100)                                  # steps at 30 and 60 both due
    assert offers(e.actions()) == [("c1", ("1002",))] and e.waiting()[0].max_penalty == 9


# ---- announcements ----------------------------------------------------------------------------

def test_announcements_with_position_and_expected_wait() -> None:
    e = make([general(announce_every=30, ring_timeout=60), QueueConfig("elder")],
             [agent("1001"), agent("1002"), agent("9001", elder=0)], paused=("1001", "1002", "9001"))
    e.join("c1", "general", 0)
    assert e.actions() == [Announce("c1", 1, 90)]       # 1 × 180 s ÷ 2 able agents
    e.join("c2", "general", 10)
    assert e.actions() == [Announce("c2", 2, 180)]
    assert e.get_timer() == 30
    e.handle_timer(30)
    assert e.actions() == [Announce("c1", 1, 90)]
    e.handle_timer(40)
    assert e.actions() == [Announce("c2", 2, 180)]
    e.abandon("c1", 45)
    e.handle_timer(70)
    assert e.actions() == [Announce("c2", 1, 90)]       # moved up
    e.set_ready("1001", 80)
    drain(e)
    e.handle_timer(100)                                  # ringing: no announcement, the beat goes on
    assert e.actions() == [] and e.get_timer() == 130
    e.answered("c2", "1001", 101)
    e.completed("c2", 171, by="caller")                  # talk 70 s
    e.handle_timer(181)                                  # + 10 s wrap-up: mean handle time 80 s
    assert e.expected_wait("general", 3) == 120          # 3 × 80 ÷ 2
    e.logout("1001", 190)
    e.logout("1002", 190)
    assert e.expected_wait("general", 1) == 0            # nobody logged in to serve it: unknown


def test_a_call_offered_at_once_is_not_announced() -> None:
    e = make([general(announce_every=30)], [agent("1001")], ready=("1001",))
    e.join("c1", "general", 0)
    assert not [a for a in e.actions() if isinstance(a, Announce)]
    assert e.get_timer() == 15                           # the ring timeout; next announce at 30


def test_a_callback_call_is_not_announced() -> None:
    e = make([general(announce_every=30)], [agent("1001")], paused=("1001",))
    e.join("c1", "general", 0)
    e.request_callback("c1", "13912345678", 5)
    drain(e)
    e.handle_timer(100)
    assert e.actions() == [] and e.get_timer() is None


# ---- queued callback ----------------------------------------------------------------------------

def test_callback_keeps_its_place_then_the_agent_is_offered_it_first() -> None:
    e = make([general()], [agent("1001")], paused=("1001",))
    e.join("c1", "general", 0, caller="13912345678")
    e.join("c2", "general", 5)
    drain(e)
    e.request_callback("c1", "13912345678", 20)
    assert only(e.events(), "callback_requested").data == {"number": "13912345678", "wait_s": 20}
    assert waiting_ids(e) == ["c1", "c2"] and e.waiting()[0].callback == "13912345678"
    e.set_ready("1001", 30)
    actions, events = drain(e)
    assert Offer("c1", ("1001",), 15.0, "13912345678") in actions
    assert only(events, "offered").data == {"callback": True}
    e.answered("c1", "1001", 32)
    actions, events = drain(e)
    assert CallbackDue("c1", "1001", "13912345678") in actions
    assert not any(isinstance(a, Connected) for a in actions) and "connected" not in kinds(events)
    assert e.agent("1001").state is S.BUSY
    with pytest.raises(AcdError, match="dialing"):
        e.completed("c1", 35, by="agent")
    e.callback_result("c1", 40, reached=True)
    actions, events = drain(e)
    assert Connected("c1", "1001") in actions
    assert only(events, "connected").data == {"wait_s": 40, "ring_s": 2}
    e.completed("c1", 100, by="agent")
    assert only(e.events(), "completed").data == {"by": "agent", "wait_s": 40, "talk_s": 60}


def test_callback_not_reached_puts_the_agent_in_wrapup() -> None:
    e = make([general()], [agent("1001")], ready=("1001",))
    e.join("c1", "general", 0)
    drain(e)
    e.request_callback("c1", "13912345678", 1)          # while ringing: offered again, as a callback
    actions, _ = drain(e)
    assert actions[0] == CancelOffer("c1", ("1001",))
    assert Offer("c1", ("1001",), 15.0, "13912345678") in actions
    e.answered("c1", "1001", 3)
    drain(e)
    e.callback_result("c1", 30, reached=False)
    actions, events = drain(e)
    assert [(x.kind, x.agent_id, x.data) for x in events] == [
        ("callback_failed", "1001", {"number": "13912345678"}), ("wrapup_started", "1001", {})]
    assert e.agent("1001").state is S.WRAPUP and e.waiting() == []
    with pytest.raises(AcdError, match="no call 'c1'"):
        e.callback_result("c1", 31, reached=True)


# ---- the caller or the agent leaves --------------------------------------------------------------

def test_abandon_while_ringing_cancels_the_offer() -> None:
    e = make([general()], [agent("1001")], ready=("1001",))
    e.join("c1", "general", 0)
    drain(e)
    e.abandon("c1", 5)
    actions, events = drain(e)
    assert actions == [CancelOffer("c1", ("1001",)), AgentStateChanged("1001", S.READY)]
    assert [(x.kind, x.agent_id, x.data) for x in events] == [
        ("abandoned", "1001", {"wait_s": 5, "position": 1, "original_position": 1})]
    assert e.agent("1001").idle_since == 0 and e.get_timer() is None


def test_abandon_reports_the_position_now_and_at_joining() -> None:
    e = make([general()], [agent("1001")])
    e.join("c1", "general", 0)
    e.join("c2", "general", 1, priority=Priority.ELDER)
    drain(e)
    e.abandon("c1", 9)
    assert only(e.events(), "abandoned").data == {"wait_s": 9, "position": 2, "original_position": 1}


def test_logout_while_ringing_gives_the_call_to_the_next_agent() -> None:
    e = make([general()], [agent("1001"), agent("1002")], ready=("1001", "1002"))
    e.join("c1", "general", 2)
    drain(e)
    e.logout("1001", 3)
    actions, events = drain(e)
    assert actions[:2] == [AgentStateChanged("1001", S.LOGGED_OUT), CancelOffer("c1", ("1001",))]
    assert offers(actions) == [("c1", ("1002",))]
    assert kinds(events) == ["logged_out", "offered"]


def test_logout_during_wrapup_ends_it() -> None:
    e = make([general()], [agent("1001")], ready=("1001",))
    e.join("c1", "general", 0)
    take(e, "c1", "1001", 1, 31)
    drain(e)
    e.logout("1001", 34)
    _, events = drain(e)
    assert [(x.kind, x.data) for x in events] == [
        ("wrapup_ended", {"wrapup_s": 3}), ("logged_out", {"device": None})]
    assert e.get_timer() is None


# ---- errors ---------------------------------------------------------------------------------------

def test_errors_name_the_thing_and_leave_the_state_unchanged() -> None:
    e = make([general(announce_every=20), QueueConfig("elder")],
             [agent("1001"), agent("1002"), agent("1003")], ready=("1001", "1002"))
    e.join("ring", "general", 5)                          # ringing 1001
    e.join("talk", "general", 5)                          # ringing 1002, answered
    e.answered("talk", "1002", 6)
    e.join("wait", "general", 7)
    drain(e)
    bad = [
        (lambda: e.login("9999", 8), "no agent '9999'"),
        (lambda: e.login("1001", 8), "agent 1001 is ringing"),
        (lambda: e.logout("1002", 8), "agent 1002 is busy"),
        (lambda: e.logout("1003", 8), "agent 1003 is logged_out"),
        (lambda: e.set_ready("1002", 8), "agent 1002 is busy"),
        (lambda: e.set_ready("1001", 8), "agent 1001 is ringing"),
        (lambda: e.set_not_ready("1001", "休息", 8), "agent 1001 is ringing"),
        (lambda: e.set_not_ready("1003", "", 8), "needs a reason"),
        (lambda: e.join("wait", "general", 8), "call wait is waiting"),
        (lambda: e.join("new", "sales", 8), "no queue 'sales'"),
        (lambda: e.join("new", "general", 8, priority=7), "priority 7"),
        (lambda: e.join("", "general", 8), "non-empty"),
        (lambda: e.answered("wait", "1003", 8), "agent 1003"),
        (lambda: e.answered("ring", "1002", 8), "call ring is ringing 1001"),
        (lambda: e.answered("nope", "1001", 8), "no call 'nope'"),
        (lambda: e.declined("talk", "1002", 8), "call talk is connected agent 1002"),
        (lambda: e.abandon("talk", 8), "call talk is connected"),
        (lambda: e.completed("wait", 8, by="caller"), "call wait is waiting"),
        (lambda: e.completed("talk", 8, by="nobody"), "'caller' or 'agent'"),
        (lambda: e.transferred("talk", 8, to=""), "needs where to"),
        (lambda: e.transferred("ring", 8, to="8001"), "call ring is ringing"),
        (lambda: e.request_callback("wait", "13x", 8), "digits"),
        (lambda: e.request_callback("talk", "139", 8), "call talk is connected"),
        (lambda: e.callback_result("wait", 8, reached=True), "no callback is being dialed"),
        (lambda: e.waiting("sales"), "no queue"),
        (lambda: e.agent("x"), "no agent"),
    ]
    for verb, message in bad:
        before, timer = repr(vars(e)), e.get_timer()
        with pytest.raises(AcdError, match=message):
            verb()
        assert repr(vars(e)) == before and e.get_timer() == timer, message
        assert drain(e) == ([], []), message
    e.request_callback("wait", "13912345678", 9)
    drain(e)
    before = repr(vars(e))
    with pytest.raises(AcdError, match="already requested"):
        e.request_callback("wait", "13912345678", 10)
    assert repr(vars(e)) == before


def test_the_engine_refuses_bad_config() -> None:
    with pytest.raises(AcdConfigError, match=r"agents\[0\]\.skills\.sales: no queue 'sales'"):
        AcdEngine([general()], [agent("1001", sales=0)])
    with pytest.raises(AcdConfigError, match=r"queues\[0\]\.overflow\.target: no queue 'elder'"):
        AcdEngine([general(max_wait=5, overflow="queue:elder")], [])
    assert issubclass(AcdError, ValueError)


def test_idempotent_state_verbs() -> None:
    e = make([general()], [agent("1001")], ready=("1001",))
    e.set_ready("1001", 5)
    e.set_not_ready("1001", "休息", 6)
    drain(e)
    e.set_not_ready("1001", "休息", 7)
    assert drain(e) == ([], [])
    e.set_not_ready("1001", "培训", 8)                    # a new reason is a new pause record
    actions, events = drain(e)
    assert actions == [AgentStateChanged("1001", S.NOT_READY, "培训")] and kinds(events) == ["paused"]
    e.set_ready("1001", 9)
    assert [(x.kind, x.data) for x in e.events()] == [("unpaused", {"reason": "培训"})]


# ---- the queue log and the live view ------------------------------------------------------------

def test_every_event_kind_carries_its_documented_data() -> None:
    queues = [general(max_wait=300, overflow="callback"),
              QueueConfig("elder", join_empty=False, overflow="hangup")]
    e = make(queues, [agent("1001"), agent("1002")])
    e.login("1001", 0, device="fxs/1")
    e.login("1002", 0, device="fxs/2")
    e.set_not_ready("1002", "休息", 0)
    e.join("c1", "general", 1, caller="13912345678")
    e.handle_timer(16)                                    # ring_no_answer, paused
    e.set_ready("1001", 17)                               # unpaused, offered
    e.answered("c1", "1001", 18)                          # connected
    e.completed("c1", 60, by="caller")                    # completed, wrapup_started
    e.set_ready("1001", 62)                               # wrapup_ended
    e.join("c2", "general", 63)
    e.answered("c2", "1001", 64)
    e.transferred("c2", 70, to="8002")
    e.set_ready("1001", 70)
    e.join("c3", "general", 71)
    e.declined("c3", "1001", 72)
    e.abandon("c3", 73)                                   # abandoned
    e.join("c4", "general", 80)
    e.request_callback("c4", "13912345678", 81)           # callback_requested; re-offered
    e.answered("c4", "1001", 82)
    e.callback_result("c4", 90, reached=False)            # callback_failed
    e.join("c5", "elder", 100)                            # nobody for elder: overflowed
    e.logout("1002", 101)
    events = e.events()
    seen = {x.kind for x in events}
    assert seen == set(DATA_KEYS) - SHELL_KINDS, set(DATA_KEYS) - SHELL_KINDS - seen
    for x in events:
        assert set(x.data) == set(DATA_KEYS[x.kind]), x
        json.dumps(x.to_dict(), ensure_ascii=False)
    assert only(events, "logged_out").data == {"device": "fxs/2"}
    assert only(events, "completed").data == {"by": "caller", "wait_s": 17, "talk_s": 42}


def test_snapshot_gives_agents_by_state_with_durations_and_the_calls_waiting() -> None:
    e = make([general(), QueueConfig("elder")], [agent("1001"), agent("1002"), agent("1003"), agent("1004")],
             ready=("1001", "1002"))
    e.set_not_ready("1002", "休息", 10)
    e.join("c1", "general", 20)                           # ringing 1001
    e.join("c2", "general", 25, priority=Priority.ELDER)  # ranks ahead of c1, waits
    view = e.snapshot(40)
    assert view.at == 40 and set(view.agents) == set(AgentState)
    (ringing,) = view.agents[S.RINGING]
    assert (ringing.agent_id, ringing.seconds, ringing.call_id) == ("1001", 20, "c1")
    (paused,) = view.agents[S.NOT_READY]
    assert (paused.agent_id, paused.reason, paused.seconds) == ("1002", "休息", 30)
    assert [(a.agent_id, a.seconds) for a in view.agents[S.LOGGED_OUT]] == [("1003", None), ("1004", None)]
    assert view.agents[S.READY] == () and view.agents[S.BUSY] == ()
    assert [(c.call_id, c.queue, c.priority, c.position, c.wait_s, c.offered_to) for c in view.calls] == [
        ("c2", "general", Priority.ELDER, 1, 15, ()), ("c1", "general", Priority.NORMAL, 2, 20, ("1001",))]


def test_get_timer_is_the_earliest_deadline() -> None:
    e = make([general(max_wait=100, overflow="callback", announce_every=45)], [agent("1001", wrapup=7)],
             ready=("1001",))
    assert e.get_timer() is None
    e.join("c1", "general", 0)
    e.answered("c1", "1001", 1)
    e.completed("c1", 10, by="agent")
    assert e.get_timer() == 17                            # wrap-up
    e.join("c2", "general", 11)                           # max wait 111, steps 41 / 71, announce 56
    assert e.get_timer() == 17
    e.handle_timer(17)                                    # 1001 ready: rings for c2 until 32
    assert e.get_timer() == 32


# ---- random walk ---------------------------------------------------------------------------------

WALK_QUEUES = [
    QueueConfig("emergency", strategy="ring_all", penalty_steps=ANY, autopause=False, ring_timeout=10),
    QueueConfig("elder", strategy="skills", announce_every=20, max_wait=90, overflow="queue:general",
                wrapup=5),
    QueueConfig("general", strategy="round_robin", max_wait=60, overflow="callback", wrapup=0),
    QueueConfig("night", strategy="fewest_calls", join_empty=False, leave_when_empty=True,
                overflow="queue:elder"),
    QueueConfig("consult", max_wait=40, overflow="queue:night", announce_every=15),
]


def walk_agents(rng: random.Random) -> list[AgentConfig]:
    names = [q.name for q in WALK_QUEUES if q.name != "night"]
    out = []
    for i in range(6):
        skills = {q: rng.randint(0, 2) for q in rng.sample(names, rng.randint(1, 3))}
        if i < 2:   # few can serve "night": it empties, so join_empty / leave_when_empty happen
            skills["night"] = i
        out.append(AgentConfig(f"10{i:02d}", f"坐席{i}", None, skills, rng.choice([None, 0, 3])))
    return out


class Shadow:
    """What the shell would know from the actions and events alone."""

    def __init__(self, agents: list[AgentConfig]) -> None:
        self.state = {a.agent_id: S.LOGGED_OUT for a in agents}
        self.active: set[str] = set()       # joined, not ended
        self.ended: set[str] = set()
        self.connected: set[str] = set()
        self.callbacks: set[str] = set()

    def feed(self, actions: list, events: list[QueueEvent]) -> None:
        for a in actions:
            if isinstance(a, Offer):
                for agent_id in a.agent_ids:
                    # Never offered while not READY — so never two calls at once.
                    assert self.state[agent_id] is S.READY, (a, self.state[agent_id])
                    self.state[agent_id] = S.RINGING
            elif isinstance(a, AgentStateChanged):
                if a.state is S.RINGING:
                    assert self.state[a.agent_id] is S.RINGING   # set by its Offer just before
                self.state[a.agent_id] = a.state
        for x in events:
            if x.call_id is None or x.kind in ("wrapup_started", "wrapup_ended"):
                continue   # agent records; wrap-up names the call that has just ended
            assert x.call_id not in self.ended, ("event after the end", x)
            if x.kind == "joined":
                self.active.add(x.call_id)
            assert x.call_id in self.active, x
            if x.kind == "connected":
                self.connected.add(x.call_id)
            if x.kind == "callback_requested":
                self.callbacks.add(x.call_id)
            if x.kind == "overflowed" and x.data["target"].startswith("queue:"):
                continue
            if x.kind in CALL_ENDS:
                if x.call_id in self.connected:
                    assert x.kind in ("completed", "transferred"), x
                elif x.kind == "callback_failed":
                    assert x.call_id in self.callbacks, x
                else:
                    assert x.kind in ("abandoned", "overflowed"), x
                self.active.remove(x.call_id)
                self.ended.add(x.call_id)


def check(e: AcdEngine, shadow: Shadow, agents: dict[str, AgentConfig]) -> None:
    views = {a: e.agent(a) for a in agents}
    assert {a: v.state for a, v in views.items()} == shadow.state
    waiting = e.waiting()
    ringing_for: dict[str, str] = {}
    for w in waiting:
        for a in w.offered_to:
            assert a not in ringing_for, f"{a} offered two calls"
            assert views[a].state is S.RINGING and views[a].call_id == w.call_id
            ringing_for[a] = w.call_id
    assert {a for a, v in views.items() if v.state is S.RINGING} == set(ringing_for)
    on_calls = {v.call_id for v in views.values() if v.state is S.BUSY}
    assert shadow.active == {w.call_id for w in waiting} | on_calls
    ready = [a for a, v in views.items() if v.state is S.READY]
    for w in waiting:
        if w.offered_to:
            continue
        for a in ready:
            penalty = agents[a].skills.get(w.queue)
            assert penalty is None or penalty > w.max_penalty or a in w.declined_by, (
                f"{w.call_id} left waiting while {a} could take it")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_walk_keeps_the_invariants(seed: int) -> None:
    rng = random.Random(seed)
    configs = walk_agents(rng)
    agents = {a.agent_id: a for a in configs}
    ids = [*agents, "9999"]
    e = AcdEngine(WALK_QUEUES, configs)
    shadow = Shadow(configs)
    now, made, errors = 0.0, 0, 0

    def ringing_pair() -> tuple[str, str]:
        rung = [(w.call_id, a) for w in e.waiting() for a in w.offered_to]
        return rng.choice(rung) if rung else ("none", rng.choice(ids))

    def any_call() -> str:
        known = [w.call_id for w in e.waiting()] + [v.call_id for a in agents if (v := e.agent(a)).call_id]
        return rng.choice(known + [f"c{rng.randint(0, made)}", "nope"])

    def connected_call() -> str:
        busy = [v.call_id for a in agents if (v := e.agent(a)).state is S.BUSY and v.call_id]
        return rng.choice(busy) if busy and rng.random() < 0.9 else any_call()

    ops = {
        "login": lambda: e.login(rng.choice(ids), now),
        "logout": lambda: e.logout(rng.choice(ids), now),
        "ready": lambda: e.set_ready(rng.choice(ids), now),
        "pause": lambda: e.set_not_ready(rng.choice(ids), rng.choice(["休息", "会议"]), now),
        "join": lambda: e.join(f"c{made}", rng.choice([q.name for q in WALK_QUEUES]), now,
                               priority=rng.choice(list(Priority)), caller="139"),
        "answer": lambda: e.answered(*ringing_pair(), now),
        "decline": lambda: e.declined(*ringing_pair(), now),
        "abandon": lambda: e.abandon(any_call(), now),
        "complete": lambda: e.completed(connected_call(), now, by=rng.choice(["caller", "agent"])),
        "transfer": lambda: e.transferred(connected_call(), now, to="8000"),
        "callback": lambda: e.request_callback(any_call(), "13912345678", now),
        "result": lambda: e.callback_result(connected_call(), now, reached=rng.random() < 0.5),
    }
    weights = {"login": 6, "logout": 4, "ready": 6, "pause": 2, "join": 10, "answer": 10, "decline": 2,
               "abandon": 3, "complete": 8, "transfer": 1, "callback": 2, "result": 3, "timer": 12}
    names, w = list(weights), list(weights.values())
    for _ in range(3000):
        name = rng.choices(names, w)[0]
        now += rng.choice([0.0, 0.0, rng.uniform(0, 3)])
        if name == "timer":
            deadline = e.get_timer()
            now = max(now, deadline) if deadline is not None and rng.random() < 0.8 else now
            e.handle_timer(now)
        else:
            before = repr(vars(e))
            try:
                ops[name]()
            except AcdError:
                errors += 1
                assert repr(vars(e)) == before and e.actions() == [] and e.events() == []
            else:
                made += name == "join"
        shadow.feed(e.actions(), e.events())
        check(e, shadow, agents)
    assert made > 300 and errors > 100 and len(shadow.ended) > 200
    # Wind down: every call that joined ends exactly once.
    for w_call in e.waiting():
        e.abandon(w_call.call_id, now)
    for a in agents:
        v = e.agent(a)
        if v.state is S.BUSY and v.call_id:
            try:
                e.completed(v.call_id, now, by="agent")
            except AcdError:
                e.callback_result(v.call_id, now, reached=False)
    shadow.feed(e.actions(), e.events())
    check(e, shadow, agents)
    assert shadow.active == set() and len(shadow.ended) == made
