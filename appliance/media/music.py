"""Music on hold (放松音乐) from WAV files, looped, each channel at its own place in the loop.

The music is whatever the centre likes its callers to hear while they wait — often calm
instrumental pieces (放松音乐). Files are read once, when pbxd starts (never during a
tick), and must already be telephone audio: **8 kHz, mono**, as 16-bit or 8-bit PCM,
A-law or µ-law WAV. Anything else is refused with a message that says what the file is
and the sox command that converts it — resampling at start would hide a 44.1 kHz stereo
file that costs 11× the memory and sounds no better on a phone line.

The tracks of a playlist are laid end to end into one loop, with a short fade at each
track's ends so the seams do not click. ``MusicOnHold(tracks, channels)`` keeps one
position per channel: a caller put on hold starts at the top of the loop, and one put
on hold again (after talking to an agent) goes on where they left off.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from appliance.media import FRAME_SAMPLES, SAMPLE_RATE, MediaError
from appliance.media.dsp import apply_gain, dbm0_to_peak
from appliance.media.g711 import alaw_to_linear, ulaw_to_linear

WAVE_FORMAT_PCM: Final = 0x0001
WAVE_FORMAT_ALAW: Final = 0x0006
WAVE_FORMAT_MULAW: Final = 0x0007
WAVE_FORMAT_EXTENSIBLE: Final = 0xFFFE
_FORMAT_NAMES: Final = {0x0001: "PCM", 0x0002: "MS ADPCM", 0x0003: "IEEE float", 0x0006: "A-law",
                        0x0007: "µ-law", 0x0011: "IMA ADPCM", 0x0031: "GSM 6.10", 0x0055: "MP3"}
_CONVERT: Final = "convert it with: sox IN -r 8000 -c 1 -e a-law OUT.wav"


class MusicFileError(MediaError):
    """A music file we cannot play: names the file and says why (and how to fix it)."""


@dataclass(frozen=True)
class WavFormat:
    """What a WAV file's fmt chunk says."""

    format_tag: int
    channels: int
    sample_rate: int
    bits_per_sample: int
    block_align: int

    @property
    def name(self) -> str:
        return _FORMAT_NAMES.get(self.format_tag, f"format 0x{self.format_tag:04X}")


