"""Mandarin prompts through the real espeak-ng and sox: format, duration, level, recordings win."""

import json
import math
import struct
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from appliance.ivr.flows import load_default_ivr
from appliance.ivr.prompts import (
    DEFAULT_PROMPTS,
    DEFAULT_VOICE,
    MANIFEST,
    PromptError,
    check_prompts,
    find_prompt,
    generate_prompts,
    install_recording,
    parse_wav,
    prompt_problem,
    read_prompt,
)
from drivers.e1_card.g711 import DECODE

TEXTS = {"welcome": DEFAULT_PROMPTS["welcome"], "survey_thanks": DEFAULT_PROMPTS["survey_thanks"]}


def linear(alaw: bytes) -> np.ndarray:
    return np.asarray(DECODE, dtype=np.float64)[np.frombuffer(alaw, dtype=np.uint8)]


def frame_levels_dbfs(alaw: bytes) -> np.ndarray:
    """RMS per 20 ms frame, dB below a full-scale 16-bit sine."""
    x = linear(alaw)
    frames = x[: len(x) // 160 * 160].reshape(-1, 160)
    rms = np.sqrt((frames ** 2).mean(axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-9) / (32768 / math.sqrt(2)))


def write_alaw_wav(path: Path, samples: bytes) -> None:
    fmt = struct.pack("<HHIIHHH", 6, 1, 8000, 8000, 1, 8, 0)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(samples))
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body) + len(samples)) + body + samples)


def write_pcm_wav(path: Path, rate: int = 44100, seconds: float = 0.5, channels: int = 1) -> None:
    n = int(rate * seconds)
    tone = (8000 * np.sin(2 * np.pi * 1000 * np.arange(n) / rate)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.repeat(tone, channels).tobytes())


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("prompts")
    return out, generate_prompts(TEXTS, out)


@pytest.mark.timeout(60)
def test_espeak_prompts_are_8khz_mono_alaw_speech(generated: tuple[Path, object]) -> None:
    out, report = generated
    assert sorted(report.generated) == ["survey_thanks", "welcome"]
    durations = {}
    for name in TEXTS:
        path = out / f"{name}.wav"
        info = parse_wav(path.read_bytes(), str(path))
        assert (info.format_tag, info.channels, info.rate, info.bits) == (6, 1, 8000, 8)
        alaw = read_prompt(path)
        durations[name] = len(alaw) / 8000
        levels = frame_levels_dbfs(alaw)
        # Speech, not silence: most 20 ms frames carry voice well above the noise floor,
        # and the peak was normalised to about -3 dBFS.
        assert (levels > -40).mean() > 0.5, name
        peak = 20 * np.log10(np.abs(linear(alaw)).max() / 32768)
        assert -5.5 < peak <= 0.0, (name, peak)
    # 14 syllables of welcome vs 6 of 谢谢您的评价，再见: plausible lengths, welcome the longer.
    assert 2.0 < durations["welcome"] < 10.0 and 1.0 < durations["survey_thanks"] < 5.0
    assert durations["welcome"] > durations["survey_thanks"]
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))["prompts"]
    assert manifest["welcome"]["text"] == TEXTS["welcome"] and manifest["welcome"]["voice"] == DEFAULT_VOICE


def test_the_voice_speaks_mandarin_not_english_pinyin() -> None:
    # espeak-ng 1.51's plain "cmn" voice switches to English for the pinyin it makes of each
    # character ("(en)" in the phonemes: 好 → "hao three"); the default voice must not.
    text = DEFAULT_PROMPTS["main_menu"]
    phonemes = subprocess.run(["espeak-ng", "-v", DEFAULT_VOICE, "-q", "-x", text], capture_output=True,
                              text=True, check=True, timeout=30).stdout
    assert "(en)" not in phonemes and "'a51n" in phonemes  # 按 àn, falling tone 51
    assert "j'i55" in phonemes and "l'i35N" in phonemes   # 1 → yī, 0 → líng


def test_second_run_changes_nothing(generated: tuple[Path, object]) -> None:
    out, _ = generated
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.wav")}
    report = generate_prompts(TEXTS, out)
    assert report.generated == [] and sorted(report.unchanged) == sorted(TEXTS)
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.wav")} == before


@pytest.mark.timeout(60)
def test_raw_alaw_format(tmp_path: Path) -> None:
    report = generate_prompts({"goodbye": "再见。"}, tmp_path, fmt="raw")
    assert report.generated == ["goodbye"] and find_prompt("goodbye", tmp_path) == tmp_path / "goodbye.alaw"
    alaw = read_prompt(tmp_path / "goodbye.alaw")
    assert 0.3 < len(alaw) / 8000 < 3.0 and (frame_levels_dbfs(alaw) > -40).any()
    assert not (tmp_path / "goodbye.wav").exists() and not list(tmp_path.glob(".gen-*"))


