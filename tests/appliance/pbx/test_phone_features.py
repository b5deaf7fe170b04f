"""Hook-flash features of an agent's phone: every transition, the timers, the numbering plan,
the held caller hanging up, and invariants over random event sequences."""

from __future__ import annotations

import random

import pytest

from appliance.pbx import phone_features as pf
from appliance.pbx.phone_features import (
    CONSULT_RINGING,
    CONSULTING,
    DIAL_FAILED,
    EVENTS,
    HELD_DIALLING,
    IDLE,
    RECALLING,
    STATES,
    TALKING,
    THREE_WAY,
    TRANSITIONS,
    CancelConsult,
    ConnectConsult,
    DialTarget,
    DropConsult,
    FeatureTimeouts,
    HoldCaller,
    JoinThreeWay,
    LogEvent,
    NumberingPlan,
    NumberingPlanError,
    PhoneFeatureError,
    PhoneFeatures,
    PlayTone,
    PromoteConsult,
    RecallAgent,
    ReleaseAgent,
    RequeueCaller,
    ResumeCaller,
    Target,
    TransferAttended,
    TransferBlind,
)

PLAN = NumberingPlan(extensions=frozenset({"8001", "8002", "8003", "800"}), outside_prefix="9",
                     queue_codes={"600": "emergency", "601": "general"})
T0 = 1_700_000_000.0  # epoch seconds: the call was bridged to the phone


def phone(**kwargs: object) -> PhoneFeatures:
    return PhoneFeatures(PLAN, T0, own_extension="8001", **kwargs)  # type: ignore[arg-type]


def dial(machine: PhoneFeatures, digits: str, now: float) -> list[pf.Action]:
    out: list[pf.Action] = []
    for key in digits:
        out += machine.digit(key, now)
    return out


def held_dialling(now: float = T0 + 10) -> PhoneFeatures:
    machine = phone()
    machine.flash(now)
    return machine


def ringing(number: str = "8002", now: float = T0 + 10) -> PhoneFeatures:
    machine = held_dialling(now)
    dial(machine, number, now + 1)
    assert machine.state == CONSULT_RINGING
    return machine


def consulting(now: float = T0 + 10) -> PhoneFeatures:
    machine = ringing(now=now)
    machine.consult_answered(now + 5)
    assert machine.state == CONSULTING
    return machine


def three_way(now: float = T0 + 10) -> PhoneFeatures:
    machine = consulting(now)
    machine.flash(now + 20)
    assert machine.state == THREE_WAY
    return machine


# -- the table --------------------------------------------------------------------------------------
def test_the_table_names_every_state_and_only_known_events_and_handlers() -> None:
    assert set(TRANSITIONS) == set(STATES)
    for state, table in TRANSITIONS.items():
        assert set(table) <= set(EVENTS), state
        for handler in table.values():
            assert handler is None or callable(getattr(PhoneFeatures, handler)), (state, handler)


@pytest.mark.parametrize(("state", "refused"), [
    (TALKING, {"off_hook"}), (HELD_DIALLING, {"off_hook"}), (DIAL_FAILED, {"off_hook"}),
    (CONSULT_RINGING, {"off_hook", "consult_hung_up"}),
    (CONSULTING, {"off_hook", "consult_answered", "consult_failed"}),
    (THREE_WAY, {"off_hook", "consult_answered", "consult_failed"}),
    (RECALLING, {"flash", "digit", "on_hook"}), (IDLE, set()),
])
def test_exactly_the_impossible_events_are_refused(state: str, refused: set[str]) -> None:
    assert set(EVENTS) - set(TRANSITIONS[state]) == refused


def reach(state: str) -> PhoneFeatures:
    now = T0 + 10
    if state == TALKING:
        return phone()
    if state == HELD_DIALLING:
        return held_dialling(now)
    if state == DIAL_FAILED:
        machine = held_dialling(now)
        dial(machine, "5", now)
        return machine
    if state == CONSULT_RINGING:
        return ringing(now=now)
    if state == CONSULTING:
        return consulting(now)
    if state == THREE_WAY:
        return three_way(now)
    machine = held_dialling(now)
    machine.on_hook(now)  # RECALLING
    if state == IDLE:
        machine.off_hook(now)
        machine.on_hook(now)
    return machine


