"""The supervisor's (班长席) commands to a running pbxd, until the box's web console exists.

- ``anxin-box agents --config PATH [--watch SECONDS] [--json]``: the wallboard — agents
  with their state and how long, calls waiting, who is being monitored.
- ``anxin-box agent-state AGENT ready|not-ready|logout|mobile [--reason TEXT] [--number N] [--by NAME]
  --config PATH``
- ``anxin-box supervise listen|whisper|barge|intercept AGENT --phone EXT [--by NAME] --config PATH``
- ``anxin-box dial NUMBER --phone EXT [--by NAME] --config PATH``: click-to-call.

Everything goes through pbxd's control socket (control.py). Exit status: 0 = done,
2 = bad usage or config, or pbxd refused (its reason is printed), 3 = pbxd is not running,
1 = pbxd was there but gave no usable answer (timeout, garbage).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from appliance.acd.missed import OUTCOMES
from appliance.acd.model import AGENT_STATE_LABELS, AgentState
from appliance.clock import SHANGHAI
from appliance.config import Config, ConfigError, load_config
from appliance.pbx import control
from appliance.pbx.phone_sessions import SUPERVISE_MODES

# The CJK-width table and the login-name default live in the blacklist CLI; shared from
# there rather than copied (they belong in a module of their own: see the report).
from appliance.text_table import login_name, table

COMMANDS = ("agents", "agent-state", "supervise", "dial", "tasks", "task-close", "task-reassign",
            "task-dial")
TASK_HEADERS = ("任务", "号码", "队列", "原因", "次数", "坐席", "最近未接", "等待")
REASONS_ZH = {"abandoned": "放弃", "callback_failed": "回拨未通", "overflow": "溢出回电"}

EXIT_OK = 0
EXIT_NO_ANSWER = 1
EXIT_REFUSED = 2
EXIT_NOT_RUNNING = 3

AGENT_HEADERS = ("工号", "姓名", "状态", "时长", "原因", "来电号码")
WAITING_HEADERS = ("位置", "队列", "优先级", "等待", "主叫", "回电")
WATCHING_HEADERS = ("话机", "方式", "坐席", "状态")
PRIORITY_LABELS = {"emergency": "紧急", "elder": "优先", "normal": "普通"}
SESSION_STATE_LABELS = {"ringing": "振铃中", "dialling": "拨号中", "active": "进行中", "ended": "已结束"}
CLI_STATES = {"ready": "ready", "not-ready": "not_ready", "logout": "logout",   # CLI → pbxd
              "mobile": "mobile", "login": "login"}
CLEAR_SCREEN = "\x1b[H\x1b[2J"


class CommandFailed(Exception):
    """The command cannot be done; CODE is the exit status, the message says why."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


# -- parsing ----------------------------------------------------------------------------------------
def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"不是数字 (not a number): {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"须大于 0 (must be positive): {text!r}")
    return value