def _chunks(path: Path, data: bytes) -> dict[bytes, memoryview]:
    """The top-level chunks of a RIFF/WAVE file (first of each id)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise MusicFileError(f"{path}: not a WAV file (no RIFF/WAVE header)")
    view, chunks, position = memoryview(data), {}, 12
    while position + 8 <= len(data):
        chunk_id = bytes(view[position:position + 4])
        size = int.from_bytes(view[position + 4:position + 8], "little")
        body = view[position + 8:position + 8 + size]
        if len(body) < size:
            raise MusicFileError(f"{path}: WAV cut short: chunk {chunk_id!r} declares {size} bytes, "
                                 f"{len(body)} present (file truncated?)")
        chunks.setdefault(chunk_id, body)
        position += 8 + size + (size & 1)  # chunks are padded to even length
    return chunks


def _parse_format(path: Path, body: memoryview) -> WavFormat:
    if len(body) < 16:
        raise MusicFileError(f"{path}: WAV fmt chunk of {len(body)} bytes (need 16)")
    tag = int.from_bytes(body[0:2], "little")
    if tag == WAVE_FORMAT_EXTENSIBLE:
        if len(body) < 26:
            raise MusicFileError(f"{path}: WAVE_FORMAT_EXTENSIBLE fmt chunk too short")
        tag = int.from_bytes(body[24:26], "little")  # the sub-format GUID starts with the tag
    return WavFormat(format_tag=tag, channels=int.from_bytes(body[2:4], "little"),
                     sample_rate=int.from_bytes(body[4:8], "little"),
                     bits_per_sample=int.from_bytes(body[14:16], "little"),
                     block_align=int.from_bytes(body[12:14], "little"))


def read_wav(path: Path | str) -> np.ndarray:
    """The samples of an 8 kHz mono WAV (PCM 16/8-bit, A-law, µ-law) as 1-D int16.

    Raises MusicFileError naming PATH and the problem for anything else.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MusicFileError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    chunks = _chunks(path, data)
    if b"fmt " not in chunks:
        raise MusicFileError(f"{path}: WAV has no fmt chunk")
    if b"data" not in chunks:
        raise MusicFileError(f"{path}: WAV has no data chunk")
    fmt, body = _parse_format(path, chunks[b"fmt "]), chunks[b"data"]
    problems = []
    if fmt.sample_rate != SAMPLE_RATE:
        problems.append(f"{fmt.sample_rate} Hz (need {SAMPLE_RATE} Hz)")
    if fmt.channels != 1:
        problems.append(f"{fmt.channels} channels (need mono)")
    coding = (fmt.format_tag, fmt.bits_per_sample)
    if coding not in {(WAVE_FORMAT_PCM, 16), (WAVE_FORMAT_PCM, 8), (WAVE_FORMAT_ALAW, 8),
                      (WAVE_FORMAT_MULAW, 8)}:
        problems.append(f"{fmt.name} {fmt.bits_per_sample}-bit (need 16/8-bit PCM, A-law or µ-law)")
    if problems:
        raise MusicFileError(f"{path}: {', '.join(problems)}; {_CONVERT}")
    width = fmt.bits_per_sample // 8
    if len(body) % width:
        raise MusicFileError(f"{path}: data chunk of {len(body)} bytes is not whole samples")
    if len(body) == 0:
        raise MusicFileError(f"{path}: WAV holds no audio")
    if fmt.format_tag == WAVE_FORMAT_ALAW:
        return alaw_to_linear(body)
    if fmt.format_tag == WAVE_FORMAT_MULAW:
        return ulaw_to_linear(body)
    if width == 1:  # 8-bit PCM is unsigned, centred on 128
        return ((np.frombuffer(body, dtype=np.uint8).astype(np.int16) - 128) << 8).astype(np.int16)
    return np.frombuffer(body, dtype="<i2").astype(np.int16)


@dataclass(frozen=True)
class MusicTrack:
    """One piece of music, decoded: 8 kHz int16 SAMPLES (read-only) from PATH."""

    path: Path
    samples: np.ndarray

    @property
    def seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def load_track(path: Path | str) -> MusicTrack:
    """A MusicTrack from a WAV file (see read_wav)."""
    samples = read_wav(path)
    samples.flags.writeable = False
    return MusicTrack(Path(path), samples)


def load_playlist(source: Path | str | Iterable[Path | str]) -> list[MusicTrack]:
    """The tracks of SOURCE: a directory (its *.wav files, by name) or a list of files."""
    if isinstance(source, Path | str) and Path(source).is_dir():
        directory = Path(source)
        paths: list[Path] = sorted(p for p in directory.iterdir() if p.suffix.lower() == ".wav")
        if not paths:
            raise MusicFileError(f"{directory}: no .wav files for music on hold")
    elif isinstance(source, Path | str):
        paths = [Path(source)]
    else:
        paths = [Path(p) for p in source]
        if not paths:
            raise MusicFileError("music on hold: empty playlist")
    return [load_track(p) for p in paths]


