"""`anxin-box blacklist add|remove|list --config PATH`: supervisors keep the 骚扰电话 list.

0 = done, 2 = bad usage, config or number (the message names the field).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from datetime import datetime, timedelta
from pathlib import Path

from appliance.callers import blacklist
from appliance.clock import SHANGHAI, now_local
from appliance.text_table import login_name, table

PROG = "anxin-box blacklist"
ACTION_LABELS = {"reject": "拒接 reject", "announce": "放音 announce"}
SOURCE_LABELS = {"box": "本机 box", "hub": "平台 hub"}
HEADERS = ("号码", "处理", "原因", "添加人", "添加时间", "到期", "来源", "拦截次数")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="骚扰电话黑名单 (the nuisance-caller blacklist).")
    # --config before or after the subcommand; SUPPRESS keeps a subcommand from erasing it.
    p.add_argument("--config", type=Path, help="box config (TOML)")
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="box config (TOML)")
    sub = p.add_subparsers(dest="what", required=True)
    a = sub.add_parser("add", parents=[config], help="加入黑名单 (add or change a number)")
    a.add_argument("number")
    a.add_argument("--action", choices=blacklist.ACTIONS, default="reject",
                   help="reject = 拒接 (default); announce = 放提示音后挂机")
    a.add_argument("--reason", help="原因, e.g. 推销电话")
    a.add_argument("--by", default=None, help="操作人 (default: the login name)")
    a.add_argument("--days", type=float, help="N 天后自动失效 (expires after N days)")
    r = sub.add_parser("remove", parents=[config], help="移出黑名单 (remove a number)")
    r.add_argument("number")
    r.add_argument("--by", default=None, help="操作人 (default: the login name)")
    sub.add_parser("list", parents=[config], help="列出黑名单 (list every entry)")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from appliance.config import ConfigError, load_config
    from appliance.store import StoreError, open_store

    if args.config is None:
        print(f"{PROG}: --config PATH is required", file=sys.stderr)
        return 2
    try:
        config = load_config(args.config)
        conn = open_store(config.box.data_dir)
    except (ConfigError, StoreError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    try:
        if args.what == "list":
            _print_list(conn)
            return 0
        now = now_local()
        by = args.by if args.by is not None else login_name()
        if args.what == "remove":
            entry = blacklist.remove(conn, args.number, by, now)
            print(f"已移出黑名单 removed {entry.number}")
            return 0
        if args.days is not None and args.days <= 0:
            raise blacklist.BlacklistError("--days", "须大于 0 (must be positive)")
        expires = now + timedelta(days=args.days) if args.days is not None else None
        entry = blacklist.add(conn, args.number, args.action, args.reason, by, now, expires)
        until = f", 到期 until {_when(entry.expires_at)}" if entry.expires_at else ""
        print(f"已加入黑名单 added {entry.number} ({ACTION_LABELS[entry.action]}){until}")
        _warn_if_elder(conn, entry.number, now)
        return 0
    except blacklist.BlacklistError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    finally:
        conn.close()


def _warn_if_elder(conn: sqlite3.Connection, number: str, now: datetime) -> None:
    from appliance.callers.recognition import recognise
    profile = recognise(conn, number, now, history=0)
    if profile.elder is not None:
        whose = "紧急联系电话" if profile.emergency_phone else "电话"
        elder = profile.elder
        print(f"{PROG}: 注意 warning: 该号码是登记老人 {elder.name} ({elder.elder_id}) 的{whose}，"
              "来电仍按老人接听 (a registered elder's number: their calls are still taken)", file=sys.stderr)


def _print_list(conn: sqlite3.Connection) -> None:
    now = now_local()
    rows = []
    for entry in blacklist.entries(conn):
        expiry = "—" if entry.expires_at is None else _when(entry.expires_at)
        if entry.expired(now):
            expiry += " 已过期"
        rows.append((entry.number, ACTION_LABELS[entry.action], entry.reason or "", entry.added_by,
                     _when(entry.added_at), expiry, SOURCE_LABELS[entry.source],
                     str(blacklist.hits(conn, entry.number))))
    if not rows:
        print("黑名单为空 (the blacklist is empty)")
        return
    print(table(HEADERS, rows))
    print(f"共 {len(rows)} 条 ({len(rows)} entries)")


def _when(stamp: str) -> str:
    return datetime.fromisoformat(stamp).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")

