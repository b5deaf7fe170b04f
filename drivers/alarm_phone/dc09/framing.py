"""SIA DC-09 framing: CRC-16/ARC, the LF ... CR frame, its header and timestamps.

A frame on the wire (UDP datagram or TCP stream)::

    LF crc 0LLL "id" seq [Rrcvr] Lpref #acct [data] [x...] _HH:MM:SS,MM-DD-YYYY CR

crc is CRC-16/ARC (poly 0xA001 reflected, init 0) over the bytes from the first '"' up
to, not including, CR. DC-09 sends it as 4 ASCII hex digits; many panels (captures of
OPAX and others) send the same 16-bit value as 2 raw bytes, most significant first. The
two forms are told apart by where the '"' falls: index 7 after a binary CRC, index 9
after a hex one (the hex form has a hex digit at index 7, so they never collide).
0LLL is the length of that same span in hex. The length lets a stream parser find CR
even when a binary CRC byte is itself LF or CR.

Pure code: no I/O, no clock (timestamps convert explicitly given epoch seconds).
"""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

__all__ = [
    "CrcForm",
    "Dc09Error",
    "Frame",
    "FrameSplitter",
    "Junk",
    "LocalProtocolError",
    "RemoteProtocolError",
    "build_frame",
    "crc16",
    "format_timestamp",
    "parse_timestamp",
]

LF: Final = 0x0A
CR: Final = 0x0D
QUOTE: Final = 0x22
MAX_BODY: Final = 0xFFF
"""The largest body the 0LLL length field can state."""

CrcForm = Literal["hex", "binary"]


class Dc09Error(ValueError):
    """Base of the DC-09 errors."""


class LocalProtocolError(Dc09Error):
    """We misused the API (bad key, bad field value for a message we build)."""


class RemoteProtocolError(Dc09Error):
    """The peer sent something that breaks DC-09 (bad CRC, unparseable reply)."""


def _make_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


_TABLE: Final = _make_table()


def crc16(data: bytes) -> int:
    """CRC-16/ARC (the DC-07/DC-09 CRC): check value crc16(b"123456789") == 0xBB3D."""
    crc = 0
    for b in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ b) & 0xFF]
    return crc


def build_frame(body: bytes, crc_form: CrcForm = "hex") -> bytes:
    """LF + CRC + 0LLL + body + CR, body being the span from '"' to the end of the timestamp."""
    if len(body) > MAX_BODY:
        raise LocalProtocolError(f"DC-09 body of {len(body)} bytes exceeds {MAX_BODY}")
    crc = crc16(body)
    crc_field = crc.to_bytes(2, "big") if crc_form == "binary" else b"%04X" % crc
    return b"\n" + crc_field + b"%04X" % len(body) + body + b"\r"


@dataclass(frozen=True)
class Frame:
    """One complete LF...CR frame; body is the CRC-covered span."""

    raw: bytes
    body: bytes
    crc_form: CrcForm
    crc_sent: int
    crc_ok: bool


@dataclass(frozen=True)
class Junk:
    """Bytes that are not a frame, or a frame whose length field is wrong."""

    raw: bytes
    reason: str


_HEX: Final = frozenset(b"0123456789ABCDEFabcdef")


def _all_hex(b: bytes | bytearray) -> bool:
    return all(c in _HEX for c in b)


class FrameSplitter:
    """Cuts a byte stream into Frame and Junk items (TCP); a datagram is one final feed."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data

    def pending(self) -> int:
        return len(self._buf)

    def next_item(self, final: bool = False) -> Frame | Junk | None:
        """The next item, or None when more bytes are needed (final: flush what is left)."""
        while self._buf:
            item = self._next(final)
            if item is None:
                return None
            if isinstance(item, Junk) and not item.raw.strip():
                continue  # stray CR/LF/blanks between frames
            return item
        return None

    def _take(self, n: int) -> bytes:
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def _to_next_lf(self) -> bytes:
        i = self._buf.find(b"\n", 1)
        return self._take(i if i > 0 else len(self._buf))

    def _next(self, final: bool) -> Frame | Junk | None:
        buf = self._buf
        if buf[0] != LF:
            i = buf.find(b"\n")
            return Junk(self._take(i if i >= 0 else len(buf)), "bytes outside a frame")
        n = len(buf)
        # binary CRC: LF c c 0 L L L " ; hex CRC: LF C C C C 0 L L L "
        bin_possible = _all_hex(buf[3 : min(n, 7)]) and (n < 8 or buf[7] == QUOTE)
        hex_possible = _all_hex(buf[1 : min(n, 9)]) and (n < 10 or buf[9] == QUOTE)
        if bin_possible and n >= 8:
            form: CrcForm = "binary"
            hdr = 7
            crc_sent = int.from_bytes(buf[1:3], "big")
        elif hex_possible and n >= 10:
            form = "hex"
            hdr = 9
            crc_sent = int(buf[1:5].decode("ascii"), 16)
        elif (bin_possible or hex_possible) and not final:
            return None
        else:
            return Junk(self._to_next_lf(), "malformed frame header")
        length = int(buf[hdr - 4 : hdr].decode("ascii"), 16)
        if length > MAX_BODY:
            return Junk(self._to_next_lf(), f"length field {length:#x} exceeds {MAX_BODY:#x}")
        total = hdr + length + 1
        if n < total:
            if final:
                return Junk(self._take(n), f"truncated frame: length field says {length} bytes")
            return None
        if buf[total - 1] != CR:
            return Junk(self._to_next_lf(), f"no CR where the length field ({length}) puts it")
        raw = self._take(total)
        body = raw[hdr:-1]
        return Frame(raw=raw, body=body, crc_form=form, crc_sent=crc_sent, crc_ok=crc16(body) == crc_sent)


_TS_RE: Final = re.compile(r"_(\d\d):(\d\d):(\d\d),(\d\d)-(\d\d)-(\d{4})")


def format_timestamp(when: float) -> str:
    """The DC-09 timestamp (UTC) for epoch seconds: '_HH:MM:SS,MM-DD-YYYY'."""
    return time.strftime("_%H:%M:%S,%m-%d-%Y", time.gmtime(int(when)))


def parse_timestamp(text: str) -> float | None:
    """Epoch seconds of a '_HH:MM:SS,MM-DD-YYYY' timestamp (UTC); None if malformed."""
    m = _TS_RE.fullmatch(text)
    if not m:
        return None
    hh, mi, ss, mo, dd, yy = (int(g) for g in m.groups())
    try:
        dt = datetime(yy, mo, dd, hh, mi, ss, tzinfo=UTC)
    except ValueError:
        return None
    return float(calendar.timegm(dt.timetuple()))