def fire(machine: PhoneFeatures, event: str, now: float) -> list[pf.Action]:
    if event == "digit":
        return machine.digit("1", now)
    if event == "consult_failed":
        return machine.consult_failed("busy", now)
    if event == "timer":
        return machine.timer(machine.get_timer() or now)
    return getattr(machine, event)(now)


@pytest.mark.parametrize(("state", "event"), [(s, e) for s in STATES for e in EVENTS
                                              if e not in TRANSITIONS[s]])
def test_a_refused_event_names_the_state_and_the_event(state: str, event: str) -> None:
    machine = reach(state)
    assert machine.state == state
    with pytest.raises(PhoneFeatureError, match=f"{event}.*{state}"):
        fire(machine, event, T0 + 100)
    assert machine.state == state  # nothing changed


def test_idle_takes_every_late_report_and_does_nothing() -> None:
    machine = phone()
    machine.on_hook(T0 + 60)
    assert machine.finished
    for event in EVENTS:
        assert fire(machine, event, T0 + 61) == [] and machine.state == IDLE


# -- talking ------------------------------------------------------------------------------------------
def test_hanging_up_while_talking_releases_the_agent() -> None:
    machine = phone()
    assert machine.state == TALKING and machine.get_timer() is None and not machine.caller_held
    assert machine.on_hook(T0 + 90) == [ReleaseAgent("agent_hung_up")]
    assert machine.finished


def test_the_caller_hanging_up_while_talking_gives_busy_tone() -> None:
    machine = phone()
    assert machine.caller_hung_up(T0 + 90) == [PlayTone("busy"), ReleaseAgent("caller_hung_up")]
    assert machine.finished


def test_keys_while_talking_are_not_features() -> None:
    machine = phone()
    assert dial(machine, "8002#", T0 + 5) == [] and machine.state == TALKING


def test_flash_holds_the_caller_and_gives_dial_tone() -> None:
    machine = phone()
    assert machine.flash(T0 + 10) == [HoldCaller(), PlayTone("dial")]
    assert machine.state == HELD_DIALLING and machine.caller_held
    assert machine.get_timer() == pytest.approx(T0 + 20)  # the first-digit timeout


# -- dialling -------------------------------------------------------------------------------------------
def test_flash_again_goes_back_to_the_caller() -> None:
    machine = held_dialling()
    dial(machine, "80", T0 + 11)
    assert machine.flash(T0 + 12) == [PlayTone("none"), ResumeCaller()]
    assert machine.state == TALKING and machine.digits == "" and machine.get_timer() is None


def test_a_complete_extension_dials_at_once() -> None:
    machine = held_dialling()
    assert machine.digit("8", T0 + 11) == [PlayTone("none")]  # dial tone stops at the first key
    assert dial(machine, "00", T0 + 11) == []
    assert machine.get_timer() == pytest.approx(T0 + 15)  # 800 is an extension too: wait
    assert machine.digit("2", T0 + 12) == [DialTarget("8002", "extension"), PlayTone("ringback")]
    assert machine.state == CONSULT_RINGING and machine.target == Target("extension", "8002")
    assert machine.get_timer() == pytest.approx(T0 + 42)  # the consult rings 30 s at most


def test_the_inter_digit_timeout_dials_what_was_collected() -> None:
    machine = held_dialling()
    dial(machine, "800", T0 + 11)
    assert machine.timer(T0 + 14.9) == [] and machine.state == HELD_DIALLING  # early: nothing
    assert machine.timer(T0 + 15) == [DialTarget("800", "extension"), PlayTone("ringback")]


def test_hash_ends_dialling_and_the_outside_prefix_is_stripped() -> None:
    machine = held_dialling()
    dial(machine, "913800138000", T0 + 11)
    assert machine.state == HELD_DIALLING
    out = machine.digit("#", T0 + 12)
    assert out == [DialTarget("13800138000", "outside"), PlayTone("ringback")]
    assert machine.target == Target("outside", "13800138000")


