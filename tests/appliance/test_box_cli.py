import subprocess
import sys
from pathlib import Path


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "appliance.cli", *args], capture_output=True,
                          text=True, timeout=30)


def test_bad_key_exits_nonzero_naming_key_and_line(tmp_path: Path) -> None:
    cfg = tmp_path / "box.toml"
    cfg.write_text('[box]\nid = "box-1"\n\n[hub]\nmqtt_url = "mqtt://h:1883"\ntls = true\n')
    done = run("alarmd", "--config", str(cfg))
    assert done.returncode == 2
    assert f"{cfg}:6: hub.tls: unknown key" in done.stderr


def test_check_accepts_a_good_config(tmp_path: Path) -> None:
    cfg = tmp_path / "box.toml"
    cfg.write_text(f'[box]\nid = "box-1"\ndata_dir = "{tmp_path}"\n')
    done = run("all", "--config", str(cfg), "--check")
    assert done.returncode == 0 and "OK" in done.stdout
