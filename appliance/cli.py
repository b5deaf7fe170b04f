"""`anxin-box DAEMON --config PATH` (CONTRACTS §1)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from appliance.config import ConfigError, load_config
from appliance.logs import setup_logging
from appliance.store import StoreError

# console arrives with its issue; `all` runs what exists.
DAEMONS = ("alarmd", "pbxd", "syncd")
SUPERVISOR_COMMANDS = ("agents", "agent-state", "supervise", "dial",  # appliance/pbx/supervisor_cli.py
                       "tasks", "task-close", "task-reassign", "task-dial")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="anxin-box", description="Run an Anxin box daemon.",
        epilog="Also: anxin-box import-registry --config PATH FILE.csv (residents and devices); "
               "anxin-box pri status|capture --config PATH (trunks of a running pbxd); "
               "anxin-box recording export ID …; anxin-box prompts generate --config PATH; "
               "anxin-box blacklist add|remove|list --config PATH (骚扰电话 blacklist); "
               "anxin-box agents|agent-state|supervise|dial --config PATH (班长席: wallboard, "
               "agent states, 监听/耳语/强插/拦截, click-to-call); "
               "anxin-box tasks|task-close|task-reassign|task-dial --config PATH (未接来电回访); "
               "anxin-box fxs-test URL (a technician's test of a phone on an FXS port)")
    p.add_argument("daemon", choices=[*DAEMONS, "all"], help="which daemon to run")
    p.add_argument("--config", required=True, type=Path, help="box config (TOML)")
    p.add_argument("--check", action="store_true",
                   help="validate the config and exit (0 = valid)")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                   help="override [log] level")
    return p


def import_registry(argv: list[str]) -> int:
    """`anxin-box import-registry --config PATH FILE.csv`: residents and their devices."""
    p = argparse.ArgumentParser(prog="anxin-box import-registry",
                                description="Import residents (老人档案) and their alarm devices.")
    p.add_argument("--config", required=True, type=Path)
    p.add_argument("csv", type=Path, help="UTF-8 CSV: account,receiver,elder_id,name,phone,"
                   "address,emergency_contact,emergency_phone,notes")
    args = p.parse_args(argv)
    from appliance.registry import RegistryError, import_csv
    from appliance.store import open_store
    try:
        config = load_config(args.config)
        conn = open_store(config.box.data_dir)
        n = import_csv(conn, args.csv)
    except (ConfigError, RegistryError, StoreError) as exc:
        print(f"anxin-box import-registry: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"anxin-box import-registry: {args.csv}: {exc.strerror}", file=sys.stderr)
        return 2
    print(f"已导入 imported {n} device(s) into {config.db_path}")
    return 0


def pri(argv: list[str]) -> int:
    """`anxin-box pri status|capture`: ask the running pbxd about its trunks."""
    p = argparse.ArgumentParser(prog="anxin-box pri", description="E1 PRI trunks of the running pbxd.")
    p.add_argument("--config", required=True, type=Path)
    sub = p.add_subparsers(dest="what", required=True)
    sub.add_parser("status", help="D-channel state, alarms, channels, capture of every span")
    c = sub.add_parser("capture", help="switch a span's D-channel trace (pcap) on or off")
    c.add_argument("span")
    c.add_argument("switch", choices=["on", "off"])
    c.add_argument("--file", type=Path, help="pcap file (default: DATA_DIR/traces/SPAN-TIME.pcap)")
    args = p.parse_args(argv)
    from appliance.pbx import control
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"anxin-box pri: bad config: {exc}", file=sys.stderr)
        return 2
    payload: dict = {"cmd": "status"} if args.what == "status" else {
        "cmd": "capture", "span": args.span, "on": args.switch == "on",
        "file": str(args.file.resolve()) if args.file else None}
    path = control.socket_path(config.box.data_dir)
    try:
        reply = control.request(path, payload)
    except control.ControlError as exc:
        print(f"anxin-box pri: {exc}", file=sys.stderr)
        return 1
    except TimeoutError:
        print(f"anxin-box pri: pbxd did not answer within 5 s ({path})", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"anxin-box pri: pbxd is not running ({path}: {exc.strerror or exc})", file=sys.stderr)
        return 1
    if not reply.get("ok"):
        print(f"anxin-box pri: {reply.get('error')}", file=sys.stderr)
        return 2
    for trunk in reply.get("trunks") or [reply["trunk"]]:
        alarms = ",".join(trunk["alarms"]) or "无告警 no alarms"
        capture = trunk["capture"] or "off"
        print(f"{trunk['name']}: D信道 D-channel {trunk['d_channel']} ({trunk['last_change']}), "
              f"span {trunk['span_state']}, {alarms}, idle B-channels {trunk['idle_channels']}, "
              f"calls in {trunk['calls_in']}, capture {capture}")
    return 0


def prompts(argv: list[str]) -> int:
    """`anxin-box prompts generate --config PATH`: the IVR's Mandarin prompts (install step)."""
    p = argparse.ArgumentParser(prog="anxin-box prompts",
                                description="Generate the IVR prompts (espeak-ng Mandarin → 8 kHz A-law).")
    p.add_argument("what", choices=["generate"])
    p.add_argument("--config", required=True, type=Path)
    p.add_argument("--overwrite", action="store_true", help="regenerate generated prompts (never recordings)")
    args = p.parse_args(argv)
    from appliance.ivr.flows import load_default_ivr
    from appliance.ivr.prompts import PromptError, generate_prompts
    try:
        config = load_config(args.config)
        ivr = config.ivr or load_default_ivr(check_prompt_files=False)
    except ConfigError as exc:
        print(f"anxin-box prompts: bad config: {exc}", file=sys.stderr)
        return 2
    target = ivr.prompt_dir or config.box.data_dir / "prompts"
    try:
        report = generate_prompts(ivr.prompt_texts, target, overwrite=args.overwrite)
    except (PromptError, ValueError, OSError) as exc:
        print(f"anxin-box prompts: {exc}", file=sys.stderr)
        return 1
    print(f"语音提示 prompts in {target}: {len(report.generated)} generated, "
          f"{len(report.unchanged)} unchanged, {len(report.recorded)} recorded (kept)")
    return 0


