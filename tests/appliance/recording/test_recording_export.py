"""`anxin-box recording export`: decrypt to WAV, audit first, refuse what is not intact."""

from __future__ import annotations

import errno
import sqlite3
import subprocess
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from appliance.recording import export, index
from appliance.recording.container import RecordingMeta, RecordingWriter
from appliance.recording.export import ExportError, export_recording
from appliance.recording.keys import Keyring, generate_key, write_keyring
from appliance.store import connect, open_store
from drivers.e1_card import g711

NOW = datetime(2025, 3, 2, 8, 0, tzinfo=UTC)
KEY = generate_key(3)
RING = Keyring([KEY])
LEFT = g711.tone((697.0,), 1.25, dbm0=-10)  # the caller
RIGHT = g711.tone((1633.0,), 1.25, dbm0=-15)  # the agent


@pytest.fixture
def box(tmp_path: Path) -> tuple[sqlite3.Connection, Path]:
    """box.db under tmp/data and one indexed recording 'r1' under tmp/data/recordings."""
    conn = open_store(tmp_path / "data")
    rec_dir = tmp_path / "data" / "recordings"
    rec_dir.mkdir()
    add_recording(conn, rec_dir / "r1.arec", "r1")
    return conn, rec_dir


def add_recording(conn: sqlite3.Connection, path: Path, rid: str, close: bool = True) -> None:
    started = NOW - timedelta(hours=1)
    index.add_recording(conn, recording_id=rid, kind="call", path=str(path), started_at=started,
                        key_id=KEY.key_id, call_id=f"call-{rid}", caller="13912345678", agent="801")
    writer = RecordingWriter(path, KEY, RecordingMeta(f"call-{rid}", started, chunk_frames=4000))
    for i in range(0, len(LEFT), 160):
        writer.write(LEFT[i:i + 160], RIGHT[i:i + 160])
    if close:
        writer.close()
        index.finish_recording(conn, rid, duration_s=writer.duration_s, size=writer.size, at=NOW)
    else:
        writer.abort()


def run_export(conn: sqlite3.Connection, out: Path, rid: str = "r1", **kw: object) -> export.ExportResult:
    args: dict = {"user": "王班长", "reason": "投诉工单 C-2025-017", "clock": lambda: NOW, **kw}
    return export_recording(conn, RING, rid, out, **args)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".partial"))


def test_alaw_wav_is_read_by_sox_with_each_side_on_its_channel(box, tmp_path: Path) -> None:
    conn, _ = box
    out = tmp_path / "r1.wav"
    result = run_export(conn, out)
    assert result.duration_s == pytest.approx(1.25) and result.truncation is None
    info = subprocess.run(["sox", "--i", str(out)], capture_output=True, text=True, check=True).stdout
    assert "Channels       : 2" in info and "Sample Rate    : 8000" in info
    assert "A-law" in info and "00:00:01.25" in info
    # sox decodes the A-law itself: the independent check of the bytes and the channel order
    raw = subprocess.run(["sox", str(out), "-t", "raw", "-e", "signed", "-b", "16", "-L", "-"],
                         capture_output=True, check=True).stdout
    samples = np.frombuffer(raw, dtype="<i2").reshape(-1, 2)
    assert samples[:, 0].tolist() == list(g711.alaw_to_linear(LEFT))
    assert samples[:, 1].tolist() == list(g711.alaw_to_linear(RIGHT))


def test_pcm16_wav_is_read_by_the_wave_module(box, tmp_path: Path) -> None:
    conn, _ = box
    out = tmp_path / "r1-pcm.wav"
    run_export(conn, out, fmt="pcm16")
    with wave.open(str(out), "rb") as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (2, 8000, 2)
        assert wav.getnframes() == len(LEFT)
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    assert frames[:, 0].tolist() == list(g711.alaw_to_linear(LEFT))
    assert frames[:, 1].tolist() == list(g711.alaw_to_linear(RIGHT))
    assert out.stat().st_mode & 0o077 == 0  # plaintext personal data: owner only


