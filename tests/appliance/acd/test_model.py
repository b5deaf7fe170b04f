"""The [acd] table: what parse_acd accepts, and every refusal naming the key and why."""

import tomllib

import pytest

from appliance.acd.model import (
    DEFAULT_PENALTY_STEPS,
    AcdConfig,
    AcdConfigError,
    AgentConfig,
    OverflowRule,
    PenaltyStep,
    Priority,
    QueueConfig,
    default_acd,
    parse_acd,
)

SITE = """
[acd]
emergency_queue = "sos"

[[acd.queues]]
name = "sos"
strategy = "ring_all"
penalty_steps = [{ after = 0, max_penalty = 9 }]
autopause = false

[[acd.queues]]
name = "general"
strategy = "skills"
ring_timeout = 20
wrapup = 15.5
max_wait = 90
overflow = { kind = "queue", target = "elder" }
announce_every = 45
priority_credit = { elder = 30 }

[[acd.queues]]
name = "elder"
max_wait = 60
overflow = "mobile:13900000000"
join_empty = false
leave_when_empty = true

[[acd.agents]]
agent_id = "1001"
name = "王芳"
pin = "4321"
skills = { sos = 0, general = 0, elder = 1 }
wrapup = 5

[[acd.agents]]
agent_id = "1002"
name = "李强"
skills = { general = 2 }
"""


THREE = ('[[acd.queues]]\nname = "a"\n[[acd.queues]]\nname = "b"\n'
         '[[acd.queues]]\nname = "c"\nring_timeout = -1\n')
A = '[[acd.queues]]\nname = "a"\n'


def acd(text: str) -> dict:
    return tomllib.loads(text)["acd"]


def refused(data: dict) -> AcdConfigError:
    with pytest.raises(AcdConfigError) as info:
        parse_acd(data)
    return info.value


def test_a_site_table_parses_into_typed_config() -> None:
    cfg = parse_acd(acd(SITE))
    assert cfg.emergency_queue == "sos" and cfg.queue_names() == ["sos", "general", "elder"]
    sos, general, elder = cfg.queues
    assert sos.strategy == "ring_all" and sos.penalty_steps == (PenaltyStep(0, 9),) and not sos.autopause
    assert general.ring_timeout == 20.0 and isinstance(general.ring_timeout, float)
    assert general.wrapup == 15.5 and general.max_wait == 90.0 and general.announce_every == 45.0
    assert general.overflow == OverflowRule("queue", "elder")
    assert general.priority_credit == {Priority.ELDER: 30.0, Priority.NORMAL: 0.0}  # normal keeps its default
    assert general.penalty_steps == DEFAULT_PENALTY_STEPS
    assert elder.overflow == OverflowRule("mobile", "13900000000")
    assert elder.overflow.describe() == "mobile:13900000000"
    assert not elder.join_empty and elder.leave_when_empty
    wang, li = cfg.agents
    assert wang == AgentConfig("1001", "王芳", "4321", {"sos": 0, "general": 0, "elder": 1}, 5.0)
    assert li.pin is None and li.wrapup is None and li.skills == {"general": 2}


def test_without_queues_the_default_queues_apply() -> None:
    cfg = parse_acd(acd('[[acd.agents]]\nagent_id = "7"\nname = "张"\nskills = { general = 0, elder = 0 }\n'))
    assert cfg.queue_names() == ["emergency", "elder", "general"] and cfg.emergency_queue == "emergency"
    assert cfg.agents[0].skills == {"general": 0, "elder": 0}


def test_default_acd_queues() -> None:
    cfg = default_acd()
    assert cfg.agents == () and cfg.emergency_queue == "emergency"
    emergency, elder, general = (cfg.queue(n) for n in ("emergency", "elder", "general"))
    assert emergency.strategy == "ring_all" and elder.strategy == "longest_idle" == general.strategy
    assert general.max_wait == 120.0 and general.overflow == OverflowRule("callback")
    assert elder.max_wait is None and emergency.max_wait is None