def fxs_test(argv: list[str]) -> int:
    """`anxin-box fxs-test URL`: ring a phone on an FXS port with caller ID, see it answered,
    read its keys and see it put down (on site, before pbxd owns the port)."""
    p = argparse.ArgumentParser(
        prog="anxin-box fxs-test",
        description="坐席话机测试 Test an agent's phone on an FXS port: ringer, caller ID, hook, keys.")
    p.add_argument("url", help="dahdi://chan/N (a card's FXS port) or sim://PATH (a simulated one)")
    p.add_argument("--cid", default="13800138000", help="the caller ID number to show (default %(default)s)")
    p.add_argument("--name", default="ANXIN TEST", help="the caller ID name (ASCII; default %(default)s)")
    p.add_argument("--ring-timeout", type=float, default=30.0, help="seconds to ring (default %(default)s)")
    args = p.parse_args(argv)
    from drivers.e1_card.errors import SpanError
    from drivers.e1_card.fxs import open_fxs
    from drivers.e1_card.port_test import run_port_test
    try:
        port = open_fxs(args.url)
    except ValueError as exc:
        print(f"anxin-box fxs-test: {exc}", file=sys.stderr)
        return 2
    except SpanError as exc:
        hint = "（端口被占用：pbxd 是否在运行？ is pbxd running?）" if "resource busy" in str(exc) else ""
        print(f"anxin-box fxs-test: {exc}{hint}", file=sys.stderr)
        return 1
    try:
        result = run_port_test(port, cid_number=args.cid, cid_name=args.name, ring_timeout=args.ring_timeout,
                               say=lambda line: print(line, flush=True))
    except (SpanError, ValueError) as exc:
        print(f"anxin-box fxs-test: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        port.close()
    return 0 if result.ok else 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["fxs-test"]:
        return fxs_test(argv[1:])
    if argv[:1] == ["import-registry"]:
        return import_registry(argv[1:])
    if argv[:1] == ["recording"]:
        from appliance.recording.export import main as recording_main
        return recording_main(argv[1:])
    if argv[:1] == ["blacklist"]:
        from appliance.callers.cli import main as blacklist_main
        return blacklist_main(argv[1:])
    if argv[:1] == ["prompts"]:
        return prompts(argv[1:])
    if argv[:1] == ["pri"]:
        return pri(argv[1:])
    if argv[:1] and argv[0] in SUPERVISOR_COMMANDS:
        from appliance.pbx.supervisor_cli import main as supervisor_main
        return supervisor_main(argv)
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"anxin-box: bad config: {exc}", file=sys.stderr)
        return 2
    if args.check:
        print(f"{args.config}: OK (box {config.box.id}, {len(config.receivers)} receivers)")
        return 0
    setup_logging(args.daemon, args.log_level or config.log.level, config.log.format)
    if args.daemon == "all":
        from appliance.process_group import run_all
        return run_all(list(DAEMONS), args.config.resolve())
    from appliance.daemon import run
    try:
        if args.daemon == "alarmd":
            from appliance.alarm.alarmd import Alarmd
            daemon = Alarmd(config)
        elif args.daemon == "pbxd":
            from appliance.pbx.pbxd import Pbxd
            daemon = Pbxd(config)
        else:
            from appliance.sync.syncd import Syncd
            daemon = Syncd(config)
        return run(daemon)
    except (StoreError, ValueError) as exc:
        print(f"anxin-box {args.daemon}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