def test_an_outside_number_dials_after_the_pause_or_at_its_longest() -> None:
    machine = held_dialling()
    dial(machine, "9110", T0 + 11)
    assert machine.timer(T0 + 15) == [DialTarget("110", "outside"), PlayTone("ringback")]
    machine = held_dialling()
    out = dial(machine, "9" + "1" * 20, T0 + 11)
    assert out[-2:] == [DialTarget("1" * 20, "outside"), PlayTone("ringback")]


def test_a_queue_code_dials_the_queue() -> None:
    machine = held_dialling()
    out = dial(machine, "600", T0 + 11)
    assert out[-2:] == [DialTarget("600", "queue", "emergency"), PlayTone("ringback")]
    assert out[-2].target == Target("queue", "600", "emergency")  # type: ignore[attr-defined]


@pytest.mark.parametrize("keys", ["5", "7", "8004", "6", "91#", "#", "8001", "*"])
def test_invalid_numbers_give_congestion_and_then_the_caller(keys: str) -> None:
    machine = held_dialling()
    out = dial(machine, keys, T0 + 11)
    if machine.state == HELD_DIALLING:  # a prefix of something: the pause decides
        out += machine.timer(T0 + 15)
    assert out[-1] == PlayTone("congestion") and machine.state == DIAL_FAILED
    assert machine.caller_held and machine.target is None
    deadline = machine.get_timer()
    assert deadline is not None and machine.timer(deadline - 0.5) == []
    assert machine.timer(deadline) == [PlayTone("none"), ResumeCaller()]
    assert machine.state == TALKING


def test_the_agent_cannot_consult_their_own_extension() -> None:
    machine = held_dialling()
    assert dial(machine, "8001", T0 + 11)[-1] == PlayTone("congestion")


def test_no_key_within_the_first_digit_timeout_is_back_to_the_caller() -> None:
    machine = held_dialling(T0 + 10)
    assert machine.timer(T0 + 19) == []
    assert machine.timer(T0 + 20) == [PlayTone("none"), ResumeCaller()]
    assert machine.state == TALKING


def test_timeouts_can_be_configured() -> None:
    machine = phone(timeouts=FeatureTimeouts(first_digit=5, inter_digit=2, failure_tone=1, consult_ring=8,
                                             recall=12))
    machine.flash(T0)
    assert machine.get_timer() == T0 + 5
    dial(machine, "800", T0 + 1)
    assert machine.get_timer() == T0 + 3
    machine.timer(T0 + 3)
    assert machine.get_timer() == T0 + 11


def test_flash_in_a_failure_is_back_to_the_caller_at_once() -> None:
    machine = held_dialling()
    dial(machine, "5", T0 + 11)
    assert machine.flash(T0 + 12) == [PlayTone("none"), ResumeCaller()]


def test_a_bad_key_is_refused() -> None:
    with pytest.raises(PhoneFeatureError, match="key 'x'"):
        held_dialling().digit("x", T0)


# -- the consult ringing --------------------------------------------------------------------------------
def test_the_consult_answers() -> None:
    machine = ringing()
    assert machine.consult_answered(T0 + 15) == [PlayTone("none"), ConnectConsult()]
    assert machine.state == CONSULTING and machine.caller_held and machine.get_timer() is None


@pytest.mark.parametrize(("reason", "tone"), [("busy", "busy"), ("no_answer", "congestion"),
                                              ("unreachable", "congestion")])
def test_a_failed_consult_gives_its_tone_then_the_caller(reason: str, tone: str) -> None:
    machine = ringing()
    assert machine.consult_failed(reason, T0 + 15) == [PlayTone(tone)]
    assert machine.state == DIAL_FAILED and machine.target is None
    assert machine.timer(T0 + 18) == [PlayTone("none"), ResumeCaller()]


def test_an_unknown_failure_reason_is_refused() -> None:
    with pytest.raises(PhoneFeatureError, match="'rejected'"):
        ringing().consult_failed("rejected", T0 + 15)