def test_the_audit_row_is_committed_before_any_plaintext(box, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    conn, _ = box
    out = tmp_path / "r1.wav"
    seen: list[tuple] = []
    real = export.write_wav

    def spy(f, chunks, fmt):
        other = connect(tmp_path / "data" / "box.db")  # another process's view: committed rows only
        seen.append(tuple(other.execute("SELECT exported_by, outcome FROM recording_exports").fetchall()[0]))
        other.close()
        seen.append((out.exists(),))
        return real(f, chunks, fmt)

    monkeypatch.setattr(export, "write_wav", spy)
    result = run_export(conn, out)
    assert seen == [("王班长", None), (False,)]
    (row,) = index.export_log(conn, recording_id="r1")
    assert (row.export_id, row.outcome, row.format) == (result.export_id, "ok", "alaw")
    assert row.out_path == str(out)
    assert row.reason == "投诉工单 C-2025-017" and row.detail == "1.25 s"


def test_a_tampered_recording_is_refused_with_the_reason_and_logged(box, tmp_path: Path) -> None:
    conn, rec_dir = box
    path = rec_dir / "r1.arec"
    data = bytearray(path.read_bytes())
    data[-30] ^= 0x04  # inside the final chunk
    path.write_bytes(bytes(data))
    out = tmp_path / "r1.wav"
    with pytest.raises(ExportError, match="拒绝导出.*tampered: chunk 2"):
        run_export(conn, out)
    assert not out.exists() and leftovers(tmp_path) == []
    (row,) = index.export_log(conn)
    assert row.outcome == "refused" and "tampered" in (row.detail or "")


def test_a_cut_recording_is_refused_unless_asked_and_then_marked(box, tmp_path: Path) -> None:
    conn, rec_dir = box
    add_recording(conn, rec_dir / "cut.arec", "cut", close=False)  # power cut during the call
    with pytest.raises(ExportError, match="仍在录制中"):
        run_export(conn, tmp_path / "a.wav", rid="cut")  # the row says pbxd is still writing it
    assert index.mark_interrupted(conn) == ["cut"]
    with pytest.raises(ExportError, match="truncated after 1.0 s"):
        run_export(conn, tmp_path / "a.wav", rid="cut")
    result = run_export(conn, tmp_path / "b.wav", rid="cut", allow_truncated=True)
    assert result.truncation is not None and result.duration_s == pytest.approx(1.0)
    with wave.open(str(run_export(conn, tmp_path / "c.wav", rid="cut", allow_truncated=True,
                                  fmt="pcm16").out_path)) as wav:
        assert wav.getnframes() == 8000
    outcomes = [r.outcome for r in index.export_log(conn, recording_id="cut")]
    assert outcomes == ["refused", "truncated", "truncated"]  # "still recording" is checked before the audit


def test_a_wav_that_cannot_be_written_still_leaves_its_audit_row(box, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    conn, _ = box

    def full_disk(f, chunks, fmt):
        f.write(b"RIFF")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(export, "write_wav", full_disk)
    with pytest.raises(ExportError, match="导出失败.*No space left"):
        run_export(conn, tmp_path / "r1.wav")
    assert not (tmp_path / "r1.wav").exists() and leftovers(tmp_path) == []
    (row,) = index.export_log(conn)
    assert row.outcome == "failed" and "No space left" in (row.detail or "")


def test_an_interrupted_export_leaves_an_open_audit_row_and_no_plaintext(
        box, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conn, _ = box

    def interrupted(f, chunks, fmt):
        f.write(next(iter(chunks)))
        raise KeyboardInterrupt

    monkeypatch.setattr(export, "write_wav", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_export(conn, tmp_path / "r1.wav")
    assert leftovers(tmp_path) == [] and not (tmp_path / "r1.wav").exists()
    (row,) = index.export_log(conn)
    assert row.outcome is None  # "started, never finished": visible to whoever audits


def test_checks_before_the_audit_leave_no_row(box, tmp_path: Path) -> None:
    conn, _ = box
    (tmp_path / "exists.wav").write_bytes(b"mine")
    with pytest.raises(ExportError, match="操作人"):
        run_export(conn, tmp_path / "a.wav", user=" ")
    with pytest.raises(ExportError, match="原因"):
        run_export(conn, tmp_path / "a.wav", reason="")
    with pytest.raises(ExportError, match="不会覆盖"):
        run_export(conn, tmp_path / "exists.wav")
    with pytest.raises(ExportError, match="目录不存在"):
        run_export(conn, tmp_path / "nodir" / "a.wav")
    with pytest.raises(index.RecordingIndexError, match="没有这条录音"):
        run_export(conn, tmp_path / "a.wav", rid="nope")
    index.mark_deleted(conn, "r1", at=NOW, reason="max_age")
    with pytest.raises(ExportError, match="已按保留规则删除"):
        run_export(conn, tmp_path / "a.wav")
    assert (tmp_path / "exists.wav").read_bytes() == b"mine"
    assert index.export_log(conn) == []


def test_wrong_key_is_refused_and_logged(box, tmp_path: Path) -> None:
    conn, _ = box
    times = iter([NOW, NOW + timedelta(seconds=5)])
    with pytest.raises(ExportError, match="wrong key"):
        export_recording(conn, Keyring([generate_key(3)]), "r1", tmp_path / "a.wav", user="x",
                         reason="y", clock=lambda: next(times))
    (row,) = index.export_log(conn)
    assert row.outcome == "refused"
    assert (row.at[11:19], (row.finished_at or "")[11:19]) == ("16:00:00", "16:00:05")  # Shanghai time


# --- the command -----------------------------------------------------------------------

def setup_box(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "box.toml"
    config.write_text(f'[box]\nid = "xa-test-01"\ndata_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    keys = tmp_path / "secrets" / "recording-keys.toml"
    keys.parent.mkdir()
    write_keyring(keys, RING)
    return config, keys


def test_command_exports_and_says_so(box, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config, keys = setup_box(tmp_path)
    out = tmp_path / "r1.wav"
    code = export.main(["export", "r1", "--config", str(config), "--keys-file", str(keys), "--out", str(out),
                        "--user", "李主任", "--reason", "C-9"])
    assert code == 0, capsys.readouterr().err
    assert "已导出" in capsys.readouterr().out and out.exists()
    conn, _ = box
    assert [(r.exported_by, r.outcome) for r in index.export_log(conn)] == [("李主任", "ok")]


def test_command_exit_codes(box, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config, keys = setup_box(tmp_path)
    base = ["--config", str(config), "--user", "x", "--reason", "y"]
    keyed = [*base, "--keys-file", str(keys), "--out", str(tmp_path / "a.wav")]
    assert export.main(["export", "r1", *base, "--out", str(tmp_path / "a.wav")]) == 2
    assert "no recording keys file" in capsys.readouterr().err
    assert export.main(["export", "nope", *keyed]) == 2
    assert "没有这条录音" in capsys.readouterr().err
    keys.chmod(0o644)
    assert export.main(["export", "r1", *keyed]) == 2
    assert "chmod 600" in capsys.readouterr().err
    keys.chmod(0o600)
    conn, rec_dir = box
    (rec_dir / "r1.arec").write_bytes((rec_dir / "r1.arec").read_bytes()[:-1])
    assert export.main(["export", "r1", *keyed]) == 1
    assert "truncated" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        export.main(["export", "r1", "--config", str(config), "--out", "x.wav"])  # --user is required
