"""Music on hold: WAV formats accepted and refused (with sox-made files), the loop, positions per channel."""

from __future__ import annotations

import shutil
import struct
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from appliance.media import MediaError, g711
from appliance.media.dsp import rms_dbm0
from appliance.media.music import (
    MusicFileError,
    MusicOnHold,
    MusicTrack,
    load_playlist,
    load_track,
    read_wav,
)

SOX = shutil.which("sox") or "/usr/bin/sox"


def write_pcm(path: Path, samples: np.ndarray, rate: int = 8000, channels: int = 1) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.astype("<i2").tobytes())
    return path


def write_riff(path: Path, fmt: bytes, data: bytes, extra: bytes = b"") -> Path:
    """A WAV built by hand: fmt chunk FMT, then EXTRA chunks, then the data chunk."""
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra
    body += b"data" + struct.pack("<I", len(data)) + data + (b"\0" if len(data) & 1 else b"")
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def fmt_chunk(tag: int, channels: int = 1, rate: int = 8000, bits: int = 8) -> bytes:
    block = channels * bits // 8
    return struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)


def sox(*args: str) -> None:
    subprocess.run([SOX, *args], check=True, capture_output=True)


def melody(samples: int = 4000) -> np.ndarray:
    t = np.arange(samples)
    return np.rint(8000 * np.sin(2 * np.pi * 440 * t / 8000) + 3000 * np.sin(2 * np.pi * 660 * t / 8000))


def test_pcm16_reads_back_exactly(tmp_path: Path) -> None:
    samples = melody().astype(np.int16)
    assert (read_wav(write_pcm(tmp_path / "a.wav", samples)) == samples).all()


def test_alaw_wav_with_a_fact_chunk_and_an_odd_sized_chunk(tmp_path: Path) -> None:
    codes = g711.linear_to_alaw(melody(801))
    fmt = fmt_chunk(6) + b"\0\0"  # 18-byte fmt with cbSize, as sox and Windows write
    extra = b"fact" + struct.pack("<II", 4, 801) + b"LIST" + struct.pack("<I", 3) + b"abc\0"
    path = write_riff(tmp_path / "a.wav", fmt, codes.tobytes(), extra)
    assert (read_wav(path) == g711.alaw_to_linear(codes)).all()


def test_extensible_pcm_is_read(tmp_path: Path) -> None:
    samples = melody(160).astype(np.int16)
    guid = struct.pack("<H", 1) + bytes.fromhex("000000001000800000aa00389b71")
    fmt = fmt_chunk(0xFFFE, bits=16) + struct.pack("<HHI", 22, 16, 4) + guid
    path = write_riff(tmp_path / "x.wav", fmt, samples.astype("<i2").tobytes())
    assert (read_wav(path) == samples).all()


@pytest.mark.parametrize("encoding", [["-e", "a-law"], ["-e", "u-law"], ["-b", "8", "-e", "unsigned"]])
def test_sox_files_decode_as_sox_decodes_them(tmp_path: Path, encoding: list[str]) -> None:
    source = write_pcm(tmp_path / "src.wav", melody().astype(np.int16))
    coded, back = tmp_path / "coded.wav", tmp_path / "back.wav"
    sox("-D", str(source), *encoding, str(coded))
    sox(str(coded), "-b", "16", "-e", "signed-integer", str(back))
    ours = read_wav(coded)
    assert len(ours) == 4000
    assert (ours == read_wav(back)).all()


def test_wrong_rate_and_channels_are_refused_with_the_fix(tmp_path: Path) -> None:
    path = write_pcm(tmp_path / "cd.wav", np.zeros(882, dtype=np.int16), rate=44100, channels=2)
    with pytest.raises(MusicFileError) as caught:
        read_wav(path)
    message = str(caught.value)
    assert str(path) in message and "44100 Hz (need 8000 Hz)" in message
    assert "2 channels (need mono)" in message and "sox" in message


def test_float_wav_from_sox_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "float.wav"
    sox("-n", "-r", "8000", "-c", "1", "-e", "floating-point", str(path), "synth", "0.1", "sine", "440")
    with pytest.raises(MusicFileError, match="IEEE float"):
        read_wav(path)