def test_a_consult_nobody_answers_is_cancelled_after_the_ring_timeout() -> None:
    machine = ringing(now=T0 + 10)
    assert machine.timer(T0 + 40) == []
    assert machine.timer(T0 + 41) == [CancelConsult(), PlayTone("congestion")]
    assert machine.state == DIAL_FAILED


def test_flash_while_ringing_cancels_and_is_back_to_the_caller() -> None:
    machine = ringing()
    assert machine.flash(T0 + 14) == [CancelConsult(), PlayTone("none"), ResumeCaller()]
    assert machine.state == TALKING and machine.target is None
    # The cancelled consult's last word, reported late, changes nothing.
    assert machine.consult_answered(T0 + 14.02) == [] and machine.consult_hung_up(T0 + 14.04) == []
    assert machine.consult_failed("busy", T0 + 14.06) == [] and machine.state == TALKING


def test_hanging_up_while_ringing_is_a_blind_transfer() -> None:
    machine = ringing("913800138000#")
    out = machine.on_hook(T0 + 14)
    target = Target("outside", "13800138000")
    data = {"kind": "blind", "to": "13800138000", "target": "outside", "talk_s": 14.0}
    assert out == [TransferBlind(target), LogEvent("transferred", T0 + 14, data), ReleaseAgent("transferred")]
    assert machine.finished


def test_a_blind_transfer_to_a_queue_logs_the_queue() -> None:
    machine = ringing("601")
    log = [a for a in machine.on_hook(T0 + 14) if isinstance(a, LogEvent)]
    assert log[0].data["queue"] == "general" and log[0].data["target"] == "queue"


# -- consulting and three-way ---------------------------------------------------------------------------
def test_flash_while_consulting_makes_a_three_way_call() -> None:
    machine = consulting()
    out = machine.flash(T0 + 30)
    assert out == [JoinThreeWay(), LogEvent("three_way", T0 + 30, {"with": "8002", "target": "extension"})]
    assert machine.state == THREE_WAY and not machine.caller_held


def test_flash_in_three_way_drops_the_third_party_and_can_start_over() -> None:
    machine = three_way()
    assert machine.flash(T0 + 40) == [DropConsult()]
    assert machine.state == TALKING and machine.target is None
    assert machine.flash(T0 + 50) == [HoldCaller(), PlayTone("dial")]  # a new consult may follow


def test_hanging_up_while_consulting_is_an_attended_transfer() -> None:
    machine = consulting()
    assert machine.on_hook(T0 + 30) == [
        TransferAttended(),
        LogEvent("transferred", T0 + 30, {"kind": "attended", "to": "8002", "target": "extension",
                                          "talk_s": 30.0}),
        ReleaseAgent("transferred")]
    assert machine.finished


def test_hanging_up_in_three_way_leaves_caller_and_third_party_connected() -> None:
    machine = three_way()
    out = machine.on_hook(T0 + 45)
    assert out[0] == TransferAttended() and out[-1] == ReleaseAgent("transferred")
    assert isinstance(out[1], LogEvent) and out[1].data["kind"] == "attended"


def test_the_consult_hanging_up_is_back_to_the_caller() -> None:
    machine = consulting()
    assert machine.consult_hung_up(T0 + 30) == [ResumeCaller()]
    assert machine.state == TALKING and machine.target is None


def test_the_third_party_leaving_a_three_way_leaves_two_talking() -> None:
    machine = three_way()
    assert machine.consult_hung_up(T0 + 40) == [] and machine.state == TALKING
    assert machine.consult_hung_up(T0 + 41) == []  # told twice: still nothing


def test_keys_while_consulting_reach_the_third_party_not_the_machine() -> None:
    machine = consulting()
    assert dial(machine, "12#", T0 + 20) == [] and machine.state == CONSULTING


# -- recall: the agent put the phone down on a held caller -----------------------------------------------
@pytest.mark.parametrize("keys", ["", "80", "5"])
def test_hanging_up_on_a_held_caller_rings_the_agent_back(keys: str) -> None:
    machine = held_dialling()
    dial(machine, keys, T0 + 11)
    assert machine.on_hook(T0 + 12) == [PlayTone("none"), RecallAgent()]
    assert machine.state == RECALLING and machine.caller_held and machine.digits == ""
    assert machine.get_timer() == pytest.approx(T0 + 42)
    assert machine.off_hook(T0 + 15) == [ResumeCaller()]
    assert machine.state == TALKING and machine.get_timer() is None


