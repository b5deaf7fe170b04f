"""Mandarin prompts: generated with espeak-ng's Mandarin voice into 8 kHz mono A-law files.

A prompt is a name (``welcome``) and a file in the prompt directory: ``welcome.wav``
(WAVE_FORMAT_ALAW, 8000 Hz, mono) or ``welcome.alaw`` (headerless A-law). The media
engine plays the A-law bytes as they are, 160 per 20 ms frame, so nothing is converted
during a call.

Generation runs at install or build time, never on the call path::

    espeak-ng -v cmn-latn-pinyin -s 165 -f TEXT -w speech.wav   # 22.05 kHz 16-bit speech
    sox -D speech.wav -t wav -e a-law -c 1 -r 8000 welcome.wav gain -n -3

The voice is ``cmn-latn-pinyin``, not plain ``cmn``: in espeak-ng 1.51 (Debian 12) the
``cmn`` voice turns 好 into the pinyin ``hao3`` and then reads that Latin text as English,
"hao three" (espeak-ng issues #1236, #1370). ``cmn-latn-pinyin`` is the same Mandarin
voice reading Latin as pinyin, so the tone digits become tones. Our texts hold no Latin.
``-D`` keeps pauses digitally silent (no dither noise between words); ``gain -n -3``
normalises the peak to −3 dBFS so all prompts sound equally loud.

Recorded prompts win. A centre that records a human voice drops ``welcome.wav`` into the
prompt directory (or uses :func:`install_recording`, which converts any file sox reads).
The directory keeps a manifest, ``.generated.json``, of the files generation wrote and
their SHA-256; a file that is not in it, or no longer matches it, is a recording and is
never overwritten, not even with ``overwrite=True``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

SAMPLE_RATE = 8000
WAVE_FORMAT_PCM, WAVE_FORMAT_ALAW = 1, 6
EXTENSIONS = {"wav": ".wav", "raw": ".alaw"}
MANIFEST = ".generated.json"
PROMPT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
# espeak-ng's Mandarin at its default 175 words per minute is quick for elderly callers.
DEFAULT_SPEED = 165
DEFAULT_VOICE = "cmn-latn-pinyin"  # see the module docstring: plain "cmn" speaks English digits
TOOL_TIMEOUT = 60.0

# The default prompt set. Names are what flows refer to; a box config can override any
# text (the centre's own name in the welcome) or add prompts under [ivr.prompts].
DEFAULT_PROMPTS: dict[str, str] = {
    "welcome": "欢迎致电社区居家养老服务中心。",
    "recording_notice": "为了保证服务质量，您的通话将被录音。",
    "main_menu": "紧急求助请按1，咨询服务请按2，查询服务时间请按3，人工服务请按0。",
    "invalid": "输入有误，请重新输入。",
    "no_input": "对不起，没有收到您的按键，请重新选择。",
    "service_hours": "本中心的服务时间为周一至周五，上午八点至下午六点，法定节假日除外。"
                     "紧急求助二十四小时有人值守。",
    "to_emergency": "正在为您接通紧急求助专线，请不要挂机。",
    "to_agent": "正在为您转接服务人员，请稍候。不想等候的话，请按1，我们会按您排队的顺序给您回电。",
    "callback_confirm": "好的，轮到您时我们会给您回电，请挂机。再见。",
    "after_hours": "现在是非工作时间。紧急情况请按1，为您转接值班人员；留言请按2。",
    "to_duty": "正在为您转接值班人员，请稍候。",
    "duty_unreachable": "对不起，值班人员暂时无法接听。",
    "leave_message": "请在提示音后留言，留言完毕请按井号键，或直接挂机。",
    "message_saved": "您的留言已经收到，我们会尽快与您联系。再见。",
    "survey": "请对本次服务进行评价：满意请按1，不满意请按2，基本满意请按3。",
    "survey_thanks": "谢谢您的评价，再见。",
    "blocked": "对不起，您的来电暂时无法受理，再见。",
    "goodbye": "感谢您的来电，再见。",
    # The queue announcement, played as a sequence (appliance/ivr/number_speech.py):
    # number syllables, then the sentence parts around them.
    "num_0": "零", "num_1": "一", "num_2": "二", "num_3": "三", "num_4": "四",
    "num_5": "五", "num_6": "六", "num_7": "七", "num_8": "八", "num_9": "九",
    "num_liang": "两", "num_shi": "十", "num_bai": "百", "num_qian": "千", "num_many": "很多",
    "unit_minutes": "分钟",
    "duration_about": "约",
    "duration_under_minute": "不到一分钟",
    "duration_long": "较长",
    "queue_position_pre": "您前面还有",
    "queue_position_post": "位在排队",
    "queue_next": "您是下一位",
    "queue_wait_pre": "预计等待时间",
    "queue_please_wait": "请您耐心等候。",
}


class PromptError(RuntimeError):
    """A prompt could not be made or read; the message says which and why."""


class HasPrompts(Protocol):
    def prompts(self) -> set[str]: ...


@dataclass(frozen=True)
class WavInfo:
    format_tag: int
    channels: int
    rate: int
    bits: int
    data_offset: int
    data_length: int

    def is_prompt_format(self) -> bool:
        return (self.format_tag, self.channels, self.rate, self.bits) == (WAVE_FORMAT_ALAW, 1, SAMPLE_RATE, 8)

    def describe(self) -> str:
        kind = {WAVE_FORMAT_PCM: f"{self.bits}-bit PCM", WAVE_FORMAT_ALAW: "A-law"}.get(
            self.format_tag, f"format {self.format_tag}")
        return f"{self.rate} Hz {'mono' if self.channels == 1 else f'{self.channels} channels'} {kind}"


@dataclass
class GenerateReport:
    """What generate_prompts did, by prompt name."""

    generated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)   # generated earlier from the same text
    recorded: list[str] = field(default_factory=list)    # a recording is there: left alone


def parse_wav(data: bytes, source: str = "<wav>") -> WavInfo:
    """The fmt and data chunks of a RIFF/WAVE file (Python's `wave` reads PCM only)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise PromptError(f"{source}: not a WAV file")
    fmt: tuple[int, int, int, int] | None = None
    pos = 12
    while pos + 8 <= len(data):
        chunk, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if chunk == b"fmt " and size >= 16:
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", data, body)
            fmt = (tag, channels, rate, bits)
        elif chunk == b"data":
            if fmt is None:
                raise PromptError(f"{source}: data chunk before the fmt chunk")
            length = min(size, len(data) - body)  # a writer that died leaves size unpatched
            return WavInfo(*fmt, data_offset=body, data_length=length)
        pos = body + size + (size & 1)  # chunks are padded to an even length
    raise PromptError(f"{source}: no data chunk")


def _convert_hint(path: Path) -> str:
    return f"sox {path.name} -t wav -e a-law -c 1 -r 8000 {path.stem}.new.wav"


def read_prompt(path: str | Path) -> bytes:
    """The A-law samples of a prompt file (.wav in the prompt format, or raw .alaw)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PromptError(f"reading prompt {path}: {exc.strerror}") from exc
    if path.suffix == EXTENSIONS["raw"]:
        if not data:
            raise PromptError(f"{path}: empty")
        return data
    info = parse_wav(data, str(path))
    if not info.is_prompt_format():
        raise PromptError(f"{path}: {info.describe()}, a prompt must be 8000 Hz mono A-law "
                          f"(convert: {_convert_hint(path)})")
    if info.data_length == 0:
        raise PromptError(f"{path}: no audio")
    return data[info.data_offset:info.data_offset + info.data_length]


def find_prompt(name: str, prompt_dir: str | Path) -> Path | None:
    """The file of prompt NAME in PROMPT_DIR (.wav first, then .alaw), or None."""
    for ext in (EXTENSIONS["wav"], EXTENSIONS["raw"]):
        path = Path(prompt_dir) / f"{name}{ext}"
        if path.is_file():
            return path
    return None


def prompt_problem(name: str, prompt_dir: str | Path) -> str | None:
    """Why prompt NAME cannot be played from PROMPT_DIR, or None when it can."""
    path = find_prompt(name, prompt_dir)
    if path is None:
        return (f"no prompt file {name}.wav in {prompt_dir} (record one, or give its text "
                f"under [ivr.prompts] and generate the prompts)")
    try:
        read_prompt(path)
    except PromptError as exc:
        return str(exc)
    return None


def check_prompts(flow: HasPrompts | Iterable[str], prompt_dir: str | Path) -> list[str]:
    """Names of the prompts FLOW uses that are missing from PROMPT_DIR or unplayable, sorted."""
    names = flow.prompts() if hasattr(flow, "prompts") else set(flow)
    return sorted(name for name in names if prompt_problem(name, prompt_dir) is not None)


def _tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise PromptError(f"{name} not found on PATH: install the Debian package {package} "
                          f"(apt-get install {package})")
    return found


def _run(argv: list[str], what: str) -> None:
    try:
        result = subprocess.run(argv, capture_output=True, timeout=TOOL_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        raise PromptError(f"{what}: {Path(argv[0]).name} took longer than {TOOL_TIMEOUT:.0f} s") from exc
    except OSError as exc:
        raise PromptError(f"{what}: cannot run {argv[0]}: {exc.strerror}") from exc
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).decode("utf-8", "replace").strip()
        raise PromptError(f"{what}: {Path(argv[0]).name} exited with {result.returncode}: {detail}")


def _check_voice(espeak: str, voice: str) -> None:
    """espeak-ng silently falls back to another language for an unknown voice ("no-such"
    speaks Norwegian), and minimal builds lack the Mandarin data: ask it first."""
    try:
        result = subprocess.run([espeak, "--voices"], capture_output=True, timeout=TOOL_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PromptError(f"listing espeak-ng voices: {exc}") from exc
    known: set[str] = set()
    for line in result.stdout.decode("utf-8", "replace").splitlines()[1:]:
        columns = line.split()
        if len(columns) >= 5:  # Pty Language Age/Gender VoiceName File [Other languages]
            known.update({columns[1].lower(), columns[3].lower(), columns[4].lower(),
                          columns[4].rsplit("/", 1)[-1].lower()})
    if voice.lower() not in known:
        raise PromptError(f"espeak-ng has no voice {voice!r} (Mandarin is {DEFAULT_VOICE!r}; "
                          "is the espeak-ng-data package complete?)")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load_manifest(out_dir: Path) -> dict[str, dict[str, str | int]]:
    try:
        data = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        # Without the manifest every file counts as recorded: safe, nothing is overwritten.
        raise PromptError(f"{out_dir / MANIFEST}: unreadable ({exc}); delete it to regenerate") from exc
    prompts = data.get("prompts", {}) if isinstance(data, dict) else {}
    return prompts if isinstance(prompts, dict) else {}


def _save_manifest(out_dir: Path, manifest: Mapping[str, object]) -> None:
    tmp = out_dir / f"{MANIFEST}.tmp"
    tmp.write_text(json.dumps({"version": 1, "prompts": manifest}, ensure_ascii=False, indent=1,
                              sort_keys=True), encoding="utf-8")
    os.replace(tmp, out_dir / MANIFEST)


def _sox_output_args(fmt: str) -> list[str]:
    return ["-t", "wav" if fmt == "wav" else "raw", "-e", "a-law", "-c", "1", "-r", str(SAMPLE_RATE)]


def generate_prompts(texts: Mapping[str, str], out_dir: str | Path, overwrite: bool = False, *,
                     fmt: str = "wav", voice: str = DEFAULT_VOICE,
                     speed: int = DEFAULT_SPEED) -> GenerateReport:
    """Speak each of TEXTS (name → Mandarin text) into OUT_DIR/NAME.wav (or .alaw, fmt="raw").

    A prompt is (re)generated when its file is missing, or when generation wrote it and
    its text, voice or speed changed, or OVERWRITE is set. A recording in its place is
    never touched. Files appear atomically: a call never plays a half-written prompt.
    """
    if fmt not in EXTENSIONS:
        raise ValueError(f"fmt must be one of {', '.join(EXTENSIONS)}, not {fmt!r}")
    for name, text in texts.items():
        if not PROMPT_NAME.match(name):
            raise ValueError(f"prompt name {name!r} must match {PROMPT_NAME.pattern} (it is a file name)")
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"prompt {name!r}: the text is empty")
    out = Path(out_dir)
    espeak, sox = _tool("espeak-ng", "espeak-ng"), _tool("sox", "sox")
    _check_voice(espeak, voice)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PromptError(f"creating prompt directory {out}: {exc.strerror}") from exc
    manifest = _load_manifest(out)
    report = GenerateReport()
    for name, text in texts.items():
        target = out / f"{name}{EXTENSIONS[fmt]}"
        existing = find_prompt(name, out)
        entry = manifest.get(name)
        if existing is not None:
            ours = entry is not None and (entry.get("file"), entry.get("sha256")) == (
                existing.name, _sha256(existing))
            if not ours:
                report.recorded.append(name)
                manifest.pop(name, None)
                continue
            same = (entry.get("text"), entry.get("voice"), entry.get("speed")) == (text, voice, speed)
            if same and existing == target and not overwrite:
                report.unchanged.append(name)
                continue
        _speak(espeak, sox, text, voice, speed, fmt, target, f"prompt {name!r}")
        if existing is not None and existing != target:
            existing.unlink()  # our own file in the other format: one file per prompt
        manifest[name] = {"file": target.name, "sha256": _sha256(target), "text": text,
                          "voice": voice, "speed": speed}
        report.generated.append(name)
        _save_manifest(out, manifest)  # after each file: an interrupted run loses nothing
    _save_manifest(out, manifest)
    return report


def _speak(espeak: str, sox: str, text: str, voice: str, speed: int, fmt: str, target: Path,
           what: str) -> None:
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".gen-") as tmp:
        # The text goes through a file, not argv: a text starting with "-" is not an option.
        text_file, speech = Path(tmp) / "text.txt", Path(tmp) / "speech.wav"
        text_file.write_text(text, encoding="utf-8")
        _run([espeak, "-v", voice, "-s", str(speed), "-f", str(text_file), "-w", str(speech)], what)
        result = Path(tmp) / target.name
        _run([sox, "-D", str(speech), *_sox_output_args(fmt), str(result), "gain", "-n", "-3"], what)
        os.replace(result, target)


def install_recording(source: str | Path, name: str, prompt_dir: str | Path) -> Path:
    """Convert a recorded file (any format sox reads) into prompt NAME; it then wins for good."""
    if not PROMPT_NAME.match(name):
        raise ValueError(f"prompt name {name!r} must match {PROMPT_NAME.pattern}")
    source, out = Path(source), Path(prompt_dir)
    if not source.is_file():
        raise PromptError(f"recording {source}: no such file")
    sox = _tool("sox", "sox")
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{name}.wav"
    with tempfile.TemporaryDirectory(dir=out, prefix=".rec-") as tmp:
        result = Path(tmp) / target.name
        # Mix down to mono, no loudness change: a studio recording is already levelled.
        _run([sox, "-D", str(source), *_sox_output_args("wav"), str(result)], f"recording {source}")
        os.replace(result, target)
    raw = out / f"{name}{EXTENSIONS['raw']}"
    raw.unlink(missing_ok=True)  # .wav is found first anyway; do not leave a stale twin
    manifest = _load_manifest(out)
    if manifest.pop(name, None) is not None:
        _save_manifest(out, manifest)
    return target