class MusicOnHold:
    """A looped playlist for CHANNELS channels, a tick at a time: ``next_frames()`` → int16.

    GAIN_DB is applied once at load (music is often mastered hot; −6 dB keeps it below
    the prompts). FADE_MS at each end of every track smooths the seams of the loop.
    """

    def __init__(self, tracks: Sequence[MusicTrack], channels: int, *, gain_db: float = 0.0,
                 fade_ms: int = 10, frame_samples: int = FRAME_SAMPLES) -> None:
        if not tracks:
            raise MediaError("music on hold: no tracks")
        if channels < 1:
            raise MediaError(f"music on hold: need at least one channel, got {channels}")
        if fade_ms < 0:
            raise MediaError(f"music on hold: fade of {fade_ms} ms")
        self.tracks = tuple(tracks)
        self.frame_samples = frame_samples
        pieces = [self._faded(track.samples, fade_ms) for track in self.tracks]
        loop = apply_gain(np.concatenate(pieces), gain_db) if gain_db else np.concatenate(pieces)
        loop.flags.writeable = False
        self.loop = loop
        self._position = np.zeros(channels, dtype=np.int64)
        self._playing = np.zeros(channels, dtype=bool)
        self._ramp = np.arange(frame_samples, dtype=np.int64)

    @staticmethod
    def _faded(samples: np.ndarray, fade_ms: int) -> np.ndarray:
        length = min(fade_ms * SAMPLE_RATE // 1000, len(samples) // 2)
        if length == 0:
            return samples.copy()
        ramp = np.linspace(0.0, 1.0, length + 1, dtype=np.float32)[1:]
        faded = samples.astype(np.float32)
        faded[:length] *= ramp
        faded[-length:] *= ramp[::-1]
        return np.rint(faded).astype(np.int16)

    @property
    def channels(self) -> int:
        return len(self._playing)

    @property
    def loop_samples(self) -> int:
        return len(self.loop)

    def _check_channel(self, channel: int) -> None:
        if not 0 <= channel < self.channels:
            raise MediaError(f"music on hold: no channel {channel} (0 … {self.channels - 1})")

    def play(self, channel: int, *, restart: bool = False) -> None:
        """Music on CHANNEL: where it stopped last time, or from the top if RESTART."""
        self._check_channel(channel)
        if restart:
            self._position[channel] = 0
        self._playing[channel] = True

    def stop(self, channel: int) -> None:
        """No music on CHANNEL; its place in the loop is kept for the next play()."""
        self._check_channel(channel)
        self._playing[channel] = False

    def reset(self, channel: int) -> None:
        """Stop CHANNEL and forget its place (the call ended)."""
        self.stop(channel)
        self._position[channel] = 0

    def playing(self, channel: int) -> bool:
        self._check_channel(channel)
        return bool(self._playing[channel])

    def position(self, channel: int) -> int:
        """Samples into the loop where CHANNEL's next frame starts."""
        self._check_channel(channel)
        return int(self._position[channel])

    def next_frames(self) -> np.ndarray:
        """One tick for every channel, int16 ``(channels, frame_samples)``; zeros where off."""
        out = np.zeros((self.channels, self.frame_samples), dtype=np.int16)
        on = np.flatnonzero(self._playing)
        if on.size:
            indices = (self._position[on, np.newaxis] + self._ramp) % self.loop_samples
            out[on] = self.loop[indices]
            self._position[on] = (self._position[on] + self.frame_samples) % self.loop_samples
        return out


# A gentle built-in melody for boxes without music files: the C major pentatonic scale
# (no semitones, nothing that sounds like a signalling tone), soft bell-like notes.
_MELODY: Final = (392.0, 440.0, 523.3, 440.0, 392.0, 329.6, 293.7, 329.6,
                  392.0, 523.3, 587.3, 523.3, 440.0, 392.0, 329.6, 392.0)
_NOTE_S: Final = 0.6


def builtin_music(level_dbm0: float = -21.0) -> np.ndarray:
    """About 10 s of calm synthetic music (int16, 8 kHz), the default music on hold.

    Every note stays between 290 and 600 Hz with one soft octave overtone, far from the
    DTMF and call-progress frequencies' combinations, and fades out before the next, so a
    caller's DTMF receiver and the agent's ear both take it for music, not a tone.
    """
    n = int(_NOTE_S * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    envelope = np.minimum(t / 0.03, 1.0) * np.exp(-t * 3.5)
    notes = [(np.sin(2 * np.pi * f * t) + 0.25 * np.sin(4 * np.pi * f * t)) * envelope for f in _MELODY]
    loop = np.concatenate(notes)
    loop *= dbm0_to_peak(level_dbm0) / np.max(np.abs(loop))
    return np.rint(loop).astype(np.int16)