def test_an_unanswered_recall_requeues_the_caller() -> None:
    machine = held_dialling()
    machine.on_hook(T0 + 12)
    assert machine.timer(T0 + 42) == [RequeueCaller("recall_timeout"), ReleaseAgent("recall_timeout")]
    assert machine.finished


def test_the_caller_hanging_up_during_a_recall_stops_it() -> None:
    machine = held_dialling()
    machine.on_hook(T0 + 12)
    assert machine.caller_hung_up(T0 + 20) == [ReleaseAgent("caller_hung_up")]
    assert machine.finished


# -- the held caller hangs up ------------------------------------------------------------------------------
def test_caller_leaving_during_a_consult_makes_it_a_normal_call() -> None:
    machine = consulting()
    assert machine.caller_hung_up(T0 + 25) == [PromoteConsult()]
    assert machine.state == TALKING and not machine.caller_held and machine.caller_present
    # The third party is now the phone's party: its hang-up is caller_hung_up.
    assert machine.caller_hung_up(T0 + 60) == [PlayTone("busy"), ReleaseAgent("caller_hung_up")]


def test_caller_leaving_a_three_way_leaves_agent_and_third_party() -> None:
    machine = three_way()
    assert machine.caller_hung_up(T0 + 35) == [PromoteConsult()]
    assert machine.state == TALKING
    assert machine.on_hook(T0 + 50) == [ReleaseAgent("agent_hung_up")]


def test_caller_leaving_while_the_consult_rings_lets_it_ring_on() -> None:
    machine = ringing()
    assert machine.caller_hung_up(T0 + 12) == []
    assert machine.state == CONSULT_RINGING and not machine.caller_present and not machine.caller_held
    assert machine.consult_answered(T0 + 14) == [PlayTone("none"), ConnectConsult(), PromoteConsult()]
    assert machine.state == TALKING and machine.caller_present


def test_no_blind_transfer_of_a_caller_who_left() -> None:
    machine = ringing()
    machine.caller_hung_up(T0 + 12)
    assert machine.on_hook(T0 + 13) == [CancelConsult(), ReleaseAgent("agent_hung_up")]


def test_with_nobody_held_flash_starts_over() -> None:
    machine = ringing()
    machine.caller_hung_up(T0 + 12)
    assert machine.flash(T0 + 13) == [CancelConsult(), PlayTone("dial")]
    assert machine.state == HELD_DIALLING
    assert machine.flash(T0 + 14) == [PlayTone("dial")] and machine.state == HELD_DIALLING
    out = dial(machine, "8003", T0 + 15)
    assert out[-2:] == [DialTarget("8003", "extension"), PlayTone("ringback")]


def test_with_nobody_held_a_failure_tone_stays_until_flash_or_on_hook() -> None:
    machine = ringing()
    machine.caller_hung_up(T0 + 12)
    assert machine.consult_failed("busy", T0 + 13) == [PlayTone("busy")]
    assert machine.state == DIAL_FAILED and machine.get_timer() is None
    assert machine.on_hook(T0 + 20) == [ReleaseAgent("agent_hung_up")]  # no recall: nobody held


def test_caller_leaving_while_the_agent_dials_lets_the_dial_go_on() -> None:
    machine = held_dialling()
    dial(machine, "80", T0 + 11)
    assert machine.caller_hung_up(T0 + 12) == [] and machine.state == HELD_DIALLING
    assert machine.digit("0", T0 + 13) == [] and machine.digits == "800"
    assert machine.timer(T0 + 17) == [DialTarget("800", "extension"), PlayTone("ringback")]
    assert machine.consult_answered(T0 + 20)[-1] == PromoteConsult()


