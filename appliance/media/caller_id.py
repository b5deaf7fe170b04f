"""On-hook caller ID for analog phones (来电显示): an MDMF message sent as 1200 baud FSK.

A DAHDI FXS port has no caller ID of its own: the box must modulate it into the audio
it writes to the phone between the first and the second ring. What this module makes:

- the message: Multiple Data Message Format (MDMF), message type 0x80 "call set-up",
  parameters date and time (0x01, ``MMDDHHMM``), calling number (0x02) or the reason it
  is absent (0x04, ``O`` unavailable / ``P`` private), calling name (0x07) or the reason
  it is absent (0x08); one length byte each and a checksum byte that makes the sum of
  all bytes 0 modulo 256 (Telcordia GR-30-CORE; ETSI EN 300 659-3 uses the same codes);
- the bits: a channel seizure of 300 alternating bits, 180 mark bits, then every byte
  as an asynchronous character (start bit 0, 8 data bits LSB first, stop bit 1) and a
  few mark bits to close;
- the audio: phase-continuous FSK at 1200 baud, mark (1) 1200 Hz, space (0) 2200 Hz —
  Bell 202, the pair Chinese caller-ID receivers decode — at 8 kHz, ~-13.5 dBm0.

Sans-I/O: the date and time are passed in. Phones show 7-bit ASCII only, so a name that
is not printable ASCII (e.g. 汉字) is sent as "unavailable" and the phone shows the number.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import numpy as np

from appliance.media import SAMPLE_RATE, MediaError
from appliance.media.dsp import dbm0_to_peak, saturate
from appliance.media.g711 import linear_to_alaw

BAUD: Final = 1200
MARK_HZ: Final = 1200.0  # a 1 bit
SPACE_HZ: Final = 2200.0  # a 0 bit
LEVEL_DBM0: Final = -13.5
SEIZURE_BITS: Final = 300  # 0101… (GR-30: 300 continuous bits of alternating 0 and 1)
MARK_BITS: Final = 180
TRAILING_MARK_BITS: Final = 10  # so a receiver sees the line idle after the checksum

MESSAGE_CALL_SETUP: Final = 0x80
PARAM_DATE_TIME: Final = 0x01
PARAM_NUMBER: Final = 0x02
PARAM_NUMBER_ABSENT: Final = 0x04
PARAM_NAME: Final = 0x07
PARAM_NAME_ABSENT: Final = 0x08
ABSENT_UNAVAILABLE: Final = "O"
ABSENT_PRIVATE: Final = "P"
MAX_NUMBER: Final = 20
MAX_NAME: Final = 15
NUMBER_CHARACTERS: Final = frozenset("0123456789*#")


class CallerIdError(MediaError):
    """A caller ID we were asked to send cannot be sent as given; says which part and why."""


def mdmf_message(number: str, name: str = "", *, when: datetime, private: bool = False) -> bytes:
    """The MDMF call set-up message for NUMBER and NAME at WHEN, checksum included.

    An empty NUMBER is sent as absent ("unavailable", or "private" with PRIVATE, which also
    withholds the name); a NAME that is empty or not printable ASCII as "unavailable".
    """
    if not isinstance(number, str) or not isinstance(name, str):
        raise CallerIdError(f"caller ID number and name are strings, not {number!r}, {name!r}")
    if len(number) > MAX_NUMBER:
        raise CallerIdError(f"caller ID number {number!r} is longer than {MAX_NUMBER} digits")
    if bad := sorted(set(number) - NUMBER_CHARACTERS):
        raise CallerIdError(f"caller ID number {number!r} has characters a phone cannot show: {bad}")
    params = [(PARAM_DATE_TIME, when.strftime("%m%d%H%M").encode("ascii"))]
    if private:
        withheld = ABSENT_PRIVATE.encode()
        params += [(PARAM_NUMBER_ABSENT, withheld), (PARAM_NAME_ABSENT, withheld)]
    else:
        params.append((PARAM_NUMBER, number.encode("ascii")) if number
                      else (PARAM_NUMBER_ABSENT, ABSENT_UNAVAILABLE.encode()))
        shown = name[:MAX_NAME]
        params.append((PARAM_NAME, shown.encode("ascii")) if shown and _printable_ascii(shown)
                      else (PARAM_NAME_ABSENT, ABSENT_UNAVAILABLE.encode()))
    body = b"".join(bytes([kind, len(value)]) + value for kind, value in params)
    message = bytes([MESSAGE_CALL_SETUP, len(body)]) + body
    return message + bytes([-sum(message) % 256])


def _printable_ascii(text: str) -> bool:
    return all(" " <= ch <= "~" for ch in text)


def message_bits(message: bytes) -> np.ndarray:
    """The bit stream (uint8 0/1) that carries MESSAGE: seizure, marks, characters, marks."""
    data = np.frombuffer(bytes(message), dtype=np.uint8)
    # One row per character: start bit 0, 8 data bits least significant first, stop bit 1.
    characters = np.zeros((len(data), 10), dtype=np.uint8)
    characters[:, 1:9] = (data[:, None] >> np.arange(8, dtype=np.uint8)) & 1
    characters[:, 9] = 1
    return np.concatenate([np.arange(SEIZURE_BITS, dtype=np.uint8) & 1,
                           np.ones(MARK_BITS, dtype=np.uint8),
                           characters.reshape(-1),
                           np.ones(TRAILING_MARK_BITS, dtype=np.uint8)])


def fsk_samples(bits: np.ndarray, *, level_dbm0: float = LEVEL_DBM0) -> np.ndarray:
    """Phase-continuous 1200 baud FSK of BITS as 8 kHz int16 samples.

    A bit lasts 6⅔ samples: sample n carries bit ⌊n·1200/8000⌋, so bit edges never drift.
    """
    bits = np.asarray(bits)
    if bits.ndim != 1 or (bits.size and not np.isin(bits, (0, 1)).all()):
        raise CallerIdError("FSK bits are a 1-D array of 0 and 1")
    count = -(-len(bits) * SAMPLE_RATE // BAUD)  # ceil: the last bit is sent whole
    which = np.arange(count) * BAUD // SAMPLE_RATE
    frequency = np.where(bits[which] == 1, MARK_HZ, SPACE_HZ)
    phase = np.cumsum(2 * np.pi * frequency / SAMPLE_RATE) - 2 * np.pi * frequency[0] / SAMPLE_RATE
    return saturate(dbm0_to_peak(level_dbm0) * np.sin(phase))


def caller_id_audio(number: str, name: str = "", *, when: datetime, private: bool = False,
                    level_dbm0: float = LEVEL_DBM0) -> np.ndarray:
    """8 kHz int16 audio of the whole caller ID burst for NUMBER and NAME at WHEN."""
    return fsk_samples(message_bits(mdmf_message(number, name, when=when, private=private)),
                       level_dbm0=level_dbm0)


def caller_id_alaw(number: str, name: str = "", *, when: datetime, private: bool = False,
                   level_dbm0: float = LEVEL_DBM0) -> bytes:
    """The same burst as A-law bytes, as an FXS channel is written."""
    audio = caller_id_audio(number, name, when=when, private=private, level_dbm0=level_dbm0)
    return linear_to_alaw(audio).tobytes()
