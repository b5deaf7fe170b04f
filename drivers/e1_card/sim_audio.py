"""Audio files for the simulators: play a WAV or raw A-law into a call, record one."""

from __future__ import annotations

import wave
from pathlib import Path

from drivers.e1_card import g711


class AudioFileError(ValueError):
    """A file the simulators cannot play: says which file and why."""


def read_alaw(path: Path) -> bytes:
    """A-law bytes from a WAV (A-law or 16-bit PCM, 8 kHz mono) or a raw .alaw file."""
    if path.suffix.lower() != ".wav":
        return path.read_bytes()
    try:
        with wave.open(str(path), "rb") as wav:
            if wav.getframerate() != 8000 or wav.getnchannels() != 1 or wav.getsampwidth() != 2:
                raise AudioFileError(f"{path}: need 8 kHz mono 16-bit PCM (or A-law) WAV")
            return g711.linear_to_alaw(g711.array("h", wav.readframes(wav.getnframes())))
    except wave.Error:
        return _alaw_wav_data(path)


def _alaw_wav_data(path: Path) -> bytes:
    """The data chunk of a WAVE_FORMAT_ALAW (6) file, which the wave module refuses."""
    data = path.read_bytes()
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioFileError(f"{path}: not a WAV file")
    pos = 12
    while pos + 8 <= len(data):
        tag, size = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "little")
        if tag == b"fmt " and int.from_bytes(data[pos + 8:pos + 10], "little") != 6:
            raise AudioFileError(f"{path}: WAV is neither PCM nor A-law")
        if tag == b"data":
            return data[pos + 8:pos + 8 + size]
        pos += 8 + size + (size & 1)
    raise AudioFileError(f"{path}: WAV has no data chunk")


class Recorder:
    """What the box sends on one timeslot, as an 8 kHz mono 16-bit WAV (any player opens it)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._wav = wave.open(str(path), "wb")
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(8000)

    def write(self, alaw: bytes) -> None:
        self._wav.writeframes(g711.alaw_to_linear(alaw).tobytes())

    def close(self) -> None:
        self._wav.close()