def test_caller_gone_then_an_invalid_number_waits_for_flash_or_on_hook() -> None:
    machine = held_dialling()
    machine.caller_hung_up(T0 + 11)
    assert dial(machine, "82", T0 + 12)[-1] == PlayTone("congestion")
    assert machine.get_timer() is None and machine.flash(T0 + 18) == [PlayTone("dial")]


def test_caller_leaving_and_no_key_is_busy_tone_not_a_resume() -> None:
    machine = held_dialling(T0 + 10)
    machine.caller_hung_up(T0 + 11)
    assert machine.timer(T0 + 20) == [PlayTone("busy")] and machine.state == DIAL_FAILED
    assert machine.on_hook(T0 + 21) == [ReleaseAgent("agent_hung_up")]


def test_caller_leaving_during_a_failure_tone_cancels_the_way_back() -> None:
    machine = held_dialling()
    dial(machine, "5", T0 + 11)
    assert machine.get_timer() is not None
    assert machine.caller_hung_up(T0 + 12) == [] and machine.get_timer() is None
    assert machine.caller_hung_up(T0 + 12.5) == []  # the same news twice: no change


# -- the numbering plan -------------------------------------------------------------------------------------
def test_the_plan_classifies_numbers() -> None:
    assert PLAN.classify("8002") == Target("extension", "8002")
    assert PLAN.classify("601") == Target("queue", "601", "general")
    assert PLAN.classify("912345") == Target("outside", "12345")
    assert PLAN.classify("912") is None  # under the 3 digits of an outside number
    assert PLAN.classify("9" + "1" * 21) is None and PLAN.classify("91*1") is None
    assert PLAN.classify("") is None and PLAN.classify("7") is None


def test_the_plan_knows_what_more_keys_could_make() -> None:
    assert PLAN.possible("") and PLAN.possible("8") and PLAN.possible("80") and PLAN.possible("9")
    assert PLAN.possible("60") and not PLAN.possible("602") and not PLAN.possible("5")
    assert PLAN.possible("9" + "1" * 20) and not PLAN.possible("9" + "1" * 21)
    assert PLAN.complete("8002") and PLAN.complete("600")
    assert not PLAN.complete("800")  # 8001 … start with it
    assert not PLAN.complete("9110") and PLAN.complete("9" + "1" * 20)
    assert not PLAN.complete("8004")


def test_a_plan_without_outside_calls() -> None:
    plan = NumberingPlan(frozenset({"8001", "9001"}), outside_prefix=None)
    assert plan.classify("9001") == Target("extension", "9001")
    assert plan.classify("913800138000") is None and not plan.possible("91")


def test_the_plan_is_frozen_and_copies_its_codes() -> None:
    codes = {"600": "emergency"}
    plan = NumberingPlan(frozenset({"8001"}), queue_codes=codes)
    codes["601"] = "general"
    assert plan.classify("601") is None
    with pytest.raises(TypeError):
        plan.queue_codes["602"] = "x"  # type: ignore[index]


@pytest.mark.parametrize(("kwargs", "why"), [
    ({"extensions": frozenset({"9001"})}, "9001 start with the outside prefix"),
    ({"queue_codes": {"900": "q"}}, "900 start with the outside prefix"),
    ({"extensions": frozenset({"600"}), "queue_codes": {"600": "q"}}, "both an extension and a queue code"),
    ({"extensions": frozenset({"80a1"})}, "digits only"),
    ({"extensions": frozenset({""})}, "digits only"),
    ({"queue_codes": {"6#": "q"}}, "digits"),
    ({"queue_codes": {"600": ""}}, "names no queue"),
    ({"outside_prefix": ""}, "outside prefix"),
    ({"outside_digits": (5, 3)}, "length"),
])
def test_a_plan_that_cannot_work_says_why(kwargs: dict, why: str) -> None:
    with pytest.raises(NumberingPlanError, match=why):
        NumberingPlan(**kwargs)


