"""IvrSession walks every node type of a flow, driven by a fake clock (epoch seconds)."""

from datetime import datetime

import pytest

from appliance.clock import SHANGHAI
from appliance.ivr.engine import (
    TRANSITIONS,
    CallerInfo,
    CollectDigits,
    CreateCase,
    DigitsCollected,
    Hangup,
    IvrError,
    IvrSession,
    Play,
    RecordMessage,
    StopPlay,
    StopRecording,
    SurveyResult,
    ToQueue,
    Transfer,
)
from appliance.ivr.flows import Flow, load_default_ivr, parse_ivr_toml

OPEN = datetime(2025, 9, 29, 9, 0, tzinfo=SHANGHAI).timestamp()        # a Monday morning
NIGHT = datetime(2025, 9, 29, 22, 0, tzinfo=SHANGHAI).timestamp()
MAKEUP_SATURDAY = datetime(2025, 10, 11, 9, 0, tzinfo=SHANGHAI).timestamp()  # 调休上班
NATIONAL_DAY = datetime(2025, 10, 1, 10, 0, tzinfo=SHANGHAI).timestamp()
ELDER = CallerInfo("13912345678", "elder", elder_id="E0001")


@pytest.fixture(scope="module")
def flow() -> Flow:
    return load_default_ivr(queues={"emergency", "general"}).flow


def played(session: IvrSession, now: float, *prompts: str) -> list:
    """Report each prompt of PROMPTS done in turn, checking it was the one playing."""
    out = []
    for prompt in prompts:
        actions = session.actions()
        assert isinstance(actions[-1], Play) and actions[-1].prompt == prompt, actions
        out += actions
        session.on_prompt_done(now)
    return out


def to_main_menu(flow: Flow, now: float = OPEN, caller: CallerInfo = ELDER) -> IvrSession:
    s = IvrSession(flow, caller, now)
    played(s, now, "welcome", "recording_notice", "main_menu")
    assert s.actions() == [CollectDigits(1, 6.0)] and s.get_timer() == now + 6
    return s


def test_open_hours_emergency_key_reaches_the_emergency_queue(flow: Flow) -> None:
    s = IvrSession(flow, ELDER, OPEN)
    assert s.actions() == [Play("welcome", True)]
    s.on_prompt_done(OPEN)
    assert s.actions() == [Play("recording_notice", True)]
    s.on_prompt_done(OPEN)
    assert s.actions() == [Play("main_menu", True)] and s.get_timer() is None  # no timeout while playing
    s.on_prompt_done(OPEN + 8)
    assert s.actions() == [CollectDigits(1, 6.0)] and s.get_timer() == OPEN + 14
    s.on_digit("1", OPEN + 10)
    assert s.actions() == [Play("to_emergency", False)]
    s.on_digit("5", OPEN + 11)  # an announcement before the hand-over is heard in full
    assert s.actions() == []
    s.on_prompt_done(OPEN + 12)
    # Emergency queue priority 10, plus 2 for a registered elder.
    assert s.actions() == [ToQueue("emergency", 12)] and s.state == "handed_off"
    assert s.trail == ["screen", "welcome", "hours", "main_menu", "emergency"]


def test_key_during_greeting_answers_the_menu_at_once(flow: Flow) -> None:
    s = IvrSession(flow, CallerInfo("02988888888", "unknown"), OPEN)
    s.on_digit("1", OPEN + 1)
    assert s.actions() == [Play("welcome", True), StopPlay(), Play("to_emergency", False)]
    s.on_prompt_done(OPEN + 2)
    assert s.actions() == [ToQueue("emergency", 10)]  # no category bonus for an unknown caller


def test_priority_by_caller_category(flow: Flow) -> None:
    for category, priority in (("vip", 2), ("important", 1), ("unknown", 0)):
        s = to_main_menu(flow, caller=CallerInfo("13800138000", category))
        s.on_digit("2", OPEN)
        played(s, OPEN, "to_agent")
        assert s.actions() == [ToQueue("general", priority)]


def test_timeouts_retry_then_go_to_an_agent(flow: Flow) -> None:
    s = to_main_menu(flow)
    s.on_timer(OPEN + 5.9)  # early wake-up: nothing happens
    assert s.actions() == [] and s.get_timer() == OPEN + 6
    t = OPEN + 6
    for _ in range(2):  # retries = 2: two more chances, each "no input" then the menu again
        s.on_timer(t)
        played(s, t, "no_input", "main_menu")
        assert s.actions() == [CollectDigits(1, 6.0)]
        t += 6
    s.on_timer(t)
    assert s.actions() == [Play("to_agent", False)]  # timeout_next = agent: a person, not a dead end
    s.on_prompt_done(t)
    assert s.actions() == [ToQueue("general", 2)]


