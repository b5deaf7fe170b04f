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


def test_import_registry_reports_count_or_the_bad_line(tmp_path: Path) -> None:
    cfg = tmp_path / "box.toml"
    cfg.write_text(f'[box]\nid = "box-1"\ndata_dir = "{tmp_path}"\n')
    good = tmp_path / "ok.csv"
    good.write_text("account,elder_id,name\n1001,E1,王秀英\n1002,E2,张建国\n", encoding="utf-8")
    done = run("import-registry", "--config", str(cfg), str(good))
    assert done.returncode == 0 and "imported 2 device(s)" in done.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("account,elder_id,name\n1001,E1,王秀英\n12,E2,张建国\n", encoding="utf-8")
    done = run("import-registry", "--config", str(cfg), str(bad))
    assert done.returncode == 2 and f"{bad}:3: account:" in done.stderr


def test_prompts_generate_makes_the_default_flow_playable(tmp_path: Path) -> None:
    from appliance.ivr.flows import load_default_ivr
    from appliance.ivr.prompts import parse_wav

    config = tmp_path / "box.toml"
    config.write_text(f'[box]\nid = "prompt-box-001"\ndata_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    cmd = [sys.executable, "-m", "appliance.cli", "prompts", "generate", "--config", str(config)]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    prompt_dir = tmp_path / "data" / "prompts"
    # Every prompt the embedded flows use now exists: the check at pbxd start passes.
    ivr = load_default_ivr(prompt_dir=prompt_dir)
    assert ivr.prompts() and all((prompt_dir / f"{name}.wav").exists() for name in ivr.prompts())
    info = parse_wav((prompt_dir / "main_menu.wav").read_bytes())
    assert (info.rate, info.channels) == (8000, 1)
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and " 0 generated" in again.stdout