# -- invariants over random sequences -----------------------------------------------------------------------
class FakeShell:
    """What the shell would hold after carrying out the actions: caller on hold, the tone."""

    def __init__(self) -> None:
        self.held = False
        self.tone = "none"
        self.released = 0
        self.consult = False  # a third-party leg exists

    def apply(self, actions: list[pf.Action]) -> None:
        for action in actions:
            if isinstance(action, HoldCaller):
                assert not self.held
                self.held = True
            elif isinstance(action, ResumeCaller | JoinThreeWay | TransferAttended):
                self.held = False
            elif isinstance(action, PlayTone):
                self.tone = action.kind
            elif isinstance(action, DialTarget):
                assert not self.consult
                self.consult = True
            elif isinstance(action, CancelConsult | DropConsult | TransferBlind | TransferAttended):
                assert self.consult
                self.consult = False
            elif isinstance(action, PromoteConsult):
                self.held, self.consult = False, False
            elif isinstance(action, ReleaseAgent):
                self.released += 1


def check(machine: PhoneFeatures, shell: FakeShell, out: list[pf.Action], now: float) -> None:
    assert shell.released == (1 if machine.finished else 0)
    if machine.finished:
        return
    assert shell.held == machine.caller_held, (machine.state, out)
    if machine.state in (TALKING, CONSULTING, THREE_WAY):
        assert shell.tone == "none", (machine.state, out)
    if machine.state == CONSULT_RINGING:
        assert shell.tone == "ringback" and shell.consult and machine.target is not None
    if machine.state == DIAL_FAILED:
        assert shell.tone in ("busy", "congestion") and not shell.consult
    if machine.state == HELD_DIALLING and not machine.digits:
        assert shell.tone in ("dial", "none")
    if machine.state in (CONSULTING, THREE_WAY):
        assert shell.consult
    deadline = machine.get_timer()
    assert deadline is None or deadline >= now


WALK_WEIGHTS = {"flash": 4, "digit": 4, "consult_answered": 3, "off_hook": 3, "timer": 1, "on_hook": 1,
                "consult_failed": 1, "consult_hung_up": 1, "caller_hung_up": 0.5}


def test_random_event_sequences_keep_the_shell_consistent() -> None:
    """A shell that fires each timer when due, and random events from the phone and the legs."""
    rng = random.Random(11)
    keys = "0123456789*#"
    numbers = ["8002", "600", "9110#", "800", "8001"]  # random keys alone seldom make a number
    fired: set[tuple[str, str]] = set()
    for _ in range(2000):
        machine, shell, now = phone(), FakeShell(), T0
        for _ in range(rng.randint(1, 60)):
            now += rng.choice([0.02, 0.02, 0.5, 0.5, 2.0, 5.0, 31.0])
            while (deadline := machine.get_timer()) is not None and deadline <= now:
                fired.add((machine.state, "timer"))
                out = machine.timer(deadline)
                shell.apply(out)
                check(machine, shell, out, deadline)
            if machine.finished:
                break
            # Mostly what this state acts on, sometimes anything (late reports, misuse); the
            # endings seldom, or few walks would get far.
            acting = [e for e, handler in TRANSITIONS[machine.state].items() if handler is not None]
            choices = acting if rng.random() < 0.8 else list(EVENTS)
            event = rng.choices(choices, [WALK_WEIGHTS[e] for e in choices])[0]
            if event not in TRANSITIONS[machine.state]:
                with pytest.raises(PhoneFeatureError):
                    fire(machine, event, now)
                continue
            if event == "caller_hung_up":
                shell.held = False  # the caller's leg is gone, held or not
            if event in ("consult_failed", "consult_hung_up"):
                shell.consult = False  # so is the third party's
            fired.add((machine.state, event))
            if event == "digit" and machine.state == HELD_DIALLING and rng.random() < 0.6:
                out = dial(machine, rng.choice(numbers), now)
            elif event == "digit":
                out = machine.digit(rng.choice(keys), now)
            elif event == "consult_failed":
                out = machine.consult_failed(rng.choice(pf.CONSULT_FAILURES), now)
            elif event == "timer":
                out = machine.timer(now)
            else:
                out = getattr(machine, event)(now)
            shell.apply(out)
            check(machine, shell, out, now)
    handled = {(state, event) for state, table in TRANSITIONS.items() for event, handler in table.items()
               if handler is not None}
    assert handled <= fired, sorted(handled - fired)  # every handler ran in some sequence