def test_invalid_key_reprompts_and_a_valid_one_then_counts(flow: Flow) -> None:
    s = to_main_menu(flow)
    s.on_digit("7", OPEN + 1)
    assert s.actions() == [Play("invalid", True)]
    s.on_digit("2", OPEN + 2)  # barge into the "invalid" prompt with the right key
    assert s.actions() == [StopPlay(), Play("to_agent", False)]
    assert s.trail[-1] == "consultation"


def test_invalid_keys_exhaust_retries(flow: Flow) -> None:
    s = to_main_menu(flow)
    for _ in range(2):
        s.on_digit("9", OPEN)
        played(s, OPEN, "invalid", "main_menu")
        s.actions()
    s.on_digit("*", OPEN)
    assert s.actions() == [Play("to_agent", False)]  # invalid_next defaults to timeout_next


def test_zero_for_an_agent_during_information(flow: Flow) -> None:
    s = to_main_menu(flow)
    s.on_digit("3", OPEN)
    assert s.actions() == [Play("service_hours", True)]
    s.on_digit("0", OPEN + 3)  # not an option of any menu here: the flow's agent key
    assert s.actions() == [StopPlay(), Play("to_agent", False)]
    s2 = IvrSession(flow, ELDER, OPEN)
    s2.on_digit("0", OPEN)  # even during the greeting
    assert s2.actions()[-1] == Play("to_agent", False)


def test_information_returns_to_the_menu(flow: Flow) -> None:
    s = to_main_menu(flow)
    s.on_digit("3", OPEN)
    played(s, OPEN + 20, "service_hours", "main_menu")
    assert s.actions() == [CollectDigits(1, 6.0)]


def test_makeup_working_day_is_open(flow: Flow) -> None:
    s = IvrSession(flow, ELDER, MAKEUP_SATURDAY)
    played(s, MAKEUP_SATURDAY, "welcome", "recording_notice", "main_menu")


def test_after_hours_duty_mobile_then_message_then_case(flow: Flow) -> None:
    s = IvrSession(flow, ELDER, NATIONAL_DAY)
    played(s, NATIONAL_DAY, "welcome", "recording_notice", "after_hours")
    assert s.actions() == [CollectDigits(1, 6.0)]
    s.on_digit("1", NATIONAL_DAY)
    played(s, NATIONAL_DAY, "to_duty")
    assert s.actions() == [Transfer("13800000000")]
    s.on_handoff_failed(NATIONAL_DAY + 30, "no_answer")  # the duty mobile did not answer
    assert s.actions() == [Play("duty_unreachable", False)]
    s.on_digit("0", NATIONAL_DAY + 31)  # not interruptible: ignored, no agent after hours
    assert s.actions() == []
    s.on_prompt_done(NATIONAL_DAY + 32)
    played(s, NATIONAL_DAY + 40, "leave_message")
    start = NATIONAL_DAY + 40
    assert s.actions() == [RecordMessage(120.0, True, "complaint")] and s.get_timer() == start + 120
    s.on_digit("1", start + 5)  # only the finish key ends a message
    assert s.actions() == []
    s.on_digit("#", start + 25)
    assert s.actions() == [StopRecording()] and s.get_timer() is None
    s.on_recorded("/var/lib/anxin/recordings/msg-1.arec", start + 25.2)
    case, goodbye = s.actions()
    assert case == CreateCase(kind="complaint", caller="13912345678", category="elder", elder_id="E0001",
                              recording="/var/lib/anxin/recordings/msg-1.arec", duration=25.2,
                              flow="main", node="message", at=start + 25.2)
    assert goodbye == Play("message_saved", False)
    s.on_prompt_done(start + 30)
    assert s.actions() == [Hangup("message")] and s.finished and s.end_reason == "message"


