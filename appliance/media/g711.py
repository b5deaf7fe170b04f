"""G.711 A-law and µ-law ↔ 16-bit linear, any array shape, by table lookup (ITU-T G.711).

A whole tick of every channel, ``(channels, 160)``, is one ``np.take`` per direction:
decoding indexes a 256-entry table by the code, encoding indexes a 65,536-entry table by
the sample's 16-bit pattern. The tables are built once at import from the segment rule
of G.711 §3 (Tables 1a/2a for A-law, 1b/2b for µ-law), computed on arrays as well.

Bit for bit the same as the scalar ``drivers/e1_card/g711.py`` (A-law) and as CPython's
``audioop`` (both laws), which the tests check over every code and every 16-bit value.

Conventions, as on the line and in ``audioop``:
- linear samples are 16-bit; G.711 uses the top 13 (A-law) or 14 (µ-law) bits, so the
  decoded values are those of the 13/14-bit code scaled up (A-law peak ±32,256,
  µ-law ±32,124);
- A-law codes are sent with the even bits inverted (XOR 0x55), µ-law with all bits
  inverted, so idle (zero) is 0xD5 in A-law and 0xFF in µ-law.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from appliance.media import MediaError
from drivers.e1_card import g711 as line_g711

ALAW_IDLE: Final = 0xD5
ULAW_IDLE: Final = 0xFF

# Segment end points of the biased 14-bit µ-law magnitude; a magnitude belongs to the
# first segment whose end it does not reach.
_ULAW_SEGMENT_ENDS: Final = np.array([64, 128, 256, 512, 1024, 2048, 4096], dtype=np.int32)
_ULAW_BIAS: Final = 33  # in 14-bit units: makes each segment start at a power of two
_ULAW_TOP: Final = 0x1FFF  # largest biased magnitude: beyond it, the top code (overload)


def _readonly(table: np.ndarray) -> np.ndarray:
    table.flags.writeable = False
    return table


def _alaw_tables() -> tuple[np.ndarray, np.ndarray]:
    """The A-law tables of drivers/e1_card/g711.py (one definition of the line's coding),
    as arrays; encode re-indexed by the sample's 16-bit pattern so int16 arrays encode
    through a free .view()."""
    decode = np.array(line_g711.DECODE, dtype=np.int16)
    by_offset = np.frombuffer(line_g711.ENCODE, dtype=np.uint8)  # index = sample + 32768
    return _readonly(decode), _readonly(np.roll(by_offset, 32768))


def _build_ulaw_decode() -> np.ndarray:
    code = ~np.arange(256, dtype=np.int32) & 0xFF
    negative = (code & 0x80) != 0  # µ-law: sign bit 1 (after inversion) is negative
    segment, step = (code >> 4) & 0x07, code & 0x0F
    # ((2·step + 33)·2^s − 33) in 14-bit units, times 4 for the 16-bit scale.
    magnitude = (((2 * step + _ULAW_BIAS) << segment) - _ULAW_BIAS) * 4
    return _readonly(np.where(negative, -magnitude, magnitude).astype(np.int16))


def _build_ulaw_encode() -> np.ndarray:
    sample = np.arange(65536, dtype=np.int32)
    sample = np.where(sample >= 32768, sample - 65536, sample) >> 2  # 14-bit, floor
    negative = sample < 0
    magnitude = np.minimum(np.abs(sample) + _ULAW_BIAS, _ULAW_TOP)
    segment = np.searchsorted(_ULAW_SEGMENT_ENDS, magnitude, side="right")
    step = (magnitude >> (segment + 1)) & 0x0F
    code = np.where(negative, 0x80, 0x00) | (segment << 4) | step
    return _readonly((~code & 0xFF).astype(np.uint8))


ALAW_DECODE, ALAW_ENCODE = _alaw_tables()  # int16[256] by code; uint8[65536] by uint16 pattern
ULAW_DECODE: Final = _build_ulaw_decode()
ULAW_ENCODE: Final = _build_ulaw_encode()
# G.711 also defines direct transcoding; composing the tables gives the same result as
# decoding and re-encoding, which is what the tests hold it to.
ALAW_TO_ULAW: Final = _readonly(ULAW_ENCODE[ALAW_DECODE.view(np.uint16)])
ULAW_TO_ALAW: Final = _readonly(ALAW_ENCODE[ULAW_DECODE.view(np.uint16)])

Codes = npt.ArrayLike | bytes | bytearray | memoryview


def _as_codes(codes: Codes) -> np.ndarray:
    """uint8 codes of CODES (bytes-like or an integer array of values 0…255)."""
    if isinstance(codes, bytes | bytearray | memoryview):
        return np.frombuffer(codes, dtype=np.uint8)
    array = np.asarray(codes)
    if array.dtype == np.uint8:
        return array
    if not np.issubdtype(array.dtype, np.integer):
        raise MediaError(f"G.711 codes must be bytes or an integer array, not {array.dtype}")
    if array.size and (array.min() < 0 or array.max() > 255):
        raise MediaError(f"G.711 codes must be 0…255, got {array.min()}…{array.max()}")
    return array.astype(np.uint8)


def _as_sample_patterns(samples: npt.ArrayLike) -> np.ndarray:
    """The 16-bit patterns (uint16) of SAMPLES, clipped to the int16 range first.

    int16 arrays are viewed, not copied (the per-tick path). Other integers are clipped;
    floats are rounded to the nearest integer, then clipped (a mixer's float sum).
    """
    array = np.asarray(samples)
    if array.dtype == np.int16:
        return array.view(np.uint16)
    if np.issubdtype(array.dtype, np.integer):
        return np.clip(array, -32768, 32767).astype(np.int16).view(np.uint16)
    if np.issubdtype(array.dtype, np.floating):
        if array.size and not np.isfinite(array).all():
            raise MediaError("samples to encode contain NaN or infinity")
        return np.clip(np.rint(array), -32768, 32767).astype(np.int16).view(np.uint16)
    raise MediaError(f"samples to encode must be an integer or float array, not {array.dtype}")


def alaw_to_linear(codes: Codes, out: np.ndarray | None = None) -> np.ndarray:
    """int16 samples of A-law CODES, same shape (bytes-like input gives a 1-D array)."""
    return np.take(ALAW_DECODE, _as_codes(codes), out=out)


def linear_to_alaw(samples: npt.ArrayLike, out: np.ndarray | None = None) -> np.ndarray:
    """uint8 A-law codes of 16-bit SAMPLES, same shape (out of range values are clipped)."""
    return np.take(ALAW_ENCODE, _as_sample_patterns(samples), out=out)


def ulaw_to_linear(codes: Codes, out: np.ndarray | None = None) -> np.ndarray:
    """int16 samples of µ-law CODES, same shape."""
    return np.take(ULAW_DECODE, _as_codes(codes), out=out)


def linear_to_ulaw(samples: npt.ArrayLike, out: np.ndarray | None = None) -> np.ndarray:
    """uint8 µ-law codes of 16-bit SAMPLES, same shape (out of range values are clipped)."""
    return np.take(ULAW_ENCODE, _as_sample_patterns(samples), out=out)


def alaw_to_ulaw(codes: Codes) -> np.ndarray:
    """µ-law codes for A-law CODES (= decode then encode, one lookup)."""
    return np.take(ALAW_TO_ULAW, _as_codes(codes))


def ulaw_to_alaw(codes: Codes) -> np.ndarray:
    """A-law codes for µ-law CODES (= decode then encode, one lookup)."""
    return np.take(ULAW_TO_ALAW, _as_codes(codes))
