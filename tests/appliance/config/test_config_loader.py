from pathlib import Path

import pytest

from appliance.config import ConfigError, load_config, parse_config

GOOD = """\
[box]
id = "xianyang-weicheng-001"
data_dir = "data"

[hub]
mqtt_url = "mqtt://hub.example.cn:1883"

[[alarm.receivers]]
name = "main"
protocol = "surgard"
port = "/dev/ttyUSB0"

[[alarm.receivers]]
name = "backup"
protocol = "ademco685"
port = "loop://"
baudrate = 1200

[[telephony.spans]]
name = "span1"
url = "sim:///run/anxin/telco/span1"

[[telephony.fxs]]
url = "sim:///run/anxin/fxs/port1"
extension = "8001"

[console]
listen = "0.0.0.0:8080"
"""


def test_contract_example_loads_with_defaults(tmp_path: Path) -> None:
    cfg = parse_config(GOOD, "box.toml", base_dir=tmp_path)
    assert cfg.box.id == "xianyang-weicheng-001"
    assert cfg.box.data_dir == tmp_path / "data"  # relative to the config file
    assert cfg.db_path == tmp_path / "data" / "box.db"
    assert [r.name for r in cfg.receivers] == ["main", "backup"]
    assert cfg.receivers[0].baudrate == 9600 and cfg.receivers[1].baudrate == 1200
    assert cfg.receivers[0].heartbeat_interval == 30.0
    assert cfg.bus.mqtt_url == "mqtt://127.0.0.1:1883"
    assert cfg.spans[0].url.startswith("sim://") and cfg.fxs[0].extension == "8001"


@pytest.mark.parametrize(
    ("old", "new", "line", "key", "words"),
    [
        ('mqtt_url = "mqtt://hub', 'mqtt_uri = "mqtt://hub', 6, "hub.mqtt_uri", "did you mean"),
        ('protocol = "ademco685"', 'protocol = "ademco"', 15, "alarm.receivers[1].protocol",
         "not one of"),
        ("baudrate = 1200", "baudrate = 1201", 17, "alarm.receivers[1].baudrate", "not one of"),
        ("baudrate = 1200", "baudrate = true", 17, "alarm.receivers[1].baudrate", "boolean"),
        ('id = "xianyang-weicheng-001"', 'id = "Bad Id"', 2, "box.id", "must match"),
        ('extension = "8001"', 'extension = "80a1"', 25, "telephony.fxs[0].extension", "digits"),
        ('listen = "0.0.0.0:8080"', 'listen = "0.0.0.0"', 28, "console.listen", "HOST:PORT"),
        ("[console]", "[consle]", 27, "consle", "did you mean 'console'"),
        ('port = "/dev/ttyUSB0"', 'port = " "', 11, "alarm.receivers[0].port", "must not be empty"),
    ],
)
def test_bad_key_is_named_with_its_line(old: str, new: str, line: int, key: str,
                                        words: str) -> None:
    text = GOOD.replace(old, new, 1)
    assert text != GOOD
    with pytest.raises(ConfigError) as err:
        parse_config(text, "box.toml")
    assert err.value.line == line, str(err.value)
    assert err.value.key == key
    assert words in str(err.value)
    assert str(err.value).startswith(f"box.toml:{line}: {key}: ")


def test_missing_required_key_points_at_its_table() -> None:
    text = GOOD.replace('port = "/dev/ttyUSB0"\n', "")
    with pytest.raises(ConfigError) as err:
        parse_config(text, "box.toml")
    assert err.value.line == 8  # the [[alarm.receivers]] header of the first receiver
    assert "missing required key 'port'" in str(err.value)


def test_duplicate_receiver_names_rejected() -> None:
    with pytest.raises(ConfigError, match="duplicate receiver name"):
        parse_config(GOOD.replace('name = "backup"', 'name = "main"'), "box.toml")


def test_toml_syntax_error_has_line() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(GOOD + "\n[broken\n", "box.toml")
    assert err.value.line == 30


def test_mqtts_needs_ca() -> None:
    with pytest.raises(ConfigError, match="hub.ca"):
        parse_config(GOOD.replace("mqtt://hub.example.cn:1883", "mqtts://hub.example.cn:8883"))


def test_unreadable_file_names_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.toml")


def test_dc09_receiver_needs_an_ip_url_and_dc09_keys_only_for_dc09(tmp_path: Path) -> None:
    ip = GOOD.replace('protocol = "ademco685"\nport = "loop://"',
                      'protocol = "dc09"\nport = "tcp://0.0.0.0:9000"\nkeys_file = "k.toml"\n'
                      'require_encryption = true\npoll_interval = 300')
    cfg = parse_config(ip, "box.toml", base_dir=tmp_path)
    backup = cfg.receivers[1]
    assert (backup.protocol, backup.keys_file, backup.require_encryption, backup.poll_interval) == (
        "dc09", tmp_path / "k.toml", True, 300.0)
    with pytest.raises(ConfigError, match="tcp://HOST:PORT") as err:
        parse_config(ip.replace("tcp://0.0.0.0:9000", "/dev/ttyS0"), "box.toml")
    assert err.value.line == 16
    with pytest.raises(ConfigError, match="only for protocol") as err:
        parse_config(GOOD.replace('port = "/dev/ttyUSB0"', 'port = "/dev/ttyUSB0"\nkeys_file = "k"'),
                     "box.toml")
    assert err.value.key == "alarm.receivers[0].keys_file" and err.value.line == 12