def test_message_ended_by_hanging_up_still_opens_a_case(flow: Flow) -> None:
    s = IvrSession(flow, CallerInfo(None, "unknown"), NIGHT)
    played(s, NIGHT, "welcome", "recording_notice", "after_hours")
    s.on_digit("2", NIGHT)
    played(s, NIGHT, "leave_message")
    s.actions()
    s.on_hangup(NIGHT + 12)
    assert s.actions() == [StopRecording()] and not s.finished
    s.on_recorded("msg-2.arec", NIGHT + 12.5)
    [case] = s.actions()
    assert isinstance(case, CreateCase) and case.caller is None and case.duration == 12.5
    assert s.finished and s.end_reason == "caller"


def test_message_time_limit(flow: Flow) -> None:
    s = IvrSession(flow, ELDER, NIGHT)
    played(s, NIGHT, "welcome", "recording_notice", "after_hours")
    s.on_digit("2", NIGHT)
    played(s, NIGHT, "leave_message")
    s.actions()
    s.on_timer(NIGHT + 120)
    assert s.actions() == [StopRecording()]
    s.on_timer(NIGHT + 200)  # no timer is set any more
    assert s.actions() == []
    s.on_recorded("msg-3.arec", NIGHT + 120.1)
    assert isinstance(s.actions()[0], CreateCase)


def test_after_hours_silence_goes_to_the_duty_mobile(flow: Flow) -> None:
    s = IvrSession(flow, ELDER, NIGHT)
    played(s, NIGHT, "welcome", "recording_notice", "after_hours")
    s.actions()
    s.on_timer(NIGHT + 6)
    played(s, NIGHT + 6, "no_input", "after_hours")
    s.actions()
    s.on_timer(NIGHT + 12)  # retries = 1 for this menu
    assert s.actions() == [Play("to_duty", False)]


def test_blacklisted_caller_is_told_and_cleared(flow: Flow) -> None:
    s = IvrSession(flow, CallerInfo("13000000000", "blacklist"), OPEN)
    assert s.actions() == [Play("blocked", False)]
    s.on_digit("0", OPEN)  # no agent for a harassing caller
    assert s.actions() == []
    s.on_prompt_done(OPEN + 3)
    assert s.actions() == [Hangup("blacklist")] and s.trail == ["screen", "blocked"]


def test_survey_after_the_agent_hangs_up_is_stored(flow: Flow) -> None:
    s = to_main_menu(flow)
    s.on_digit("2", OPEN)
    played(s, OPEN, "to_agent")
    s.actions()
    s.on_digit("1", OPEN + 60)  # keys while talking to the agent are not the IVR's
    assert s.actions() == []
    s.on_agent_hangup(OPEN + 300)
    assert s.actions() == [Play("survey", True)]
    s.on_digit("0", OPEN + 301)  # 0 is no choice and no agent here
    assert s.actions() == [StopPlay(), Play("invalid", True)]
    s.on_digit("3", OPEN + 302)
    assert s.actions() == [StopPlay(), SurveyResult(3, "基本满意"), Play("survey_thanks", False)]
    assert s.survey == SurveyResult(3, "基本满意")
    s.on_prompt_done(OPEN + 304)
    assert s.actions() == [Hangup("survey")]


def test_survey_without_an_answer_ends_without_a_score(flow: Flow) -> None:
    s = to_main_menu(flow)
    s.on_digit("1", OPEN)
    played(s, OPEN, "to_emergency")
    s.actions()
    s.on_agent_hangup(OPEN + 100)
    played(s, OPEN + 100, "survey")
    assert s.actions() == [CollectDigits(1, 5.0)]
    s.on_timer(OPEN + 105)
    played(s, OPEN + 105, "no_input", "survey")
    s.actions()
    s.on_timer(OPEN + 110)
    assert s.actions() == [Hangup("no_input")] and s.survey is None


def test_caller_hangs_up_in_a_menu(flow: Flow) -> None:
    s = to_main_menu(flow)
    s.on_hangup(OPEN + 2)
    assert s.finished and s.get_timer() is None and s.actions() == []
    s.on_digit("1", OPEN + 3)
    s.on_prompt_done(OPEN + 3)  # a late report from the tick the caller left
    s.on_agent_hangup(OPEN + 3)
    assert s.actions() == [] and s.end_reason == "caller"


