"""IVR flows from TOML: every validation error names the file, the line and the key."""

import struct
from pathlib import Path

import pytest

from appliance.config import ConfigError
from appliance.ivr.flows import (
    HoursNode,
    IvrConfigError,
    MenuNode,
    QueueNode,
    load_default_ivr,
    load_ivr_file,
    parse_ivr_toml,
)
from appliance.ivr.prompts import DEFAULT_PROMPTS

QUEUES = {"emergency", "general"}
BOX = """\
[box]
id = "test-box-001"

[ivr]
default_flow = "main"

[ivr.calendar.weekly]
mon = ["08:00-18:00"]

[[ivr.calendar.holidays]]
name = "国庆节"
from = 2025-10-01
to = 2025-10-08
workdays = [2025-09-28, 2025-10-11]

[ivr.flows.main]
start = "screen"
agent_key = "0"
agent_node = "agent"
invalid_prompt = "invalid"

[ivr.flows.main.nodes.screen]
type = "branch_caller"
blacklist = "blocked"
default = "welcome"

[ivr.flows.main.nodes.blocked]
type = "hangup"
prompt = "blocked"

[ivr.flows.main.nodes.welcome]
type = "play"
prompt = "welcome"
next = "hours"

[ivr.flows.main.nodes.hours]
type = "hours"
open = "menu"
closed = "duty"

[ivr.flows.main.nodes.menu]
type = "menu"
prompt = "main_menu"
timeout = 5
retries = 2
timeout_next = "agent"

[ivr.flows.main.nodes.menu.options]
1 = "emergency"
"#" = "agent"

[ivr.flows.main.nodes.emergency]
type = "queue"
queue = "emergency"

[ivr.flows.main.nodes.agent]
type = "queue"
queue = "general"

[ivr.flows.main.nodes.duty]
type = "transfer"
number = "13800000000"
"""


def parse(text: str, **options):
    return parse_ivr_toml(text, "box.toml", queues=QUEUES, **options)


def line_of(text: str, snippet: str) -> int:
    lines = text.splitlines()
    matches = [i for i, line in enumerate(lines, 1) if line.strip() == snippet.strip()]
    assert len(matches) == 1, snippet
    return matches[0]


def write_alaw_wav(path: Path, samples: bytes = b"\x55" * 800) -> None:
    fmt = struct.pack("<HHIIHHH", 6, 1, 8000, 8000, 1, 8, 0)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(samples))
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body) + len(samples)) + body + samples)


def test_good_flow_parses() -> None:
    cfg = parse(BOX)
    flow = cfg.flow
    assert cfg.default_flow == "main" and flow.start == "screen" and cfg.warnings == ()
    menu = flow.nodes["menu"]
    assert isinstance(menu, MenuNode)
    assert menu.options == {"1": "emergency", "#": "agent"} and menu.timeout == 5.0
    assert menu.invalid_prompt == "invalid"            # the flow's default
    assert menu.invalid_next == "agent"                # defaults to timeout_next
    assert isinstance(flow.nodes["hours"], HoursNode) and flow.calendar is not None
    assert flow.prompts() == {"blocked", "welcome", "main_menu", "invalid"}
    assert cfg.prompt_texts["welcome"] == DEFAULT_PROMPTS["welcome"]


