"""multimon-ng (Debian), an independent decoder, run on our 8 kHz audio.

multimon-ng reads 16-bit signed native-endian mono at 22050 Hz, so sox resamples first.
"""

from __future__ import annotations

import subprocess

import numpy as np

MULTIMON_RATE = 22050
OUR_RATE = 8000


def multimon_lines(audio: np.ndarray, demodulator: str) -> list[str]:
    """What multimon-ng's DEMODULATOR (e.g. "DTMF", "CLIPFSK") prints for AUDIO (8 kHz int16)."""
    resampled = subprocess.run(
        ["sox", "-t", "raw", "-r", str(OUR_RATE), "-e", "signed", "-b", "16", "-c", "1", "-",
         "-t", "raw", "-r", str(MULTIMON_RATE), "-e", "signed", "-b", "16", "-c", "1", "-"],
        input=np.asarray(audio).astype(np.int16).tobytes(), capture_output=True, check=True,
        timeout=60).stdout
    decoded = subprocess.run(["multimon-ng", "-q", "-c", "-a", demodulator, "-t", "raw", "-"],
                             input=resampled, capture_output=True, check=True, timeout=60).stdout
    return decoded.decode(errors="replace").splitlines()
