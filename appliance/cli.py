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
    p = argparse.ArgumentParser(prog="anxin-box", description="Run an Anxin box daemon.")
    p.add_argument("daemon", choices=[*DAEMONS, "all"], help="which daemon to run")
    p.add_argument("--config", required=True, type=Path, help="box config (TOML)")
    p.add_argument("--check", action="store_true",
                   help="validate the config and exit (0 = valid)")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                   help="override [log] level")
    return p


def main(argv: list[str] | None = None) -> int:
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