@pytest.mark.parametrize(("old", "new", "key", "words"), [
    ('type = "play"', 'type = "plya"', "ivr.flows.main.nodes.welcome.type", "did you mean 'play'"),
    ('next = "hours"', 'nxt = "hours"', "ivr.flows.main.nodes.welcome.nxt", "did you mean 'next'"),
    ('next = "hours"', 'next = "houres"', "ivr.flows.main.nodes.welcome.next",
     "no node 'houres' (did you mean 'hours'?)"),
    ('open = "menu"', 'open = "menu2"', "ivr.flows.main.nodes.hours.open", "no node 'menu2'"),
    ('1 = "emergency"', '1 = "emergncy"', "ivr.flows.main.nodes.menu.options.1", "no node 'emergncy'"),
    ('start = "screen"', 'start = "scren"', "ivr.flows.main.start", "no node 'scren'"),
    ('agent_node = "agent"', 'agent_node = "agnet"', "ivr.flows.main.agent_node", "no node 'agnet'"),
    ('1 = "emergency"', 'x = "emergency"', "ivr.flows.main.nodes.menu.options.x",
     "not one key of 0123456789*#"),
    ('1 = "emergency"', '12 = "emergency"', "ivr.flows.main.nodes.menu.options.12", "not one key"),
    ('agent_key = "0"', 'agent_key = "00"', "ivr.flows.main.agent_key", "not one key"),
    ("retries = 2", "retries = -1", "ivr.flows.main.nodes.menu.retries", "must be >= 0"),
    ("timeout = 5", 'timeout = "5"', "ivr.flows.main.nodes.menu.timeout",
     "expected integer or number, got string"),
    ("timeout = 5", "timeout = true", "ivr.flows.main.nodes.menu.timeout", "got boolean"),
    ("timeout = 5", "timeout = 0", "ivr.flows.main.nodes.menu.timeout", "must be > 0"),
    ('queue = "emergency"', 'queue = "emergncy"', "ivr.flows.main.nodes.emergency.queue",
     "no queue 'emergncy' (did you mean 'emergency'?) (queues: emergency, general)"),
    ('blacklist = "blocked"', 'blacklst = "blocked"', "ivr.flows.main.nodes.screen.blacklst",
     "did you mean 'blacklist'"),
    ('number = "13800000000"', 'number = "138-0000"', "ivr.flows.main.nodes.duty.number",
     "not a phone number"),
    ('prompt = "welcome"', 'prompt = "Welcome!"', "ivr.flows.main.nodes.welcome.prompt", "not a prompt name"),
    ('prompt = "welcome"', "prompt = []", "ivr.flows.main.nodes.welcome.prompt", "at least one prompt"),
    ('default_flow = "main"', 'default_flow = "mian"', "ivr.default_flow", "no flow 'mian'"),
    ('mon = ["08:00-18:00"]', 'mon = ["18:00-08:00"]', "ivr.calendar.weekly.mon", "split overnight"),
    ("to = 2025-10-08", "to = 2026-10-08", "ivr.calendar.holidays[0].to", "check the year"),
    ('invalid_prompt = "invalid"', 'invalid_promt = "invalid"', "ivr.flows.main.invalid_promt",
     "did you mean 'invalid_prompt'"),
])
def test_error_names_file_line_and_key(old: str, new: str, key: str, words: str) -> None:
    assert old in BOX
    text = BOX.replace(old, new, 1)
    with pytest.raises(IvrConfigError) as info:
        parse(text)
    err = info.value
    assert isinstance(err, ConfigError)  # the box loader's error type: one way to report
    assert err.source == "box.toml" and err.key == key and words in err.detail
    assert err.line == line_of(text, new)
    assert str(err).startswith(f"box.toml:{err.line}: {key}: ")


@pytest.mark.parametrize(("remove", "table", "key", "words"), [
    ('timeout_next = "agent"', "[ivr.flows.main.nodes.menu]", "ivr.flows.main.nodes.menu",
     "a menu needs timeout_next"),
    ('default = "welcome"', "[ivr.flows.main.nodes.screen]", "ivr.flows.main.nodes.screen",
     "needs 'default'"),
    ('queue = "general"', "[ivr.flows.main.nodes.agent]", "ivr.flows.main.nodes.agent",
     "missing required key 'queue'"),
    ('type = "transfer"', "[ivr.flows.main.nodes.duty]", "ivr.flows.main.nodes.duty",
     "missing required key 'type'"),
])
def test_missing_key_points_at_its_table(remove: str, table: str, key: str, words: str) -> None:
    text = BOX.replace(remove + "\n", "", 1)
    with pytest.raises(IvrConfigError) as info:
        parse(text)
    assert info.value.key == key and words in info.value.detail
    assert info.value.line == line_of(text, table)


def test_hours_node_needs_a_calendar() -> None:
    start, end = BOX.index("[ivr.calendar.weekly]"), BOX.index("[ivr.flows.main]")
    text = BOX[:start] + BOX[end:]
    with pytest.raises(IvrConfigError, match=r"box\.toml:\d+: ivr\.flows\.main\.nodes\.hours\.type: .*calen"):
        parse(text)


def test_queue_names_are_only_checked_when_known() -> None:
    text = BOX.replace('queue = "general"', 'queue = "night"')
    cfg = parse_ivr_toml(text, "box.toml")  # no ACD config given
    node = cfg.flow.nodes["agent"]
    assert isinstance(node, QueueNode) and node.queue == "night"


def test_loop_that_never_waits_is_an_error() -> None:
    text = BOX.replace('default = "welcome"', 'default = "hours"')
    text = text.replace('closed = "duty"', 'closed = "screen"')
    with pytest.raises(IvrConfigError, match="spin here") as info:
        parse(text)
    assert "screen → hours → screen" in info.value.detail or "hours → screen → hours" in info.value.detail


def test_unreachable_node_is_a_warning_with_its_line() -> None:
    text = BOX + '\n[ivr.flows.main.nodes.spare]\ntype = "hangup"\n'
    cfg = parse(text)
    assert cfg.warnings == (f"box.toml:{line_of(text, '[ivr.flows.main.nodes.spare]')}: "
                            "ivr.flows.main.nodes.spare: node is never reached from start 'screen'",)


