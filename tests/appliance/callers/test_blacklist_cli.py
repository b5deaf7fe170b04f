from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from appliance.callers.cli import main
from appliance.store import fetch_batch, open_store


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "box.toml"
    path.write_text(f'[box]\nid = "box-1"\ndata_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    return path


def test_add_list_remove(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["add", "+86 138-0013-8000", "--reason", "推销电话", "--by", "班长李",
                 "--config", str(config)]) == 0
    assert "已加入黑名单 added 13800138000 (拒接 reject)" in capsys.readouterr().out
    assert main(["--config", str(config), "add", "029-88881234", "--action", "announce", "--days", "30",
                 "--by", "王"]) == 0
    assert "到期 until" in capsys.readouterr().out
    assert main(["list", "--config", str(config)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["号码", "处理", "原因", "添加人", "添加时间", "到期", "来源", "拦截次数"]
    rows = {line.split()[0]: line for line in out[2:-1]}
    assert set(rows) == {"13800138000", "02988881234"} and out[-1].startswith("共 2 条")
    assert "推销电话" in rows["13800138000"] and "班长李" in rows["13800138000"]
    assert "放音 announce" in rows["02988881234"] and "本机 box" in rows["02988881234"]
    # Columns line up although Chinese characters take two cells: every row starts its
    # 处理 column at the same display offset.
    assert rows["13800138000"].index("拒接") == rows["02988881234"].index("放音")
    assert main(["remove", "13800138000", "--by", "王", "--config", str(config)]) == 0
    assert "已移出黑名单 removed 13800138000" in capsys.readouterr().out
    conn = open_store(config.parent / "data")
    assert [(r.kind, r.body["op"]) for r in fetch_batch(conn, "bulk", 10)] == [
        ("blacklist", "add"), ("blacklist", "add"), ("blacklist", "remove")]
    assert [r.body["added_by"] for r in fetch_batch(conn, "bulk", 2)] == ["班长李", "王"]


def test_bad_input_exits_2_naming_the_field(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["add", "12ab", "--config", str(config)]) == 2
    assert "number: '12ab'" in capsys.readouterr().err
    assert main(["remove", "13800138000", "--config", str(config)]) == 2
    assert "not on the blacklist" in capsys.readouterr().err
    assert main(["add", "13800138000", "--days", "0", "--config", str(config)]) == 2
    assert "--days:" in capsys.readouterr().err
    assert main(["list"]) == 2
    assert "--config PATH is required" in capsys.readouterr().err
    with pytest.raises(SystemExit) as done:
        main(["add", "13800138000", "--action", "drop", "--config", str(config)])
    assert done.value.code == 2


def test_an_elders_number_is_added_with_a_warning(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conn = open_store(config.parent / "data")
    conn.execute("INSERT INTO elders (elder_id, name, phone, emergency_phone, updated_at) "
                 "VALUES ('E1', '王秀英', '029-88881234', '13900139000', 'x')")
    conn.close()
    assert main(["add", "13900139000", "--by", "李", "--config", str(config)]) == 0
    err = capsys.readouterr().err
    assert "王秀英 (E1) 的紧急联系电话" in err and "their calls are still taken" in err


def test_an_empty_list_says_so(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--config", str(config)]) == 0
    assert "黑名单为空" in capsys.readouterr().out


@pytest.mark.timeout(60)
def test_anxin_box_dispatches_blacklist(config: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "appliance.cli", "blacklist", "add", "13800138000",
                           "--by", "李", "--config", str(config)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    listed = subprocess.run([sys.executable, "-m", "appliance.cli", "blacklist", "list", "--config",
                             str(config)], capture_output=True, text=True, timeout=30)
    assert listed.returncode == 0 and "13800138000" in listed.stdout
