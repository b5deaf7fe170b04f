"""Runs each fuzz target for a bounded number of inputs (CI-sized; longer runs by hand)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).with_name("fuzz_alarm_parsers.py")
ROOT = Path(__file__).parents[2]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("target", ["surgard", "ademco685", "dc09", "usb"])
def test_fuzz_target_finds_nothing(target: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(HARNESS), target, "-runs=30000", "-max_len=512", "-timeout=5",
         "-seed=1", f"-artifact_prefix={tmp_path}/"],
        capture_output=True, text=True, timeout=280,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Done 30000 runs" in done.stderr
