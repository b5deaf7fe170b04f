"""`anxin-box agents|agent-state|supervise|dial`: against a fake control socket (what is sent,
what is printed, exit codes), then against a real pbxd with a call waiting."""

from __future__ import annotations

import json
import re
import shutil
import socket
import socketserver
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pbx_testkit import running_box, wait_until

from appliance import cli
from appliance.pbx import control, supervisor_cli
from appliance.pbx.supervisor_cli import main, mmss
from appliance.text_table import display_width, login_name

pytestmark = pytest.mark.timeout(30)

LIVE = {
    "at": 1767225600.0,   # 2026-01-01 08:00:00 in Shanghai
    "agents": [
        {"agent_id": "1001", "name": "王芳", "state": "busy", "state_zh": "通话中", "reason": None,
         "seconds": 65.4, "call_id": "span1-1", "phone": "sim:///tmp/x/fxs1", "caller": "13800138000"},
        {"agent_id": "1002", "name": "欧阳春花", "state": "not_ready", "state_zh": "示忙", "reason": "会议",
         "seconds": 7200.0, "call_id": None, "phone": "sim:///tmp/x/fxs3", "caller": None},
        {"agent_id": "2001", "name": "Li", "state": "logged_out", "state_zh": "未登录", "reason": None,
         "seconds": None, "call_id": None, "phone": None, "caller": None},
    ],
    "waiting": [
        {"call_id": "span1-2", "queue": "emergency", "priority": "emergency", "position": 1, "wait_s": 12.9,
         "caller": "02988880000", "ringing": ["1001"], "callback": None},
        {"call_id": "span1-3", "queue": "general", "priority": "normal", "position": 1, "wait_s": 95.0,
         "caller": "13900001111", "ringing": [], "callback": "13900001111"},
    ],
    "talking": {"span1-1": "sim:///tmp/x/fxs1"},
    "supervising": [{"phone": "sim:///tmp/x/fxs2", "mode": "whisper", "agent_id": "1001",
                     "call_id": "span1-1", "state": "active"}],
}