@pytest.mark.timeout(60)
def test_a_recording_is_never_overwritten(tmp_path: Path) -> None:
    recorded = bytes(range(256)) * 20
    write_alaw_wav(tmp_path / "welcome.wav", recorded)
    report = generate_prompts({"welcome": TEXTS["welcome"], "goodbye": "再见。"}, tmp_path, overwrite=True)
    assert report.recorded == ["welcome"] and report.generated == ["goodbye"]
    assert read_prompt(tmp_path / "welcome.wav") == recorded
    first = (tmp_path / "goodbye.wav").read_bytes()
    # A changed text regenerates the prompt we made ourselves …
    report = generate_prompts({"goodbye": "谢谢，再见。"}, tmp_path)
    assert report.generated == ["goodbye"] and (tmp_path / "goodbye.wav").read_bytes() != first
    # … until someone records over it: then it is theirs, whatever the flags.
    write_alaw_wav(tmp_path / "goodbye.wav", recorded)
    report = generate_prompts({"goodbye": "再见。"}, tmp_path, overwrite=True)
    assert report.recorded == ["goodbye"] and read_prompt(tmp_path / "goodbye.wav") == recorded


def test_missing_tools_and_bad_voice_are_clear_errors(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # espeak-ng itself would speak "no-such-voice" as Norwegian without complaint.
    with pytest.raises(PromptError, match="espeak-ng has no voice 'no-such-voice'"):
        generate_prompts({"x": "你好"}, tmp_path, voice="no-such-voice")
    assert find_prompt("x", tmp_path) is None  # nothing half-written is left behind
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PromptError, match=r"espeak-ng not found on PATH: install the Debian package"):
        generate_prompts({"x": "你好"}, tmp_path)
    with pytest.raises(PromptError, match="sox not found"):
        write_pcm_wav(tmp_path / "in.wav")
        install_recording(tmp_path / "in.wav", "x", tmp_path)


@pytest.mark.parametrize(("texts", "words"), [
    ({"Welcome": "你好"}, "must match"),
    ({"../etc": "你好"}, "must match"),
    ({"welcome": "  "}, "empty"),
])
def test_bad_names_and_texts(tmp_path: Path, texts: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        generate_prompts(texts, tmp_path)
    with pytest.raises(ValueError, match="fmt"):
        generate_prompts({"a": "你好"}, tmp_path, fmt="mp3")


def test_check_prompts_lists_missing_and_unplayable(tmp_path: Path) -> None:
    flow = load_default_ivr().flow
    assert check_prompts(flow, tmp_path) == sorted(flow.prompts())
    for name in flow.prompts():
        write_alaw_wav(tmp_path / f"{name}.wav", b"\xd5" * 400)
    assert check_prompts(flow, tmp_path) == []
    write_pcm_wav(tmp_path / "welcome.wav", rate=44100, channels=2)
    assert check_prompts(flow, tmp_path) == ["welcome"]
    problem = prompt_problem("welcome", tmp_path)
    assert problem is not None and "44100 Hz 2 channels 16-bit PCM" in problem and "convert: sox" in problem
    assert check_prompts(["welcome", "goodbye"], tmp_path) == ["goodbye", "welcome"]


def test_read_prompt_tolerates_an_unpatched_data_size(tmp_path: Path) -> None:
    path = tmp_path / "cut.wav"
    write_alaw_wav(path, b"\x55" * 1000)
    data = bytearray(path.read_bytes())
    data[data.index(b"data") + 4:data.index(b"data") + 8] = struct.pack("<I", 0xFFFFFFFF)
    path.write_bytes(bytes(data))
    assert len(read_prompt(path)) == 1000
    with pytest.raises(PromptError, match="not a WAV file"):
        parse_wav(b"OggS" + bytes(40), "x.wav")


@pytest.mark.timeout(60)
def test_install_recording_converts_and_then_wins(tmp_path: Path) -> None:
    source = tmp_path / "studio.wav"
    write_pcm_wav(source, rate=16000, seconds=0.5, channels=2)
    prompts = tmp_path / "prompts"
    target = install_recording(source, "welcome", prompts)
    assert target == prompts / "welcome.wav"
    assert abs(len(read_prompt(target)) - 4000) <= 8  # 0.5 s at 8 kHz
    assert prompt_problem("welcome", prompts) is None
    before = target.read_bytes()
    assert generate_prompts({"welcome": TEXTS["welcome"]}, prompts, overwrite=True).recorded == ["welcome"]
    assert target.read_bytes() == before
    with pytest.raises(PromptError, match="no such file"):
        install_recording(tmp_path / "missing.wav", "welcome", prompts)
    (tmp_path / "junk.wav").write_bytes(b"not audio at all")
    with pytest.raises(PromptError, match=r"recording .*junk\.wav: sox exited with \d+: .*"):
        install_recording(tmp_path / "junk.wav", "welcome", prompts)
    assert target.read_bytes() == before  # a failed conversion leaves the old prompt in place