def test_missing_prompt_file_is_an_error_at_start(tmp_path: Path) -> None:
    for name in ("blocked", "welcome", "main_menu"):
        write_alaw_wav(tmp_path / f"{name}.wav")
    with pytest.raises(IvrConfigError) as info:
        parse(BOX, prompt_dir=tmp_path)
    # The flow-level invalid_prompt is copied into the menu: the error names the menu's key.
    assert info.value.key == "ivr.flows.main.nodes.menu.invalid_prompt"
    assert f"no prompt file invalid.wav in {tmp_path}" in info.value.detail
    (tmp_path / "invalid.alaw").write_bytes(b"\x55" * 160)  # raw A-law counts too
    assert parse(BOX, prompt_dir=tmp_path).prompt_dir == tmp_path
    (tmp_path / "welcome.wav").write_bytes(b"RIFF....WAVEjunk")
    with pytest.raises(IvrConfigError) as info:
        parse(BOX, prompt_dir=tmp_path)
    assert info.value.key == "ivr.flows.main.nodes.welcome.prompt" and "no data chunk" in info.value.detail
    assert info.value.line == line_of(BOX, 'prompt = "welcome"')


def test_prompt_dir_from_config_is_relative_to_the_file(tmp_path: Path) -> None:
    text = BOX.replace('default_flow = "main"', 'default_flow = "main"\nprompt_dir = "prompts"')
    with pytest.raises(IvrConfigError, match="no prompt file blocked.wav"):
        parse(text, base_dir=tmp_path)
    cfg = parse(text, base_dir=tmp_path, check_prompt_files=False)
    assert cfg.prompt_dir == tmp_path / "prompts"


def test_flows_in_a_file_named_by_the_box_config(tmp_path: Path) -> None:
    flows = tmp_path / "ivr.toml"
    body = BOX[BOX.index("[ivr]"):].replace("[ivr]\n", "").replace("[ivr.", "[").replace("[[ivr.", "[[")
    flows.write_text(body.replace('next = "hours"', 'next = "hour"'), encoding="utf-8")
    box = '[box]\nid = "test-box-001"\n\n[ivr]\nfile = "ivr.toml"\n'
    with pytest.raises(IvrConfigError) as info:
        parse_ivr_toml(box, "box.toml", base_dir=tmp_path)
    assert info.value.source == str(flows) and info.value.key == "flows.main.nodes.welcome.next"
    assert info.value.line == line_of(flows.read_text(encoding="utf-8"), 'next = "hour"')
    flows.write_text(body, encoding="utf-8")
    assert parse_ivr_toml(box, "box.toml", base_dir=tmp_path).flow.nodes["welcome"].edges() == [
        (("next",), "hours")]
    with pytest.raises(IvrConfigError, match=r"box\.toml:6: ivr\.default_flow: .*nothing else"):
        parse_ivr_toml(box + 'default_flow = "main"\n', "box.toml", base_dir=tmp_path)
    with pytest.raises(IvrConfigError, match="cannot read IVR flows"):
        load_ivr_file(tmp_path / "nope.toml")


def test_bad_toml_and_custom_prompt_texts() -> None:
    with pytest.raises(IvrConfigError, match=r"box\.toml:5: not valid TOML"):
        parse(BOX.replace('default_flow = "main"', "default_flow = main"))
    text = BOX.replace('default_flow = "main"', 'default_flow = "main"\n[ivr.prompts]\n'
                       'welcome = "欢迎致电渭城区社区居家养老服务中心。"\nbad_one = ""')
    with pytest.raises(IvrConfigError) as info:
        parse(text)
    assert info.value.key == "ivr.prompts.bad_one" and info.value.line == line_of(text, 'bad_one = ""')
    cfg = parse(text.replace('\nbad_one = ""', ""))
    assert cfg.prompt_texts["welcome"].startswith("欢迎致电渭城区") and "survey" in cfg.prompt_texts


def test_default_flows_are_valid_and_fully_voiced() -> None:
    cfg = load_default_ivr(queues=QUEUES)
    assert cfg.warnings == ()
    flow = cfg.flow
    assert flow.agent_key == "0" and flow.nodes["main_menu"].options["0"] == "agent"
    # Every prompt the demo uses has a text, so generate_prompts makes a complete set.
    assert flow.prompts() <= set(cfg.prompt_texts)
    assert {n.queue for n in flow.nodes.values() if isinstance(n, QueueNode)} == QUEUES
    with pytest.raises(IvrConfigError, match="no queue 'general'"):
        load_default_ivr(queues={"emergency"})
