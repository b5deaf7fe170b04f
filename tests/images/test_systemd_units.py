import configparser
import shlex
from pathlib import Path

import pytest

from appliance.cli import DAEMONS, build_parser

UNITS = sorted((Path(__file__).parents[2] / "images" / "systemd").glob("anxin-*.service"))


def test_there_is_one_unit_per_daemon() -> None:
    assert sorted(u.stem.removeprefix("anxin-") for u in UNITS) == sorted(DAEMONS)


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_unit_is_notify_with_watchdog_and_a_valid_command(unit: Path) -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(unit, encoding="utf-8")
    service = parser["Service"]
    assert service["Type"] == "notify"
    assert int(service["WatchdogSec"]) > 0
    assert service["Restart"] == "always"
    argv = shlex.split(service["ExecStart"])
    assert argv[0].endswith("/anxin-box")
    args = build_parser().parse_args(argv[1:])  # the command line the CLI really accepts
    assert args.daemon == unit.stem.removeprefix("anxin-")
    assert str(args.config) == "/etc/anxin/box.toml"