def test_no_emergency_queue_named_when_there_is_none() -> None:
    cfg = parse_acd(acd('[[acd.queues]]\nname = "general"\n'))
    assert cfg.emergency_queue is None


@pytest.mark.parametrize(("text", "key", "why"), [
    (THREE,
     "queues[2].ring_timeout", "must be > 0 seconds, got -1"),
    ('[[acd.queues]]\nname = "a"\nring_timeout = true\n', "queues[0].ring_timeout", "expected a number"),
    ('[[acd.queues]]\nname = "a"\nwrapup = -2\n', "queues[0].wrapup", "must be >= 0 seconds"),
    ('[[acd.queues]]\nname = "a"\nringtimeout = 3\n', "queues[0].ringtimeout", "unknown key"),
    ('[[acd.queues]]\nstrategy = "ring_all"\n', "queues[0]", "missing required key 'name'"),
    ('[[acd.queues]]\nname = "a b"\n', "queues[0].name", "queue name"),
    ('[[acd.queues]]\nname = "a"\nstrategy = "random"\n', "queues[0].strategy", "'random' is not one of"),
    ('[[acd.queues]]\nname = "a"\nmax_wait = 60\n', "queues[0].overflow", "required when max_wait is set"),
    ('[[acd.queues]]\nname = "a"\njoin_empty = false\n', "queues[0].overflow", "required when join_empty"),
    ('[[acd.queues]]\nname = "a"\njoin_empty = "no"\n', "queues[0].join_empty", "expected true or false"),
    ('[[acd.queues]]\nname = "a"\noverflow = "queue:nowhere"\n', "queues[0].overflow.target",
     "no queue 'nowhere' (queues: a)"),
    ('[[acd.queues]]\nname = "a"\noverflow = "queue:a"\n', "queues[0].overflow.target", "into itself"),
    ('[[acd.queues]]\nname = "a"\noverflow = { kind = "voicemail" }\n', "queues[0].overflow.kind",
     "'voicemail' is not one of queue, mobile, callback, message, hangup"),
    ('[[acd.queues]]\nname = "a"\noverflow = { kind = "mobile", target = "boss" }\n',
     "queues[0].overflow.target", "a mobile number is 3 to 20 digits"),
    ('[[acd.queues]]\nname = "a"\noverflow = { kind = "hangup", target = "x" }\n',
     "queues[0].overflow.target", "takes no target"),
    ('[[acd.queues]]\nname = "a"\noverflow = { kind = "callback", where = "x" }\n',
     "queues[0].overflow.where", "unknown key"),
    ('[[acd.queues]]\nname = "a"\npenalty_steps = [{ after = 10, max_penalty = 0 }]\n',
     "queues[0].penalty_steps[0].after", "starts at 0"),
    (A + 'penalty_steps = [{ after = 0, max_penalty = 2 }, { after = 0, max_penalty = 3 }]\n',
     "queues[0].penalty_steps[1].after", "increasing order"),
    (A + 'penalty_steps = [{ after = 0, max_penalty = 2 }, { after = 5, max_penalty = 1 }]\n',
     "queues[0].penalty_steps[1].max_penalty", "only relaxes"),
    ('[[acd.queues]]\nname = "a"\npenalty_steps = [{ after = 0, max_penalty = -1 }]\n',
     "queues[0].penalty_steps[0].max_penalty", "integer >= 0"),
    ('[[acd.queues]]\nname = "a"\npenalty_steps = [{ after = 0 }]\n',
     "queues[0].penalty_steps[0]", "missing required key 'max_penalty'"),
    ('[[acd.queues]]\nname = "a"\npenalty_steps = []\n', "queues[0].penalty_steps", "non-empty"),
    ('[[acd.queues]]\nname = "a"\npriority_credit = { emergency = 10 }\n',
     "queues[0].priority_credit.emergency", "always go first"),
    ('[[acd.queues]]\nname = "a"\npriority_credit = { vip = 10 }\n', "queues[0].priority_credit.vip",
     "unknown priority"),
    ('[[acd.queues]]\nname = "a"\npriority_credit = { elder = -5 }\n', "queues[0].priority_credit.elder",
     ">= 0 seconds"),
    ('[[acd.queues]]\nname = "a"\n[[acd.queues]]\nname = "a"\n', "queues[1].name", "duplicate queue 'a'"),
    ('[[acd.agents]]\nagent_id = "1"\nname = "x"\nskills = { sales = 0 }\n', "agents[0].skills.sales",
     "no queue 'sales' (queues: emergency, elder, general)"),
    ('[[acd.agents]]\nagent_id = "1"\nname = "x"\nskills = { general = 1.5 }\n', "agents[0].skills.general",
     "a penalty is an integer >= 0"),
    ('[[acd.agents]]\nagent_id = "A1"\nname = "x"\n', "agents[0].agent_id",
     "agent id (工号) is 1 to 10 digits"),
    ('[[acd.agents]]\nagent_id = "1"\nname = "x"\npin = "12"\n', "agents[0].pin", "a PIN is 4 to 8 digits"),
    ('[[acd.agents]]\nagent_id = "1"\nname = "x"\nwrapup = -1\n', "agents[0].wrapup", ">= 0 seconds"),
    ('[[acd.agents]]\nagent_id = "1"\n', "agents[0]", "missing required key 'name'"),
    ('[[acd.agents]]\nagent_id = "1"\nname = "x"\nqueue = "general"\n', "agents[0].queue", "unknown key"),
    ('[[acd.agents]]\nagent_id = "1"\nname = "x"\n[[acd.agents]]\nagent_id = "1"\nname = "y"\n',
     "agents[1].agent_id", "duplicate agent '1'"),
    ('emergency_queue = "sos"\n', "emergency_queue", "no queue 'sos'"),
    ('queue = []\n', "queue",
     "unknown key (expected one of queues, agents, emergency_queue, emergency_numbers)"),
    ('queues = "general"\n', "queues", "array of tables"),
])
def test_bad_settings_name_the_key_and_why(text: str, key: str, why: str) -> None:
    err = refused(acd("[acd]\n" + text))
    assert err.key == key and why in err.detail, str(err)
    assert str(err).startswith(f"{key}: ")