COLLECT = """\
[ivr.calendar.weekly]
mon = ["08:00-18:00"]

[[ivr.calendar.holidays]]
name = "国庆节"
from = 2025-10-01
to = 2025-10-08

[ivr.flows.main]
start = "hours"
agent_key = "0"
agent_node = "bye"

[ivr.flows.main.nodes.hours]
type = "hours"
open = "member"
closed = "bye"
holiday = "holiday_bye"

[ivr.flows.main.nodes.member]
type = "collect"
prompt = "enter_member"
into = "member_no"
min_digits = 4
max_digits = 6
invalid_prompt = "invalid"
retries = 1
next = "desk"
timeout_next = "bye"

[ivr.flows.main.nodes.desk]
type = "queue"
queue = "general"

[ivr.flows.main.nodes.bye]
type = "hangup"

[ivr.flows.main.nodes.holiday_bye]
type = "hangup"
prompt = "holiday"
reason = "holiday"
"""


def test_collect_digits_with_terminator_inter_digit_timeout_and_retry() -> None:
    flow = parse_ivr_toml(COLLECT, "box.toml").flow
    s = IvrSession(flow, ELDER, OPEN)
    assert s.actions() == [Play("enter_member", True)]
    s.on_digit("1", OPEN + 1)  # barge-in: the first digit counts
    s.on_digit("0", OPEN + 2)  # every key is input in a collect node, even the agent key
    assert s.actions() == [StopPlay()] and s.get_timer() == OPEN + 5  # inter-digit timeout 3 s
    s.on_digit("#", OPEN + 3)  # too short (min 4): invalid, one retry
    assert s.actions() == [Play("invalid", True)]
    s.on_prompt_done(OPEN + 4)
    played(s, OPEN + 4, "enter_member")
    assert s.actions() == [CollectDigits(6, 5.0, "#")]
    for d in "20250":
        s.on_digit(d, OPEN + 6)
    s.on_timer(OPEN + 9)  # the pause ends the entry: 5 digits are enough
    assert s.actions() == [DigitsCollected("member_no", "20250"), ToQueue("general", 0)]
    assert s.variables == {"member_no": "20250"}


def test_collect_stops_at_max_digits_and_gives_up_after_retries() -> None:
    flow = parse_ivr_toml(COLLECT, "box.toml").flow
    s = IvrSession(flow, ELDER, OPEN)
    for d in "1234567":
        s.on_digit(d, OPEN)
    assert DigitsCollected("member_no", "123456") in s.actions()
    s2 = IvrSession(flow, ELDER, OPEN)
    s2.on_prompt_done(OPEN)
    s2.on_timer(OPEN + 5)
    s2.on_prompt_done(OPEN + 5)
    s2.actions()
    s2.on_timer(OPEN + 10)
    assert s2.actions() == [Hangup("normal")] and s2.trail[-1] == "bye"


def test_hours_node_holiday_branch() -> None:
    flow = parse_ivr_toml(COLLECT, "box.toml").flow
    s = IvrSession(flow, ELDER, NATIONAL_DAY)
    assert s.actions() == [Play("holiday", False)]
    assert IvrSession(flow, ELDER, NIGHT).actions() == [Hangup("normal")]  # closed, no prompt


def test_a_looping_flow_is_cleared() -> None:
    text = COLLECT.replace('timeout_next = "bye"', 'timeout_next = "member"')
    text = text.replace("retries = 1", "retries = 0")
    s = IvrSession(parse_ivr_toml(text, "box.toml").flow, ELDER, OPEN, max_steps=10)
    t = OPEN
    while not s.finished:
        s.on_prompt_done(t)
        t += 5
        s.on_timer(t)
        assert t < OPEN + 1000
    assert s.actions()[-1] == Hangup("ivr_loop") and len(s.trail) == 10


def test_misuse_raises_with_state_and_node(flow: Flow) -> None:
    s = to_main_menu(flow)
    with pytest.raises(IvrError, match=r"'prompt_done' in state 'waiting' \(flow 'main', node 'main_menu'\)"):
        s.on_prompt_done(OPEN)
    with pytest.raises(IvrError, match="'recorded' in state 'waiting'"):
        s.on_recorded("x.arec", OPEN)
    with pytest.raises(IvrError, match="not a DTMF key"):
        s.on_digit("x", OPEN)
    with pytest.raises(ValueError, match="caller category 'vvip'"):
        CallerInfo("1", "vvip")


def test_state_table_names_real_handlers(flow: Flow) -> None:
    session = IvrSession(flow, ELDER, OPEN)  # an instance: an attribute must not shadow a handler
    for state, events in TRANSITIONS.items():
        for event, handler in events.items():
            assert handler is None or callable(getattr(session, handler, None)), (state, event)
