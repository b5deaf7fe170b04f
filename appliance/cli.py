"""`anxin-box DAEMON --config PATH` (CONTRACTS §1)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from appliance.config import ConfigError, load_config
from appliance.logs import setup_logging
from appliance.store import StoreError

# pbxd and console arrive with the telephony and console issues; `all` runs what exists.
DAEMONS = ("alarmd", "syncd")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="anxin-box", description="Run an Anxin box daemon.",
        epilog="Also: anxin-box import-registry --config PATH FILE.csv (residents and devices)")
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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["import-registry"]:
        return import_registry(argv[1:])
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
        else:
            from appliance.sync.syncd import Syncd
            daemon = Syncd(config)
        return run(daemon)
    except (StoreError, ValueError) as exc:
        print(f"anxin-box {args.daemon}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
