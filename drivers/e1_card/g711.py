"""G.711 A-law, the coding on every B-channel of a Chinese E1 (ITU-T G.711 §3, Table 1a/2a).

Lookup tables built once from the segment rule, so the simulators can play tones and
record timeslots without `audioop` (gone in Python 3.13). The box's media engine
(array-at-a-time, many channels) is a later issue; this is per-frame and simple.
"""

from __future__ import annotations

import math
from array import array
from typing import Final

ALAW_IDLE: Final = 0xD5  # the A-law code for (positive) zero after even-bit inversion
FRAME_SAMPLES: Final = 160  # 20 ms at 8 kHz
SAMPLE_RATE: Final = 8000


def _decode_one(code: int) -> int:
    code ^= 0x55  # even bits are inverted on the line
    sign, segment, mantissa = code & 0x80, (code >> 4) & 0x07, code & 0x0F
    if segment == 0:
        magnitude = (mantissa << 4) + 8
    else:
        magnitude = ((mantissa << 4) + 0x108) << (segment - 1)
    # G.711 sign bit 1 = positive.
    return magnitude if sign else -magnitude


def _encode_one(sample: int) -> int:
    sign = 0x80 if sample >= 0 else 0x00
    magnitude = min(sample if sample >= 0 else -sample - 1, 32767) >> 3  # 13-bit range
    if magnitude < 32:
        segment, mantissa = 0, magnitude >> 1
    else:
        segment = magnitude.bit_length() - 5
        mantissa = (magnitude >> segment) & 0x0F
    return (sign | (segment << 4) | mantissa) ^ 0x55


DECODE: Final = array("h", (_decode_one(c) for c in range(256)))
# ENCODE[s + 32768] is the A-law code of 16-bit sample s.
ENCODE: Final = bytes(_encode_one(s - 32768) for s in range(65536))


def alaw_to_linear(data: bytes) -> array:
    """16-bit signed samples of A-law DATA."""
    return array("h", (DECODE[b] for b in data))


def linear_to_alaw(samples: array | list[int]) -> bytes:
    """A-law bytes of 16-bit signed SAMPLES (clipped to the 16-bit range)."""
    return bytes(ENCODE[max(-32768, min(32767, int(s))) + 32768] for s in samples)


def tone(frequencies: tuple[float, ...], seconds: float, *, dbm0: float = -10.0,
         start: int = 0) -> bytes:
    """A-law of the sum of FREQUENCIES (each at DBM0), SECONDS long, from sample START on."""
    # 0 dBm0 is a sine of peak 3.17 dB below the A-law overload of 4096 (×8 in 16 bit).
    amplitude = 32768 * 10 ** ((dbm0 - 3.14) / 20)
    count = round(seconds * SAMPLE_RATE)
    samples = [sum(amplitude * math.sin(2 * math.pi * f * (start + n) / SAMPLE_RATE)
                   for f in frequencies) for n in range(count)]
    return linear_to_alaw(samples)


def level_dbm0(data: bytes) -> float:
    """RMS level of A-law DATA in dBm0 (-inf for digital silence)."""
    samples = alaw_to_linear(data)
    if not samples:
        return float("-inf")
    rms = math.sqrt(sum(s * s for s in samples) / len(samples))
    if rms == 0:
        return float("-inf")
    # A sine at 0 dBm0 has RMS = peak/sqrt(2).
    zero = 32768 * 10 ** (-3.14 / 20) / math.sqrt(2)
    return 20 * math.log10(rms / zero)


def dominant_frequency(data: bytes, candidates: tuple[float, ...]) -> float:
    """Which of CANDIDATES carries the most energy in DATA (Goertzel per candidate)."""
    samples = alaw_to_linear(data)

    def power(freq: float) -> float:
        coeff = 2 * math.cos(2 * math.pi * freq / SAMPLE_RATE)
        s1 = s2 = 0.0
        for x in samples:
            s1, s2 = x + coeff * s1 - s2, s1
        return s1 * s1 + s2 * s2 - coeff * s1 * s2

    return max(candidates, key=power)