def build_parser(command: str) -> argparse.ArgumentParser:
    """The parser of one of COMMANDS (prog ``anxin-box COMMAND``)."""
    prog = f"anxin-box {command}"
    if command == "agents":
        p = argparse.ArgumentParser(prog=prog, description="班长席 wallboard: 坐席状态, 排队来电, 监听.")
        p.add_argument("--watch", type=_positive, metavar="SECONDS",
                       help="每 N 秒刷新, Ctrl-C 退出 (refresh every N seconds until Ctrl-C)")
        p.add_argument("--json", action="store_true", help="pbxd 的原始数据 (the live view as JSON; "
                       "one line per refresh with --watch)")
    elif command == "agent-state":
        p = argparse.ArgumentParser(prog=prog, description="班长置坐席状态 (force an agent's state).")
        p.add_argument("agent", help="工号 (agent id)")
        p.add_argument("state", choices=list(CLI_STATES),
                       help="ready = 示闲, not-ready = 示忙 (with --reason), logout = 签出, "
                       "mobile = 移动座席: log in on a mobile (--number, default the agent's own), "
                       "login = 签入 on the desk phone --phone EXT")
        p.add_argument("--reason", help="示忙原因, e.g. 会议 (default: 班长置忙)")
        p.add_argument("--number", help="移动座席的号码 (the mobile for state mobile)")
        p.add_argument("--phone", metavar="EXT", help="签入的分机 (the desk phone for state login)")
    elif command == "supervise":
        p = argparse.ArgumentParser(prog=prog, description="监听/耳语/强插/拦截 an agent's call: "
                                    "the supervisor's phone rings, lift it to join.")
        p.add_argument("mode", choices=list(SUPERVISE_MODES),
                       help="listen 监听, whisper 耳语, barge 强插, intercept 拦截")
        p.add_argument("agent", help="工号 of the agent on the call")
        p.add_argument("--phone", required=True, metavar="EXT",
                       help="班长的分机 (the supervisor's extension)")
    elif command == "dial":
        p = argparse.ArgumentParser(prog=prog, description="点击外呼 click-to-call: the phone rings "
                                    "first; lifted, the box dials NUMBER on a trunk.")
        p.add_argument("number", help="要拨打的号码 (3-20 digits)")
        p.add_argument("--phone", required=True, metavar="EXT", help="坐席分机 (the agent's extension)")
    elif command == "tasks":
        p = argparse.ArgumentParser(prog=prog, description="未接来电回访任务 (open missed-call tasks).")
        p.add_argument("--agent", help="只看该坐席的任务 (only this agent's)")
        p.add_argument("--json", action="store_true", help="pbxd 的原始数据 (as JSON)")
    elif command == "task-close":
        p = argparse.ArgumentParser(prog=prog, description="结束回访任务 (close a task with its outcome).")
        p.add_argument("task", help="任务编号, e.g. cb-3")
        p.add_argument("outcome", choices=list(OUTCOMES),
                       help="reached 已联系, no_answer 无人接, wrong_number 号码错误, not_needed 无需回访")
    elif command == "task-reassign":
        p = argparse.ArgumentParser(prog=prog, description="改派回访任务 (give a task to another agent).")
        p.add_argument("task", help="任务编号")
        p.add_argument("agent", help="工号")
    elif command == "task-dial":
        p = argparse.ArgumentParser(prog=prog, description="回访外呼: the phone rings, lifted the box "
                                    "dials the task's number; answered closes it as reached.")
        p.add_argument("task", help="任务编号")
        p.add_argument("--phone", required=True, metavar="EXT", help="坐席分机")
    else:
        raise ValueError(f"unknown supervisor command {command!r} ({', '.join(COMMANDS)})")
    if command not in ("agents", "tasks"):
        p.add_argument("--by", default=None, help="操作人 (default: the login name)")
    p.add_argument("--config", required=True, type=Path, help="box config (TOML)")
    return p


# -- talking to pbxd --------------------------------------------------------------------------------
def ask(path: Path, payload: dict[str, Any]) -> dict[str, Any]:
    """PAYLOAD to the pbxd at PATH; its reply without "ok". Raises CommandFailed."""
    try:
        reply = control.request(path, payload)
    except control.ControlError as exc:
        raise CommandFailed(EXIT_NO_ANSWER, f"pbxd 无有效应答 (no usable answer): {exc}") from None
    except TimeoutError:
        raise CommandFailed(EXIT_NO_ANSWER,
                            f"pbxd 5 秒内无应答 (did not answer within 5 s: {path})") from None
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        raise CommandFailed(EXIT_NOT_RUNNING, _not_running(path, exc)) from None
    except PermissionError:
        raise CommandFailed(EXIT_REFUSED, f"无权访问 {path} (permission denied): "
                            "请用 root 或 anxin 用户运行 (run as root or the anxin user)") from None
    except OSError as exc:
        raise CommandFailed(EXIT_NO_ANSWER, f"pbxd 连接失败 ({path}: {exc.strerror or exc})") from None
    if not reply.get("ok"):
        raise CommandFailed(EXIT_REFUSED, f"pbxd 拒绝: {reply.get('error') or '(no reason given)'}")
    return {k: v for k, v in reply.items() if k != "ok"}


def _not_running(path: Path, exc: OSError) -> str:
    return (f"pbxd 未运行 (pbxd is not running: {path}: {exc.strerror or exc})\n"
            "  启动 start it: systemctl start anxin-pbxd  (or in the foreground: "
            "anxin-box pbxd --config PATH)")