SPANS = """\
[box]
id = "xian-yanta-001"

[[telephony.spans]]
name = "span1"
url = "sim:///run/anxin/telco/span1"
capture = "traces/span1.pcap"
area_code = "29"

[[telephony.spans]]
name = "span2"
url = "dahdi://2"
role = "network"

[[telephony.number_rules]]
span = "span1"
direction = "in"
number = "calling"
match = "(95\\\\d{3})"
replace = "\\\\1"
"""


def test_span_roles_capture_and_number_rules(tmp_path: Path) -> None:
    cfg = parse_config(SPANS, "box.toml", base_dir=tmp_path)
    span1, span2 = cfg.spans
    assert span1.role == "user" and span2.role == "network"
    assert span1.capture == (tmp_path / "traces/span1.pcap").resolve() and span2.capture is None
    # The span's own rule first (a service number stays short), then the area-code defaults.
    assert span1.numbering.translate("in", "calling", "95588", "subscriber") == ("95588", "subscriber")
    assert span1.numbering.translate("in", "calling", "88881234", "subscriber") == ("02988881234", "unknown")
    assert span2.numbering.rules == ()


@pytest.mark.parametrize(("edit", "says"), [
    (('url = "dahdi://2"', 'url = "zaptel://2"'), "telephony.spans[1].url: span URL must be sim:///DIR or dahdi://N"),
    (('role = "network"', 'role = "nt"'), "telephony.spans[1].role: 'nt' is not one of user, network"),
    (('area_code = "29"', 'area_code = "029"'), "telephony.spans[0].area_code: '029' must be 2 or 3 digits"),
    (('span = "span1"', 'span = "span9"'), "telephony.number_rules[0].span: no span named 'span9'"),
    (('match = "(95', 'match = "((95'), "telephony.number_rules[0]: match '((95"),
    (('name = "span2"', 'name = "span1"'), "telephony.spans[1].name: duplicate span name 'span1'"),
])
def test_bad_span_config_names_the_key(tmp_path: Path, edit: tuple[str, str], says: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(SPANS.replace(*edit), "box.toml", base_dir=tmp_path)
    assert says in str(info.value)
    assert str(info.value).startswith("box.toml:")


def test_recording_section_and_its_checks(tmp_path: Path) -> None:
    base = '[box]\nid = "xian-yanta-001"\n[recording]\nkeys_file = "secrets/rec.keys"\nkeep_days = 40\n'
    cfg = parse_config(base, "box.toml", base_dir=tmp_path)
    assert cfg.recording.keys_file == (tmp_path / "secrets/rec.keys").resolve()
    assert cfg.recording.keep_days == 40 and cfg.recording.dir is None
    with pytest.raises(ConfigError, match=r"box.toml:6: recording.max_days: must be >= recording.keep_days"):
        parse_config(base + "max_days = 31\n", "box.toml", base_dir=tmp_path)
    with pytest.raises(ConfigError, match="recording.keep_days: must be >= 1"):
        parse_config(base.replace("keep_days = 40", "keep_days = 0"), "box.toml", base_dir=tmp_path)


def test_ivr_section_is_validated_with_its_line(tmp_path: Path) -> None:
    text = ('[box]\nid = "xian-yanta-001"\n\n[ivr]\ndefault_flow = "main"\n\n'
            '[ivr.flows.main]\nstart = "hello"\n\n[ivr.flows.main.nodes.hello]\ntype = "play"\n'
            'prompt = "welcome"\nnext = "byee"\n\n[ivr.flows.main.nodes.bye]\ntype = "hangup"\n')
    with pytest.raises(ConfigError) as info:
        parse_config(text, "box.toml", base_dir=tmp_path)
    assert "ivr.flows.main.nodes.hello.next" in str(info.value) and "'byee'" in str(info.value)
    assert str(info.value).startswith("box.toml:13:")
    cfg = parse_config(text.replace('"byee"', '"bye"'), "box.toml", base_dir=tmp_path)
    assert cfg.ivr.flow.start == "hello"


ACD = GOOD + """
[[acd.queues]]
name = "general"
strategy = "fewest_calls"
ring_timeout = 12

[[acd.agents]]
agent_id = "1001"
name = "王芳"
pin = "2468"
skills = { general = 0 }
"""


def test_acd_section_and_a_phone_bound_to_an_agent() -> None:
    cfg = parse_config(ACD.replace('extension = "8001"', 'extension = "8001"\nagent = "1001"'), "box.toml")
    assert cfg.fxs[0].agent == "1001"
    assert [q.name for q in cfg.acd.queues] == ["general"] and cfg.acd.queues[0].strategy == "fewest_calls"
    assert cfg.acd.agents[0].name == "王芳"


def test_bad_acd_settings_name_the_key_and_the_line() -> None:
    with pytest.raises(ConfigError, match=r"ring_timeout") as err:
        parse_config(ACD.replace("ring_timeout = 12", "ring_timeout = -1"), "box.toml")
    assert err.value.key == "acd.queues[0].ring_timeout" and err.value.line == ACD.splitlines().index(
        "ring_timeout = 12") + 1
    with pytest.raises(ConfigError, match=r"no agent '1002' in \[\[acd.agents\]\] \(1001\)") as err:
        parse_config(ACD.replace('extension = "8001"', 'extension = "8001"\nagent = "1002"'), "box.toml")
    assert err.value.key == "telephony.fxs[0].agent"