@dataclass
class FakePbxd:
    """A control socket answering canned replies; REQUESTS is what it was sent."""

    config: Path
    path: Path
    answer: Callable[[dict[str, Any]], Any]
    requests: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # AF_UNIX paths are limited to 108 bytes: pytest's tmp_path can be longer.
    path = Path(tempfile.mkdtemp(prefix="anxin-sup-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def config(tmp_path: Path, data_dir: Path) -> Path:
    path = tmp_path / "box.toml"
    path.write_text(f'[box]\nid = "box-1"\ndata_dir = "{data_dir}"\n'
                    '[[telephony.fxs]]\nurl = "sim:///tmp/x/fxs1"\nextension = "8001"\n'
                    '[[telephony.fxs]]\nurl = "sim:///tmp/x/fxs2"\nextension = "8002"\n', encoding="utf-8")
    return path


@pytest.fixture
def pbxd(config: Path, data_dir: Path) -> Iterator[FakePbxd]:
    fake = FakePbxd(config, control.socket_path(data_dir), lambda request: {"ok": True})

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            for line in self.rfile:
                request = json.loads(line)
                fake.requests.append(request)
                reply = fake.answer(request)
                self.wfile.write(reply if isinstance(reply, bytes) else
                                 json.dumps(reply, ensure_ascii=False).encode() + b"\n")

    server = socketserver.ThreadingUnixStreamServer(str(fake.path), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def column_at(line: str, cell: str) -> int:
    """The terminal column where CELL starts in LINE (a Chinese character is two cells wide)."""
    return display_width(line[:line.index(cell)])


def test_mmss() -> None:
    assert [mmss(0), mmss(65.9), mmss(7200), mmss(None), mmss(-1)] == \
        ["00:00", "01:05", "120:00", "-", "00:00"]


def test_the_wallboard_lines_up_chinese_columns(pbxd: FakePbxd, capsys: pytest.CaptureFixture[str]) -> None:
    pbxd.answer = lambda request: {"ok": True, **LIVE}
    assert main(["agents", "--config", str(pbxd.config)]) == 0
    assert pbxd.requests == [{"cmd": "live"}]
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "班长席 2026-01-01 08:00:00  坐席 3 (通话中 1, 示忙 1, 未登录 1)  排队 2"
    header = out[2]
    assert header.split() == ["工号", "姓名", "状态", "时长", "原因", "来电号码"]
    wang = next(line for line in out if line.startswith("1001"))
    ouyang = next(line for line in out if line.startswith("1002"))
    li = next(line for line in out if line.startswith("2001"))
    assert wang.split() == ["1001", "王芳", "通话中", "01:05", "13800138000"]
    assert ouyang.split() == ["1002", "欧阳春花", "示忙", "120:00", "会议"]
    assert li.split() == ["2001", "Li", "未登录", "-"]
    # Every column starts at the same terminal column, whatever mix of Chinese and Latin.
    assert column_at(header, "状态") == column_at(wang, "通话中") == column_at(ouyang, "示忙") == \
        column_at(li, "未登录")
    assert column_at(header, "时长") == column_at(wang, "01:05") == column_at(ouyang, "120:00")
    assert column_at(header, "原因") == column_at(ouyang, "会议")
    assert column_at(header, "来电号码") == column_at(wang, "13800138000")

    at = out.index("排队来电 calls waiting: 2")
    assert out[at + 1].split() == ["位置", "队列", "优先级", "等待", "主叫", "回电"]
    emergency, callback = out[at + 3], out[at + 4]
    assert emergency.split() == ["1", "emergency", "紧急", "00:12", "02988880000"]
    assert callback.split() == ["1", "general", "普通", "01:35", "13900001111", "13900001111"]
    assert column_at(out[at + 1], "优先级") == column_at(emergency, "紧急") == column_at(callback, "普通")
    assert column_at(out[at + 1], "回电") == display_width(callback[:callback.rindex("13900001111")])

    at = out.index("监听中 being monitored: 1")
    assert out[at + 1].split() == ["话机", "方式", "坐席", "状态"]
    assert out[at + 3].split() == ["8002", "耳语", "1001", "进行中"]   # the extension, not the port URL


def test_an_empty_box_says_so(pbxd: FakePbxd, capsys: pytest.CaptureFixture[str]) -> None:
    pbxd.answer = lambda request: {"ok": True, "at": LIVE["at"], "agents": [], "waiting": [], "talking": {},
                                   "supervising": []}
    assert main(["agents", "--config", str(pbxd.config)]) == 0
    out = capsys.readouterr().out
    assert "无坐席" in out and "排队来电 calls waiting: 0" in out and "监听中" not in out


def test_agents_json_is_the_live_view(pbxd: FakePbxd, capsys: pytest.CaptureFixture[str]) -> None:
    pbxd.answer = lambda request: {"ok": True, **LIVE}
    assert main(["agents", "--json", "--config", str(pbxd.config)]) == 0
    assert json.loads(capsys.readouterr().out) == LIVE   # without the protocol's "ok"


def test_watch_refreshes_until_ctrl_c(pbxd: FakePbxd, capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[int] = []

    def answer(request: dict[str, Any]) -> dict[str, Any]:
        seen.append(len(seen))
        return {"ok": True, **LIVE, "waiting": LIVE["waiting"][:len(seen) % 3]}

    pbxd.answer = answer
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            raise KeyboardInterrupt

    assert main(["agents", "--watch", "1.5", "--json", "--config", str(pbxd.config)], sleep=sleep) == 0
    assert waits == [1.5, 1.5, 1.5] and len(pbxd.requests) == 3
    lines = capsys.readouterr().out.splitlines()
    assert [len(json.loads(line)["waiting"]) for line in lines] == [1, 2, 0]   # one fresh view each


def test_watch_waits_for_a_pbxd_that_is_not_running(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    calls = 0

    def sleep(seconds: float) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt

    assert main(["agents", "--watch", "2", "--config", str(config)], sleep=sleep) == 0
    err = capsys.readouterr().err
    assert err.count("pbxd 未运行") == 2 and "2 秒后重试" in err


def test_watch_stops_when_pbxd_refuses(pbxd: FakePbxd, capsys: pytest.CaptureFixture[str]) -> None:
    pbxd.answer = lambda request: {"ok": False, "error": "live: this box has no agents' phones"}
    assert main(["agents", "--watch", "1", "--config", str(pbxd.config)],
                sleep=lambda s: pytest.fail("no refresh after a refusal")) == 2
    assert "anxin-box agents: pbxd 拒绝: live: this box has no agents' phones" in capsys.readouterr().err


def test_agent_state_sends_pbxd_names_and_the_login_by_default(pbxd: FakePbxd,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    engine_state = {"not_ready": "not_ready", "logout": "logged_out"}
    pbxd.answer = lambda r: {"ok": True, "agent_id": r["agent"], "state": engine_state[r["state"]],
                             "reason": r["reason"]}
    assert main(["agent-state", "1001", "not-ready", "--reason", "会议", "--config", str(pbxd.config)]) == 0
    assert pbxd.requests[-1] == {"cmd": "agent_state", "agent": "1001", "state": "not_ready",
                                 "reason": "会议", "by": login_name()}
    assert capsys.readouterr().out.strip() == "坐席 1001: 示忙 (not_ready), 原因 会议"
    assert main(["agent-state", "1001", "logout", "--by", "李班长", "--config", str(pbxd.config)]) == 0
    assert pbxd.requests[-1]["state"] == "logout" and pbxd.requests[-1]["by"] == "李班长"
    assert capsys.readouterr().out.strip() == "坐席 1001: 未登录 (logged_out)"


def test_pbxd_refusing_is_exit_2_with_its_reason(pbxd: FakePbxd, capsys: pytest.CaptureFixture[str]) -> None:
    reason = "坐席 1001 当前没有通话 (agent 1001 is not on a call)"
    pbxd.answer = lambda request: {"ok": False, "error": reason}
    assert main(["supervise", "listen", "1001", "--phone", "8002", "--config", str(pbxd.config)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == f"anxin-box supervise: pbxd 拒绝: {reason}"


def test_supervise_rings_the_supervisor_or_switches_mode(pbxd: FakePbxd,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    state = "ringing"
    pbxd.answer = lambda r: {"ok": True, "phone": "sim:///tmp/x/fxs2", "mode": r["mode"], "state": state,
                             "call_id": "span1-1"}
    assert main(["supervise", "whisper", "1001", "--phone", "8002", "--by", "李班长",
                 "--config", str(pbxd.config)]) == 0
    assert pbxd.requests[-1] == {"cmd": "supervise", "mode": "whisper", "agent": "1001", "phone": "8002",
                                 "by": "李班长"}
    assert "耳语 坐席 1001: 分机 8002 振铃中" in capsys.readouterr().out
    state = "active"
    assert main(["supervise", "barge", "1001", "--phone", "8002", "--config", str(pbxd.config)]) == 0
    assert "强插 坐席 1001: 分机 8002 已切换" in capsys.readouterr().out


def test_dial_goes_through_the_box_command(pbxd: FakePbxd, capsys: pytest.CaptureFixture[str]) -> None:
    pbxd.answer = lambda r: {"ok": True, "phone": "sim:///tmp/x/fxs1", "number": r["number"],
                             "state": "ringing"}
    assert cli.main(["dial", "13800138000", "--phone", "8001", "--by", "王芳",
                     "--config", str(pbxd.config)]) == 0
    assert pbxd.requests == [{"cmd": "dial", "phone": "8001", "number": "13800138000", "by": "王芳"}]
    assert "分机 8001 振铃中, 摘机后拨打 13800138000" in capsys.readouterr().out


def test_missed_call_tasks_are_listed_closed_reassigned_and_dialled(
        pbxd: FakePbxd, capsys: pytest.CaptureFixture[str]) -> None:
    task = {"task_id": "cb-3", "number": "13800138000", "queue": "general", "reason": "abandoned",
            "attempts": 2, "agent_id": "1001", "last_at": "2026-12-01T09:15:02+08:00", "wait_s": 75.0,
            "outcome": None}
    pbxd.answer = lambda r: ({"ok": True, "tasks": [task], "response_rate": 0.5} if r["cmd"] == "tasks"
                             else {"ok": True, "task": {**task, "outcome": r.get("outcome"),
                                                        "agent_id": r.get("agent", "1001")},
                                   "number": task["number"]})
    assert cli.main(["tasks", "--config", str(pbxd.config)]) == 0
    out = capsys.readouterr().out
    assert "1 个未结 (open), 回访率 50%" in out
    row = next(line for line in out.splitlines() if line.startswith("cb-3"))
    assert row.split() == ["cb-3", "13800138000", "general", "放弃", "2", "1001", "09:15:02", "01:15"]
    assert cli.main(["task-close", "cb-3", "wrong_number", "--by", "李", "--config", str(pbxd.config)]) == 0
    assert cli.main(["task-reassign", "cb-3", "1002", "--by", "李", "--config", str(pbxd.config)]) == 0
    assert cli.main(["task-dial", "cb-3", "--phone", "8001", "--by", "李", "--config", str(pbxd.config)]) == 0
    assert pbxd.requests[1:] == [
        {"cmd": "task_close", "task": "cb-3", "outcome": "wrong_number", "by": "李"},
        {"cmd": "task_reassign", "task": "cb-3", "agent": "1002", "by": "李"},
        {"cmd": "task_dial", "task": "cb-3", "phone": "8001", "by": "李"}]
    out = capsys.readouterr().out
    assert "已结束 (wrong_number)" in out and "改派给坐席 1002" in out and "摘机后拨打 13800138000" in out


def test_the_box_help_lists_the_commands() -> None:
    epilog = cli.build_parser().epilog or ""
    assert all(name in epilog for name in supervisor_cli.COMMANDS)


def test_bad_arguments_are_exit_2(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["supervise", "spy", "1001", "--phone", "8002"], ["agent-state", "1001", "busy"],
                 ["dial", "13800138000"], ["agents", "--watch", "0"]):
        with pytest.raises(SystemExit) as exited:
            main([*argv, "--config", str(config)])
        assert exited.value.code == 2, argv
    capsys.readouterr()
    assert main(["agents", "--config", str(config.with_name("missing.toml"))]) == 2
    assert "配置错误 bad config" in capsys.readouterr().err


def test_pbxd_not_running_is_exit_3_and_says_how_to_start_it(config: Path, data_dir: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["agents", "--config", str(config)]) == 3                # no socket at all
    err = capsys.readouterr().err
    assert "pbxd 未运行" in err and "systemctl start anxin-pbxd" in err and "anxin-box pbxd --config" in err
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)           # a socket left by a dead pbxd
    stale.bind(str(control.socket_path(data_dir)))
    stale.close()
    assert main(["dial", "13800138000", "--phone", "8001", "--config", str(config)]) == 3
    assert "pbxd 未运行" in capsys.readouterr().err


def test_a_garbled_answer_is_exit_1(pbxd: FakePbxd, capsys: pytest.CaptureFixture[str]) -> None:
    pbxd.answer = lambda request: b"not json\n"
    assert main(["agents", "--config", str(pbxd.config)]) == 1
    assert "pbxd 无有效应答" in capsys.readouterr().err


@pytest.mark.timeout(90)
def test_against_the_real_pbxd_the_board_follows_the_agent_and_the_caller(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # No [acd]: the phone's extension 8001 is an agent, logged in (ready) at start.
    with running_box(tmp_path) as box:
        config = str(tmp_path / "box.toml")   # what running_box wrote

        def board() -> dict[str, Any]:
            capsys.readouterr()
            assert main(["agents", "--json", "--config", config]) == 0
            return json.loads(capsys.readouterr().out)

        me = board()["agents"]
        assert [(a["agent_id"], a["state"]) for a in me] == [("8001", "ready")]
        assert main(["agent-state", "8001", "not-ready", "--reason", "会议", "--by", "李班长",
                     "--config", config]) == 0
        assert capsys.readouterr().out.strip() == "坐席 8001: 示忙 (not_ready), 原因 会议"
        agent = board()["agents"][0]
        assert (agent["state"], agent["state_zh"], agent["reason"]) == ("not_ready", "示忙", "会议")

        phone = box.handset()
        box.wait_trunk_up()
        box.telco.send("call c1 96101 13800138000")
        box.telco.expect("answered", id="c1")
        waiting = wait_until(lambda: board()["waiting"], what="the caller in the queue")  # agent not ready
        assert [(w["caller"], w["position"]) for w in waiting] == [("13800138000", 1)]

        capsys.readouterr()
        assert main(["agents", "--config", config]) == 0
        out = capsys.readouterr().out.splitlines()
        row = next(line for line in out if line.startswith("8001"))   # name "坐席 8001" has a space
        assert "示忙" in row and row.endswith("会议") and re.search(r" \d\d:\d\d ", row)
        call = out[out.index("排队来电 calls waiting: 1") + 3].split()
        assert call[:3] == ["1", "general", "普通"] and re.fullmatch(r"\d\d:\d\d", call[3])
        assert call[4:] == ["13800138000"]

        assert main(["supervise", "listen", "8001", "--phone", "8001", "--config", config]) == 2
        assert "pbxd 拒绝: 坐席 8001 当前没有通话" in capsys.readouterr().err
        assert main(["agent-state", "8001", "ready", "--config", config]) == 0
        assert phone.expect("cid", timeout=10)["number"] == "13800138000"   # ready: offered the caller
        assert board()["waiting"][0]["ringing"] == ["8001"]
        box.telco.send("hangup c1 16")
        box.telco.expect("released", id="c1")