@pytest.mark.parametrize(("content", "problem"), [
    (b"ID3\x03" + b"\0" * 100, "not a WAV file"),
    (b"RIFF\x04\0\0\0WAVE", "no fmt chunk"),
])
def test_not_wav_files(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "music.wav"
    path.write_bytes(content)
    with pytest.raises(MusicFileError, match=problem):
        read_wav(path)


def test_truncated_and_empty_files(tmp_path: Path) -> None:
    full = write_riff(tmp_path / "cut.wav", fmt_chunk(6), bytes(1000)).read_bytes()
    (tmp_path / "cut.wav").write_bytes(full[:-100])
    with pytest.raises(MusicFileError, match="cut short"):
        read_wav(tmp_path / "cut.wav")
    with pytest.raises(MusicFileError, match="no audio"):
        read_wav(write_riff(tmp_path / "empty.wav", fmt_chunk(6), b""))
    with pytest.raises(MusicFileError, match="not whole samples"):
        read_wav(write_riff(tmp_path / "odd.wav", fmt_chunk(1, bits=16), bytes(3)))
    with pytest.raises(MusicFileError, match="cannot read"):
        read_wav(tmp_path / "missing.wav")


def test_playlist_from_a_directory_in_name_order(tmp_path: Path) -> None:
    write_pcm(tmp_path / "2-second.wav", np.full(100, 2, dtype=np.int16))
    write_pcm(tmp_path / "1-first.wav", np.full(100, 1, dtype=np.int16))
    (tmp_path / "notes.txt").write_text("not music")
    tracks = load_playlist(tmp_path)
    assert [t.path.name for t in tracks] == ["1-first.wav", "2-second.wav"]
    assert tracks[0].seconds == pytest.approx(100 / 8000)
    with pytest.raises(ValueError):
        tracks[0].samples[0] = 5  # decoded music is shared by every channel: read-only


def test_an_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(MusicFileError, match="no .wav files"):
        load_playlist(tmp_path)


def track_of(samples: np.ndarray) -> MusicTrack:
    return MusicTrack(Path("t.wav"), samples.astype(np.int16))


def test_the_loop_wraps_exactly() -> None:
    music = np.arange(1, 1001, dtype=np.int16)  # 1000 samples: not a whole number of frames
    hold = MusicOnHold([track_of(music)], channels=1, fade_ms=0)
    hold.play(0)
    out = np.concatenate([hold.next_frames()[0] for _ in range(20)])
    assert (out == np.resize(music, 3200)).all()
    assert hold.position(0) == 3200 % 1000


def test_each_channel_has_its_own_place_and_resumes_after_hold() -> None:
    music = np.arange(1, 3001, dtype=np.int16)
    hold = MusicOnHold([track_of(music)], channels=3, fade_ms=0)
    hold.play(0)
    for _ in range(3):
        hold.next_frames()
    hold.play(2)
    tick = hold.next_frames()
    assert tick[0, 0] == 481 and tick[2, 0] == 1  # channel 2 starts at the top
    assert not tick[1].any()  # not on hold: silence
    hold.stop(0)
    hold.next_frames()
    hold.play(0)
    assert hold.next_frames()[0, 0] == 641  # on again: where it left off
    hold.play(0, restart=True)
    assert hold.next_frames()[0, 0] == 1
    hold.reset(2)
    assert not hold.playing(2) and hold.position(2) == 0


def test_tracks_are_laid_end_to_end_with_faded_seams() -> None:
    first, second = np.full(800, 10000, dtype=np.int16), np.full(800, -10000, dtype=np.int16)
    hold = MusicOnHold([track_of(first), track_of(second)], channels=1, fade_ms=10)
    assert hold.loop_samples == 1600
    loop = hold.loop
    assert abs(int(loop[0])) < 200 and abs(int(loop[799])) < 200 and abs(int(loop[800])) < 200
    assert loop[400] == 10000 and loop[1200] == -10000
    # No click: without the fades the seam would jump by 20000; with them by two ramp steps.
    assert np.abs(np.diff(loop.astype(int))).max() <= 2 * 10000 // 80


def test_gain_is_applied_once_at_load(tmp_path: Path) -> None:
    track = load_track(write_pcm(tmp_path / "m.wav", melody(8000).astype(np.int16)))
    hold = MusicOnHold([track], channels=1, gain_db=-6.0, fade_ms=0)
    assert float(rms_dbm0(hold.loop)) == pytest.approx(float(rms_dbm0(track.samples)) - 6.0, abs=0.05)


def test_bad_arguments() -> None:
    with pytest.raises(MediaError, match="no tracks"):
        MusicOnHold([], channels=1)
    hold = MusicOnHold([track_of(np.ones(10))], channels=2)
    with pytest.raises(MediaError, match="no channel 2"):
        hold.play(2)