# -- the wallboard --------------------------------------------------------------------------------------
def mmss(seconds: float | None) -> str:
    """``mm:ss`` (minutes go past 59: an agent not ready for 2 hours shows 120:00); "-" when unknown."""
    if seconds is None:
        return "-"
    whole = max(0, int(seconds))
    return f"{whole // 60:02d}:{whole % 60:02d}"


def format_live(view: dict[str, Any], extensions: dict[str, str] | None = None) -> str:
    """The live view (pbxd's ``live`` reply) as the wallboard's text. EXTENSIONS maps a phone's
    port URL to its extension (from the config), which is what a supervisor dials and types."""
    extensions = extensions or {}
    agents, waiting, watching = view.get("agents", []), view.get("waiting", []), view.get("supervising", [])
    at = datetime.fromtimestamp(view["at"], SHANGHAI).strftime("%Y-%m-%d %H:%M:%S") if "at" in view else "?"
    counts: dict[str, int] = {}
    for a in agents:
        counts[a["state_zh"]] = counts.get(a["state_zh"], 0) + 1
    summary = ", ".join(f"{label} {n}" for label, n in counts.items())
    lines = [f"班长席 {at}  坐席 {len(agents)}" + (f" ({summary})" if summary else "")
             + f"  排队 {len(waiting)}", ""]
    if agents:
        lines.append(table(AGENT_HEADERS, [
            (a["agent_id"], a.get("name") or "", a["state_zh"], mmss(a.get("seconds")), a.get("reason") or "",
             a.get("caller") or "") for a in agents]))
    else:
        lines.append("无坐席 (no agents configured)")
    lines += ["", f"排队来电 calls waiting: {len(waiting)}"]
    if waiting:
        lines.append(table(WAITING_HEADERS, [
            (str(c["position"]), c["queue"], PRIORITY_LABELS.get(c["priority"], c["priority"]),
             mmss(c.get("wait_s")), c.get("caller") or "", c.get("callback") or "") for c in waiting]))
    if watching:
        lines += ["", f"监听中 being monitored: {len(watching)}"]
        lines.append(table(WATCHING_HEADERS, [
            (extensions.get(s["phone"], s["phone"]), SUPERVISE_MODES.get(s["mode"] or "", s["mode"] or ""),
             s.get("agent_id") or "", SESSION_STATE_LABELS.get(s["state"], s["state"])) for s in watching]))
    return "\n".join(lines)


def _agents(args: argparse.Namespace, config: Config, path: Path, sleep: Callable[[float], None]) -> int:
    extensions = {f.url: f.extension for f in config.fxs}

    def show() -> None:
        view = ask(path, {"cmd": "live"})
        if args.json:
            print(json.dumps(view, ensure_ascii=False), flush=True)
        else:
            if args.watch is not None and sys.stdout.isatty():
                print(CLEAR_SCREEN, end="")
            print(format_live(view, extensions), flush=True)

    if args.watch is None:
        show()
        return EXIT_OK
    try:
        while True:
            try:
                show()
            except CommandFailed as exc:
                if exc.code == EXIT_REFUSED:
                    raise
                # pbxd restarting or not up yet: the wallboard waits for it
                print(f"anxin-box agents: {exc} — {args.watch:g} 秒后重试 (retrying)", file=sys.stderr,
                      flush=True)
            sleep(args.watch)
    except KeyboardInterrupt:
        return EXIT_OK


# -- the commands ---------------------------------------------------------------------------------------
def _agent_state(args: argparse.Namespace, path: Path) -> int:
    request = {"cmd": "agent_state", "agent": args.agent, "state": CLI_STATES[args.state],
               "reason": args.reason, "by": _by(args)}
    if args.number:
        request["number"] = args.number
    if args.phone:
        request["phone"] = args.phone
    reply = ask(path, request)
    state = reply.get("state", "")
    try:
        label = AGENT_STATE_LABELS[AgentState(state)]
    except ValueError:  # a state this CLI does not know yet: pbxd's word as it is
        label = state
    reason = f", 原因 {reply['reason']}" if reply.get("reason") else ""
    if reply.get("mobile"):
        reason += f", 移动座席 {reply['mobile']}"
    print(f"坐席 {reply.get('agent_id', args.agent)}: {label} ({state}){reason}")
    return EXIT_OK