def test_error_message_and_path_for_the_config_loader() -> None:
    err = refused(acd(THREE))
    assert str(err) == "queues[2].ring_timeout: must be > 0 seconds, got -1"
    assert err.path == ("queues", 2, "ring_timeout") and isinstance(err, ValueError)
    assert err.within("acd").key == "acd.queues[2].ring_timeout"


def test_overflow_cycles_between_queues_are_allowed() -> None:
    cfg = parse_acd(acd('[[acd.queues]]\nname = "a"\nmax_wait = 30\noverflow = "queue:b"\n'
                        '[[acd.queues]]\nname = "b"\nmax_wait = 30\noverflow = "queue:a"\n'))
    assert [q.overflow.target for q in cfg.queues] == ["b", "a"]


def test_config_classes_check_themselves() -> None:
    with pytest.raises(AcdConfigError, match=r"^ring_timeout: must be > 0 seconds, got 0$"):
        QueueConfig("q", ring_timeout=0)
    with pytest.raises(AcdConfigError, match=r"^announce_every: "):
        QueueConfig("q", announce_every=-3)
    with pytest.raises(AcdConfigError, match=r"^skills\.q: "):
        AgentConfig("1", "x", skills={"q": -1})
    with pytest.raises(AcdConfigError, match=r"^queues: at least one queue"):
        AcdConfig(())
    with pytest.raises(AcdConfigError, match=r"^agents\[0\]\.skills\.nope: no queue"):
        AcdConfig((QueueConfig("q"),), (AgentConfig("1", "x", skills={"nope": 0}),))
    q = QueueConfig("q", priority_credit={Priority.ELDER: 90})
    assert q.priority_credit == {Priority.ELDER: 90.0, Priority.NORMAL: 0.0}
    assert OverflowRule.parse("callback") == OverflowRule("callback")
    assert OverflowRule("hangup").describe() == "hangup"