def _supervise(args: argparse.Namespace, path: Path) -> int:
    reply = ask(path, {"cmd": "supervise", "mode": args.mode, "agent": args.agent, "phone": args.phone,
                       "by": _by(args)})
    mode = SUPERVISE_MODES.get(reply.get("mode") or args.mode, args.mode)
    if reply.get("state") == "ringing":
        print(f"{mode} 坐席 {args.agent}: 分机 {args.phone} 振铃中, 摘机即加入 "
              f"(lift the phone to join; call {reply.get('call_id')})")
    else:  # the supervisor was already in the call: the mode changed at once
        print(f"{mode} 坐席 {args.agent}: 分机 {args.phone} 已切换 "
              f"(mode switched; call {reply.get('call_id')})")
    return EXIT_OK


def _dial(args: argparse.Namespace, path: Path) -> int:
    reply = ask(path, {"cmd": "dial", "phone": args.phone, "number": args.number, "by": _by(args)})
    print(f"点击外呼: 分机 {args.phone} 振铃中, 摘机后拨打 {reply.get('number', args.number)} "
          "(lift the phone: the box then dials out)")
    return EXIT_OK


def format_tasks(tasks: list[dict[str, Any]], response_rate: float | None) -> str:
    rows = [(t["task_id"], t["number"], t["queue"], REASONS_ZH.get(t["reason"], t["reason"]),
             str(t["attempts"]), t["agent_id"] or "未分配", (t["last_at"] or "")[11:19], mmss(t["wait_s"]))
            for t in tasks]
    rate = "-" if response_rate is None else f"{response_rate:.0%}"
    head = f"未接来电回访: {len(tasks)} 个未结 (open), 回访率 {rate} (response rate)"
    return head + ("\n" + table(TASK_HEADERS, rows) if rows else "")


def _tasks(args: argparse.Namespace, path: Path) -> int:
    request: dict[str, Any] = {"cmd": "tasks"}
    if args.agent:
        request["agent"] = args.agent
    reply = ask(path, request)
    if args.json:
        print(json.dumps({k: v for k, v in reply.items() if k != "ok"}, ensure_ascii=False))
    else:
        print(format_tasks(reply.get("tasks", []), reply.get("response_rate")))
    return EXIT_OK


def _task_verb(command: str, args: argparse.Namespace, path: Path) -> int:
    if command == "task-close":
        reply = ask(path, {"cmd": "task_close", "task": args.task, "outcome": args.outcome, "by": _by(args)})
        print(f"任务 {args.task}: 已结束 ({reply['task']['outcome']})")
    elif command == "task-reassign":
        reply = ask(path, {"cmd": "task_reassign", "task": args.task, "agent": args.agent, "by": _by(args)})
        print(f"任务 {args.task}: 改派给坐席 {reply['task']['agent_id']}")
    else:
        reply = ask(path, {"cmd": "task_dial", "task": args.task, "phone": args.phone, "by": _by(args)})
        print(f"任务 {args.task}: 分机 {args.phone} 振铃中, 摘机后拨打 {reply.get('number')}")
    return EXIT_OK


def _by(args: argparse.Namespace) -> str:
    return args.by if args.by is not None else login_name()


def main(argv: list[str], *, sleep: Callable[[float], None] = time.sleep) -> int:
    """``anxin-box COMMAND …`` for COMMAND in COMMANDS (ARGV starts with the command's name).
    SLEEP is the wait between wallboard refreshes (tests pass their own)."""
    command = argv[0] if argv else ""
    if command not in COMMANDS:
        print(f"anxin-box: unknown supervisor command {command!r} ({', '.join(COMMANDS)})", file=sys.stderr)
        return EXIT_REFUSED
    args = build_parser(command).parse_args(argv[1:])
    prog = f"anxin-box {command}"
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"{prog}: 配置错误 bad config: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    path = control.socket_path(config.box.data_dir)
    try:
        if command == "agents":
            return _agents(args, config, path, sleep)
        if command == "agent-state":
            return _agent_state(args, path)
        if command == "supervise":
            return _supervise(args, path)
        if command == "tasks":
            return _tasks(args, path)
        if command.startswith("task-"):
            return _task_verb(command, args, path)
        return _dial(args, path)
    except CommandFailed as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return exc.code
